"""A job spec is validated once and its search space compiled once per process.

The worker validates the stored spec (compiling its space) and hands the JobSpec to
``run_search``, which must neither validate it again nor compile the space again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import search_spaces
from automtl.jobspec import JobSpec, load_job_spec
from automtl.search import runner


class _Stop(Exception):
    """Raised where run_search opens the study: everything before it has run."""


def test_run_search_reuses_the_validated_spec_and_its_compiled_space(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    compiled: list[Any] = []
    validated: list[Any] = []
    real_load, real_validate = search_spaces.load, JobSpec.model_validate

    def counting_load(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args)
        return real_load(*args, **kwargs)

    def counting_validate(*args: Any, **kwargs: Any) -> JobSpec:
        validated.append(args)
        return real_validate(*args, **kwargs)

    def stop(*args: Any, **kwargs: Any) -> None:
        raise _Stop

    monkeypatch.setattr(search_spaces, "load", counting_load)
    monkeypatch.setattr(JobSpec, "model_validate", counting_validate)
    monkeypatch.setattr(runner, "open_storage", stop)
    spec = load_job_spec({"name": "once", "dataset": {"builtin": "synthetic", "rows": 200,
                                                      "features": 4},
                          "tasks": [{"name": "t1", "label": "y1"},
                                    {"name": "t2", "label": "y2"}]})
    assert (len(validated), len(compiled)) == (1, 1)  # the worker's load_job_spec
    with pytest.raises(_Stop):
        runner.run_search(spec, artifact_dir=tmp_path)
    assert (len(validated), len(compiled)) == (1, 1)  # run_search added none
