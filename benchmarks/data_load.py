"""Load + encode time and peak memory of a practitioner's table (issue 19).

A generated Parquet table of ``--rows`` rows (default 1M; ``--rows 1000000 10000000`` for
the issue's two sizes, about 8 minutes on 2 shared cores): 10 float columns, 20 integer-coded
categorical columns (cardinalities log-spaced from 10 to 100,000, Zipf-like frequencies) and 3 tasks
(a binary click, a sparse binary purchase labelled only where click is 1, a skewed regression
watch time). Each size is measured in a fresh process: reading the file (``read_table``), then
``TabularDataset`` (feature inference, stratified split, train statistics, vocabularies,
encoding, checks). Peak memory is the process's peak RSS above its RSS after the imports, and
is compared with the size of the encoded tensors (the target: at most 3x). The read alone is
the baseline the encode time is compared with, measured in the same process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import base_parser, machine_line, write_table

NUMERIC = 10
CARDINALITIES = [int(c) for c in np.logspace(1, 5, 20).round()]
TASK_SPECS = [{"name": "click"}, {"name": "purchase"},
              {"name": "watch", "type": "regression", "transform": "log1p"}]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000],
                        help="table sizes (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the generated Parquet files go (default: --out)")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = [20_000]
    return args


def generate(path: Path, rows: int, seed: int = 0, chunk: int = 1_000_000) -> None:
    """Write the table in chunks (so generating 10M rows needs one chunk of memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            columns: dict[str, Any] = {f"f{i}": rng.normal(size=n) for i in range(NUMERIC)}
            for i, card in enumerate(CARDINALITIES):
                columns[f"c{i}"] = np.minimum(rng.zipf(1.3, n) - 1, card - 1).astype(np.int64)
            logit = columns["f0"] - 1.0 + 0.01 * (columns["c0"] % 3)
            click = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
            purchase = np.where(click == 1, (rng.random(n) < 0.1).astype(np.float64), np.nan)
            columns["click"], columns["purchase"] = click, purchase
            columns["watch"] = rng.exponential(120.0, n) * np.exp(0.3 * columns["f1"])
            table = pa.table(columns)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def measure(path: Path) -> dict[str, Any]:
    """In this (fresh) process: read + encode ``path``; times, peak memory, encoded size."""
    from automtl.config import TaskSpec
    from automtl.data import TabularDataset, read_table

    tasks = [TaskSpec(**spec) for spec in TASK_SPECS]
    base = _rss_bytes()
    started = time.perf_counter()
    frame = read_table(path)
    read_s = time.perf_counter() - started
    frame_bytes = int(frame.memory_usage(deep=False, index=False).sum())
    started = time.perf_counter()
    dataset = TabularDataset(frame, tasks, seed=0)
    encode_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    encoded = sum(t.element_size() * t.nelement() for split in dataset.splits.values()
                  for t in (split.numeric, split.categorical, split.labels, split.mask))
    return {"rows": len(frame), "read_s": read_s, "encode_s": encode_s,
            "frame_mb": frame_bytes / 2**20, "encoded_mb": encoded / 2**20,
            "peak_mb": peak / 2**20, "summary": dataset.summary()}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return []
    data_dir = args.data_dir or args.out
    data_dir.mkdir(parents=True, exist_ok=True)
    rows_out, summary = [], None
    for rows in args.rows:
        path = data_dir / f"data_load_{rows}.parquet"
        if not path.exists():
            generate(path, rows, seed=args.seed)
        completed = subprocess.run([sys.executable, "-m", "benchmarks.data_load", "--measure",
                                    str(path)], capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"measuring {rows} rows failed:\n{completed.stderr[-3000:]}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        summary = summary or result.pop("summary")
        result.pop("summary", None)
        rows_out.append({
            "rows": result["rows"], "file_mb": path.stat().st_size / 2**20,
            "read_s": result["read_s"], "encode_s": result["encode_s"],
            "encode/read": result["encode_s"] / result["read_s"],
            "rows_per_s": result["rows"] / (result["read_s"] + result["encode_s"]),
            "frame_mb": result["frame_mb"], "encoded_mb": result["encoded_mb"],
            "peak_mb": result["peak_mb"],
            "peak/encoded": result["peak_mb"] / result["encoded_mb"]})
    assert summary is not None
    print("Detected schema of the table (first size):")
    for feature in summary["features"]:
        vocab = f", vocabulary {feature['vocabulary']}" if "vocabulary" in feature else ""
        print(f"  {feature['name']}: {feature['kind']} ({feature['reason']}{vocab})")
    print(f"  stratified on: {summary['stratified_on']}; label scaling: "
          f"{summary['label_scaling']}")
    notes = [f"table: {NUMERIC} float columns, 20 integer code columns (cardinality "
             f"{CARDINALITIES[0]} to {CARDINALITIES[-1]:,}, Zipf(1.3) frequencies), tasks click, "
             "purchase (labelled where click = 1), watch (regression, log1p)",
             "read_s: read_table (pandas/pyarrow); encode_s: TabularDataset (inference, split, "
             "statistics, vocabularies, encoding, checks); each size in a fresh process",
             "peak_mb: peak RSS above the RSS after imports (includes the DataFrame itself); "
             "encoded_mb: numeric, categorical, labels and mask tensors of all splits; "
             "target peak/encoded <= 3"]
    write_table(rows_out, args.out, "data_load", "Load + encode: time and peak memory",
                machine_line("cpu"), notes)
    return rows_out


if __name__ == "__main__":
    main()
