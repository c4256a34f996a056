"""Report render: the first and second render of a finished search's HTML report, with the
parameter importances the search stored (issue 21 item 2) against fitting them on the render
(what every report's first GET did before: import scikit-learn, fit Optuna's fANOVA forest per
objective).

A study of ``--trials`` complete trials is made without training: candidates sampled from the
``default`` preset (random sampler), random validation values, then the importances stored as
:func:`automtl.search.run_search` stores them when a search ends. Each measurement runs in a
fresh process that first validates the job's spec (so torch and the search-space registry are
imported, as in the API's long-lived process) and then renders the page twice, as
``GET /jobs/{id}/report`` does for an uncached and then a cached-elsewhere page. The two modes
alternate, ``--rounds`` times each.

    python -m benchmarks.report_render              # 60 trials, 3 rounds
    python -m benchmarks.report_render --quick      # 12 trials, 1 round
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import base_parser, machine_line, write_table

SPEC = {"name": "render", "dataset": {"builtin": "synthetic", "rows": 1000},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
        "search_space": {"preset": "default"}}

CHILD = """
import json, sys, time
from automtl.commands.local_report import open_search_study
from automtl.report import html, importances
from automtl.report.pareto import pareto_front
directory, mode = sys.argv[1], sys.argv[2]
study, spec = open_search_study(directory)
if mode == "fit":
    importances.study_importances = importances.param_importances
times = []
for _ in range(2):
    started = time.perf_counter()
    page = html.report_from_study(study, spec, front=pareto_front(study, spec))
    times.append(time.perf_counter() - started)
print(json.dumps({"first": times[0], "second": times[1], "bytes": len(page),
                  "sklearn": "sklearn" in sys.modules}))
"""


def make_study(directory: Path, trials: int, seed: int) -> None:
    """A finished automtl study of ``trials`` complete trials in ``directory/automtl.db`` (the
    layout of ``automtl search --out``), its importances stored."""
    import optuna

    from automtl.jobspec import load_job_spec
    from automtl.report.importances import store_importances
    from automtl.report.pareto import pareto_front
    from automtl.search.study import check_study, open_storage
    from automtl.trial_record import ATTR_CANDIDATE, ATTR_TEST, ATTR_VALID, set_trial_attr

    spec = load_job_spec(SPEC)
    storage = open_storage(f"sqlite:///{directory / 'automtl.db'}")
    study = optuna.create_study(storage=storage, study_name=spec.study_name,
                                directions=["maximize", "maximize"],
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    check_study(study, spec)
    space = spec.space
    rng = random.Random(seed)
    for _ in range(trials):
        trial = study.ask()
        set_trial_attr(trial, ATTR_CANDIDATE, space.sample(trial))
        values = [rng.uniform(0.6, 0.9), rng.uniform(0.6, 0.9)]
        set_trial_attr(trial, ATTR_VALID, {"t1": {"auc": values[0]}, "t2": {"auc": values[1]}})
        set_trial_attr(trial, ATTR_TEST, {"t1": {"auc": values[0] - 0.01},
                                          "t2": {"auc": values[1] - 0.01}})
        study.tell(trial, values)
    store_importances(study, pareto_front(study, spec)["objectives"])


def render(directory: Path, mode: str) -> dict[str, Any]:
    """One fresh process's two renders (seconds) in ``mode`` (``fit`` or ``stored``)."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(directory), mode],
                          capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    trials, rounds = (12, 1) if args.quick else (args.trials, args.rounds)
    runs: dict[str, list[dict[str, Any]]] = {"fit": [], "stored": []}
    with tempfile.TemporaryDirectory() as tmp:
        make_study(Path(tmp), trials, args.seed)
        for _ in range(rounds):
            for mode in runs:
                runs[mode].append(render(Path(tmp), mode))
    rows = []
    for mode, measured in runs.items():
        rows.append({
            "importances": {"fit": "fitted on the render (before)",
                            "stored": "stored when the search ended"}[mode],
            "trials": trials, "rounds": len(measured),
            "first_render_s": statistics.median(m["first"] for m in measured),
            "second_render_s": statistics.median(m["second"] for m in measured),
            "sklearn_imported": any(m["sklearn"] for m in measured),
            "page_mb": measured[0]["bytes"] / 1e6})
    for row in rows:
        row["first_vs_before"] = row["first_render_s"] / rows[0]["first_render_s"]
    write_table(rows, args.out, "report_render", "Report render: stored vs fitted importances",
                machine_line(), notes=["medians over the rounds; each render in a fresh process "
                                       "after the spec is validated (torch imported)"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
