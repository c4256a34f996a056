"""Validating a job spec or a search space, and rendering a local search's report, import no
torch: the topologies' and weightings' settings models live in torch-free modules
(:mod:`automtl.models.params`, :mod:`automtl.weighting.params`), so ``automtl report
--search-dir`` no longer pays torch's import (~6.5 s of a cold CLI report under load)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna

from automtl.config import TOPOLOGY_PARAMS
from automtl.jobspec import load_job_spec
from automtl.search.study import check_study, open_storage
from automtl.weighting.params import WEIGHTING_PARAMS

SPEC = {
    "name": "nt", "dataset": {"builtin": "synthetic", "rows": 300},
    "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
    "sequence": ["t1", "t2"],
}

VALIDATE = """
import json, sys
from automtl.jobspec import load_job_spec
from search_spaces import SearchSpaceError
spec = json.loads(sys.argv[1])
names = {}
for space in ({"preset": "default"}, {"preset": "weighting"}, json.loads(sys.argv[2])):
    job = load_job_spec({**spec, "search_space": space})
    names.setdefault("topologies", set()).update(job.space.topologies)
    names.setdefault("weightings", set()).update(job.space.weightings)
try:  # a bad space is still refused with its path
    load_job_spec({**spec, "search_space": {"topology": {"choose": {"mmoe": {"experts": [0]}}}}})
    refused = ""
except Exception as exc:
    refused = str(exc)
print(json.dumps({"torch": "torch" in sys.modules, "refused": refused,
                  **{k: sorted(v) for k, v in names.items()}}))
"""

REPORT = """
import json, sys
from automtl.cli import main
status = main(["report", "--search-dir", sys.argv[1], "--format", sys.argv[2], "--out",
               sys.argv[3]])
print(json.dumps({"status": status, "torch": "torch" in sys.modules}))
"""


def _every_name_space() -> dict[str, object]:
    """A space naming every registered topology but star (it needs ``domains``) and every
    weighting but ``fixed`` (it names tasks)."""
    return {"topology": {"choose": {t: {} for t in TOPOLOGY_PARAMS.names() if t != "star"}},
            "weighting": {"choose": {w: {} for w in WEIGHTING_PARAMS.names() if w != "fixed"}}}


def _last_json(out: str) -> dict[str, object]:
    return json.loads(out.strip().splitlines()[-1])


def test_validating_a_spec_imports_no_torch() -> None:
    space = _every_name_space()
    out = subprocess.run([sys.executable, "-c", VALIDATE, json.dumps(SPEC), json.dumps(space)],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    result = _last_json(out)
    assert result["torch"] is False
    assert set(result["topologies"]) >= set(space["topology"]["choose"])  # type: ignore[index]
    assert set(result["weightings"]) >= set(space["weighting"]["choose"])  # type: ignore[index]
    assert "experts" in str(result["refused"])


def test_a_local_report_imports_no_torch(tmp_path: Path) -> None:
    spec = load_job_spec({**SPEC, "search_space": {"preset": "default"}})
    storage = open_storage(f"sqlite:///{tmp_path / 'automtl.db'}")
    study = optuna.create_study(study_name=spec.name, storage=storage,
                                directions=[o.direction for o in spec.objective_list()])
    check_study(study, spec)
    for fmt in ("json", "html"):
        out_file = tmp_path / f"report.{fmt}"
        out = subprocess.run([sys.executable, "-c", REPORT, str(tmp_path), fmt, str(out_file)],
                             check=True, capture_output=True, text=True, timeout=120).stdout
        assert _last_json(out) == {"status": 0, "torch": False}
        assert out_file.stat().st_size > 0
