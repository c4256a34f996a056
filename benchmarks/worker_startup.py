"""A search worker's fixed costs: its imports at start-up, and the metrics and latency passes
of each trial (issue 14, overhead).

Three tables, each comparing what a search worker does now with what it did before, measured
in the same run:

- ``worker_startup_imports``: seconds to import, in a fresh Python process, what a Ray Tune
  trial worker imports (``ray.tune``, ``automtl.search.trainable`` with torch, the trainer,
  the model registry, the weightings, the expert utilisation), and on top of that
  ``sklearn.metrics`` (what the scikit-learn metrics cost every worker at start-up); median of
  ``--repeats`` processes, and whether scikit-learn is imported by the worker's set.
- ``worker_startup_metrics``: milliseconds of one validation pass's metrics (2 binary tasks of
  ``--valid-rows`` rows; AUC, log loss, accuracy each): ``automtl.training.metrics`` (numpy)
  against the same metrics through scikit-learn's functions as automtl called them before;
  median of ``--repeats`` x 10 calls, and the largest difference between the two.
- ``worker_startup_latency``: the latency measurement of a trial's end for the demo's shape (an
  MMoE on ``--valid-rows`` validation rows, 5 epochs): before, 2 warm-up and 5 timed passes
  after training; now the validation passes of epochs 2-5 count as 4 timed passes and 1 pass
  runs; seconds of each (median over ``--repeats``).

    python -m benchmarks.worker_startup [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import base_parser, machine_line, setup_threads, write_table

#: what a trial worker imports (automtl.search.trainable.train_candidate and run_trial)
WORKER_MODULES = ("ray.tune", "automtl.search.trainable", "automtl.training.trainer",
                  "automtl.models.registry", "automtl.weighting", "automtl.report.utilisation")

_IMPORT_SCRIPT = """
import json, sys, time
started = time.perf_counter()
for name in {modules!r}:
    __import__(name)
worker = time.perf_counter() - started
had_sklearn = "sklearn" in sys.modules
started = time.perf_counter()
import sklearn.metrics
print(json.dumps({{"worker": worker, "sklearn": time.perf_counter() - started,
                  "had_sklearn": had_sklearn}}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--valid-rows", type=int, default=2000,
                        help="validation rows (the demo: 10%% of 20k)")
    parser.set_defaults(threads=1)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.valid_rows = 1, min(args.valid_rows, 500)
    return args


def import_times(repeats: int) -> dict[str, Any]:
    """Median seconds of the worker's imports and of ``sklearn.metrics`` on top, each in fresh
    processes."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c",
                              _IMPORT_SCRIPT.format(modules=WORKER_MODULES)],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"processes": repeats,
            "worker imports s": round(statistics.median(r["worker"] for r in runs), 3),
            "sklearn.metrics on top s": round(statistics.median(r["sklearn"] for r in runs), 3),
            "worker imports scikit-learn": any(r["had_sklearn"] for r in runs)}


def sklearn_binary_metrics(y: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """The binary metrics as automtl computed them before (scikit-learn's functions)."""
    from sklearn import metrics as skm

    prob = 0.5 * (1.0 + np.tanh(0.5 * logits))
    return {"auc": float(skm.roc_auc_score(y, prob)),
            "logloss": float(skm.log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
            "accuracy": float(skm.accuracy_score(y, prob >= 0.5))}


def metric_times(rows: int, repeats: int, seed: int) -> list[dict[str, Any]]:
    """Milliseconds per validation pass (2 tasks) of each implementation."""
    from automtl.training.metrics import binary_metrics

    rng = np.random.default_rng(seed)
    tasks = []
    for rate in (0.3, 0.05):
        y = (rng.random(rows) < rate).astype(np.int64)
        tasks.append((y, (rng.normal(size=rows) + y).astype(np.float32).astype(np.float64)))
    impls = {"numpy (automtl.training.metrics)": binary_metrics,
             "scikit-learn (before)": sklearn_binary_metrics}
    for impl in impls.values():  # imports and first-call caches out of the timing
        impl(*tasks[0])
    timings: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(repeats * 10):
        for name, impl in impls.items():  # interleaved: load hits both alike
            started = time.perf_counter()
            for y, logits in tasks:
                impl(y, logits)
            timings[name].append(time.perf_counter() - started)
    diff = max(abs(binary_metrics(y, s)[k] - sklearn_binary_metrics(y, s)[k])
               for y, s in tasks for k in ("auc", "logloss", "accuracy"))
    return [{"metrics": name, "rows": rows, "tasks": len(tasks),
             "ms per validation pass": round(1000 * statistics.median(values), 3),
             "max abs difference": diff}
            for name, values in timings.items()]


def latency_times(rows: int, repeats: int, seed: int) -> list[dict[str, Any]]:
    """Seconds of a trial's end-of-training latency measurement, before and now."""
    from automtl.config import Candidate, ModelConfig
    from automtl.data import TabularDataset, make_synthetic
    from automtl.models.registry import build_model
    from automtl.training.inference import measure_latency_ms, predict
    from benchmarks.common import TASKS

    frame = make_synthetic(rows=rows * 10, features=100, correlation=0.2, binary=True,
                           seed=seed)
    data = TabularDataset(frame, TASKS, valid_fraction=0.1, test_fraction=0.0, seed=seed)
    candidate = Candidate.model_validate({"architecture": {"topology": "mmoe"}})
    model = build_model(ModelConfig.from_parts(candidate.architecture, data.schema, TASKS))
    device = torch.device("cpu")
    passes = []
    for _ in range(5):  # the validation passes of a 5-epoch trial
        started = time.perf_counter()
        predict(model, data.valid, device)
        passes.append(time.perf_counter() - started)
    before, now, values = [], [], {"before": [], "now": []}
    for _ in range(repeats):
        started = time.perf_counter()
        values["before"].append(measure_latency_ms(model, data.valid, device))
        before.append(time.perf_counter() - started)
        started = time.perf_counter()
        values["now"].append(measure_latency_ms(model, data.valid, device, timed=passes[1:]))
        now.append(time.perf_counter() - started)
    return [{"latency measurement": "before: 2 warm-up + 5 timed passes after training",
             "valid rows": len(data.valid), "passes after training": 7,
             "s per trial": round(statistics.median(before), 4),
             "latency ms per 1k rows": round(statistics.median(values["before"]), 3)},
            {"latency measurement": "now: epochs 2-5's validation passes + 1 timed pass",
             "valid rows": len(data.valid), "passes after training": 1,
             "s per trial": round(statistics.median(now), 4),
             "latency ms per 1k rows": round(statistics.median(values["now"]), 3)}]


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    args = parse_args(argv)
    setup_threads(args.threads)
    machine = machine_line("cpu")
    tables = {
        "worker_startup_imports": [import_times(args.repeats)],
        "worker_startup_metrics": metric_times(args.valid_rows, args.repeats, args.seed),
        "worker_startup_latency": latency_times(args.valid_rows, args.repeats, args.seed),
    }
    titles = {"worker_startup_imports": "A trial worker's imports, and scikit-learn's metrics "
                                        "on top (fresh processes)",
              "worker_startup_metrics": "Metrics of one validation pass: numpy vs scikit-learn",
              "worker_startup_latency": "A trial's latency measurement after training"}
    note = f"1-minute load average {_load()} at the end; torch threads {args.threads}."
    for name, rows in tables.items():
        write_table(rows, args.out, name, titles[name], machine, [note])
    return tables


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


if __name__ == "__main__":
    main()
