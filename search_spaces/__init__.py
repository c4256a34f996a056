"""The search-space DSL: a YAML/JSON document (or dict) compiled to Optuna define-by-run.

``load(path_or_dict_or_preset)`` validates a document once, reporting every problem with its
path (:class:`SearchSpaceError`); ``SearchSpace.sample(trial)`` returns a candidate dict for
:class:`automtl.config.Candidate`. See ``search_spaces/README.md`` for the language.
"""

from __future__ import annotations

from search_spaces.errors import SearchSpaceError
from search_spaces.loader import load, load_preset, presets, read_yaml
from search_spaces.schema import json_schema
from search_spaces.space import SearchSpace

__all__ = ["SearchSpace", "SearchSpaceError", "json_schema", "load", "load_preset", "presets",
           "read_yaml"]
