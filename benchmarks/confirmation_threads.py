"""Confirmation threads: one confirmation run's seconds with torch at 1 thread (a search
trial's ``cpus_per_trial``, what the runner now uses) against every core of the machine (what
it used before), in the same process and run.

A new user's demo confirmed 12 runs in 25 minutes (20 s to 3.5 min each) after a 2m44s search
of 60 trials: a confirmation run trained the same candidate for the same epochs as a search
trial, but in the driver with ``torch.set_num_threads(os.cpu_count())``, while the search's
trials ran in Ray workers at one thread each. On a busy machine torch's threads wait for each
other at every small matmul. This script builds the job's data once (as the runner does), takes
``--candidates`` candidates sampled from the space (seeded), runs one warm-up confirmation, then
each candidate ``--repeats`` times at 1 thread and at ``--threads`` (default: all cores),
interleaved, and prints the median seconds of each and their ratio.

    python -m benchmarks.confirmation_threads [--rows 5000] [--epochs 3] [--repeats 3]
    python -m benchmarks.confirmation_threads --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5000, help="synthetic rows (default: 5000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (default: 3)")
    parser.add_argument("--candidates", type=int, default=2, help="candidates (default: 2)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting (default: 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="the other thread count (default: all cores)")
    parser.add_argument("--quick", action="store_true",
                        help="500 rows, 1 epoch, 1 candidate, 1 run per setting (for tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs, args.candidates, args.repeats = 500, 1, 1, 1
    return args


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the measurement; ``{"one": s, "many": s, "ratio": r}`` (median seconds per run)."""
    args = parse_args(argv)
    import optuna
    import torch

    from automtl.jobspec import load_job_spec
    from automtl.search.datasets import load_dataset, search_vocabulary
    from automtl.search.trainable import TrialContext, train_for_confirmation

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_job_spec({
        "name": "confirm-threads", "dataset": {"builtin": "synthetic", "rows": args.rows},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}],
        "search_space": {"topology": {"choose": {"single_task": {},
                                                 "mmoe": {"experts": {"int": [2, 4]}}}}},
        "budget": {"trials": 4, "epochs": args.epochs}, "confirm": {"seeds": 2}})
    data = load_dataset(spec.dataset, spec.tasks, spec.seed, None,
                        search_vocabulary(spec.dataset, spec.space.vocabulary_values()),
                        domains=spec.domains)
    context = TrialContext(spec=spec, inputs=data.schema, train=data.train, valid=data.valid,
                           test=data.test, artifact_root="unused")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
    candidates = [spec.space.sample(study.ask()) for _ in range(args.candidates)]
    warnings.simplefilter("ignore")
    before = torch.get_num_threads()
    train_for_confirmation(candidates[0], 0, context)  # warm-up: first ops, allocations
    seconds: dict[int, list[float]] = {1: [], args.threads: []}
    try:
        for repeat in range(args.repeats):
            for candidate in candidates:
                for threads in seconds:
                    torch.set_num_threads(threads)
                    started = time.perf_counter()
                    train_for_confirmation(candidate, 10_000 + repeat, context)
                    seconds[threads].append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(before)
    one, many = (statistics.median(seconds[t]) for t in (1, args.threads))
    print(f"{args.rows} rows, {args.epochs} epochs, {args.candidates} candidates x "
          f"{args.repeats} runs per setting")
    print(f"1 thread: median {one:.2f}s per run; {args.threads} threads: median {many:.2f}s "
          f"per run; ratio {many / one:.2f}x")
    return {"one": one, "many": many, "ratio": many / one}


if __name__ == "__main__":
    main()
