"""The spec fingerprint: which parts of a job spec define what its study means.

A study's trials are only comparable when they were sampled from the same space, trained on the
same data for the same objectives. :func:`spec_identity` lists exactly those parts (dotted
field -> JSON value; a preset is resolved to its document, so an edited preset file counts as a
change) and :func:`spec_fingerprint` hashes them. Parts that only say *how much* or *where* to
search (``budget.trials``, ``budget.concurrency``, ``budget.time_limit_s``,
``budget.max_failures``, ``resources``, ``confirm``, ``warm_start``, and
``scheduler.coverage``, which acts only on a new study's start-up trials) are left out: raising
the trial budget and running again is how a search is continued.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import search_spaces
from automtl.jobspec import JobSpec

#: the spec fields whose value defines a study (dotted paths into the spec)
IDENTITY_FIELDS: tuple[str, ...] = ("dataset", "tasks", "objectives", "constraints",
                                    "search_space", "sampler", "seed", "budget.epochs",
                                    "scheduler", "domains")
#: identity fields left out while unset, so studies made before them keep their fingerprint
_OPTIONAL_IDENTITY = frozenset({"domains"})


def spec_identity(spec: JobSpec) -> dict[str, Any]:
    """``{dotted field: JSON value}`` of the :data:`IDENTITY_FIELDS` the spec has."""
    document = json.loads(spec.model_dump_json())
    out: dict[str, Any] = {}
    for path in IDENTITY_FIELDS:
        node: Any = document
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                node = None
                break
            node = node[part]
        if node is None and path in _OPTIONAL_IDENTITY:
            continue
        if path == "scheduler" and isinstance(node, dict):
            # how far the coverage start-up trials train: they run only in a new study, so a
            # study made before the field keeps its fingerprint
            node = {k: v for k, v in node.items() if k != "coverage"}
        if path == "search_space":
            node = json.loads(json.dumps(search_spaces.load(spec.search_space).document))
        out[path] = node
    return out


def spec_fingerprint(identity: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a :func:`spec_identity`."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def changed_fields(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The dotted leaf fields whose value differs (``dataset.rows (was 200, now 300)``);
    lists and long values are named without their values (a whole search space)."""
    out: list[str] = []
    _diff(stored, current, "", out)
    return out


def _diff(before: Any, after: Any, path: str, out: list[str]) -> None:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            _diff(before.get(key), after.get(key), f"{path}.{key}" if path else str(key), out)
        return
    old, new = json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True)
    out.append(f"{path} (was {old}, now {new})" if len(old) + len(new) <= 120 else path)
