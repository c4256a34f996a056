"""What every benchmark script shares: arguments, the machine line, datasets, result tables.

Each script prints its tables and writes them as CSV and Markdown under ``--out`` (default
``benchmarks/results/``), each with the machine line (cores, torch version, threads, device) so
figures are never read without the hardware they were measured on.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from automtl.config import TaskSpec
from automtl.data import TabularDataset, make_synthetic

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
TASKS = [TaskSpec(name="y1", type="binary"), TaskSpec(name="y2", type="binary")]


def base_parser(description: str) -> argparse.ArgumentParser:
    """``--quick``, ``--out``, ``--threads``, ``--device``, ``--seed``: the flags every script
    takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of about a minute (tiny data and budgets)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="directory for the CSV and Markdown tables (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=available_cores(),
                        help="torch.set_num_threads for every run (default: usable cores)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_device(name: str) -> torch.device:
    """The torch device for ``--device``; CUDA that is not there is an error, not a fallback."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name}: only cpu and cuda are supported")
    return device


def setup_threads(threads: int) -> None:
    """One thread count for automtl and every peer, so no run gets more of the machine."""
    if threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(device: torch.device | str = "cpu") -> str:
    """Cores, CPU model, torch version, torch threads, device and the load average (other
    processes on the cores slow every figure), as one line."""
    device = torch.device(device)
    where = cpu_model()
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name(device)} (host: {cpu_model()})"
    load = f"; 1-min load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"{available_cores()} CPU cores, {where}; torch {torch.__version__}, "
            f"torch threads: {torch.get_num_threads()}; device {device}; "
            f"python {platform.python_version()}{load}")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as elapsed: ...``; ``elapsed[0]`` holds the seconds afterwards."""
    elapsed = [0.0]
    started = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - started


# ----------------------------------------------------------------------------------- datasets

@dataclass(frozen=True)
class DatasetChoice:
    """A generated benchmark dataset: its name, the encoded splits and a one-line description."""

    name: str
    data: TabularDataset
    description: str


def synthetic_dense(rows: int, features: int = 100, correlation: float = 0.5,
                    seed: int = 0) -> DatasetChoice:
    """The MMoE paper's synthetic recipe with two binary tasks (labels above their median)."""
    frame = make_synthetic(rows=rows, features=features, correlation=correlation, seed=seed,
                           binary=True)
    data = TabularDataset(frame, TASKS, valid_fraction=0.1, test_fraction=0.1, seed=seed)
    return DatasetChoice("synthetic", data,
                         f"{rows} rows, {features} numeric features, 2 binary tasks, "
                         f"correlation {correlation}")


def synthetic_categorical(rows: int, numeric: int = 13, categorical: int = 26, buckets: int = 32,
                          correlation: float = 0.5, seed: int = 0) -> DatasetChoice:
    """A Criteo-shaped dataset: ``numeric`` dense and ``categorical`` categorical columns.

    The synthetic recipe runs on ``numeric + categorical`` latent features; the first
    ``categorical`` of them are only seen bucketed into ``buckets`` equal-probability bins
    (string values), so the labels depend on the embeddings and the dense columns together.
    """
    features = numeric + categorical
    frame = make_synthetic(rows=rows, features=features, correlation=correlation, seed=seed,
                           binary=True, categorical=categorical, buckets=buckets)
    frame = frame.drop(columns=[f"x{i}" for i in range(categorical)])
    data = TabularDataset(frame, TASKS, valid_fraction=0.1, test_fraction=0.1, seed=seed)
    return DatasetChoice("categorical", data,
                         f"{rows} rows, {numeric} numeric + {categorical} categorical features "
                         f"({buckets} values each), 2 binary tasks, correlation {correlation}")


# ------------------------------------------------------------------------------------- tables

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        magnitude = abs(value)
        if magnitude != 0 and (magnitude >= 1e6 or magnitude < 1e-3):
            return f"{value:.3g}"
        if magnitude >= 100:
            return f"{value:,.0f}"
        return f"{value:.3f}" if magnitude < 10 else f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10000:
        return f"{value:,}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table of ``rows`` (dicts), in ``columns`` order."""
    columns = list(columns or (rows[0].keys() if rows else []))
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def write_table(rows: Sequence[dict[str, Any]], out_dir: Path, name: str, title: str,
                machine: str, notes: Sequence[str] = (),
                columns: Sequence[str] | None = None) -> tuple[Path, Path]:
    """Print the table and write ``name.csv`` (raw values) and ``name.md`` (title, machine line,
    table, notes) under ``out_dir``; returns both paths."""
    if not rows:
        raise ValueError(f"table {name!r} has no rows")
    columns = list(columns or rows[0].keys())
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    body = markdown_table(rows, columns)
    text = [f"## {title}", "", f"Machine: {machine}", "", body]
    if notes:
        text += [""] + [f"- {note}" for note in notes]
    md_path.write_text("\n".join(text) + "\n")
    print("\n".join(text), flush=True)
    print(f"\nwrote {csv_path} and {md_path}\n", flush=True)
    return csv_path, md_path


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, NaN when the denominator is missing or zero."""
    if not denominator or math.isnan(denominator):
        return float("nan")
    return numerator / denominator
