"""What every ``automtl`` command shares on the terminal: user errors (one line, exit 2) and the
search progress bar (tqdm, the one progress library of the CLI).

A user error is bad input the user can fix: a spec, a search space, a dataset, a missing file,
settings. It ends the command with one line naming the field or column and exit status 2,
never a traceback; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

#: exit status of a command stopped by bad input (argparse's own usage errors use 2 as well)
EXIT_USER_ERROR = 2
#: exit status when stdout's reader closed the pipe early (128 + SIGPIPE, as a shell reports it)
EXIT_BROKEN_PIPE = 141


class UserError(Exception):
    """Bad input from the user; ``field`` names the setting, column or file at fault."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


#: the library's exception types that mean bad user input, by module and name
USER_ERROR_TYPES = (
    ("automtl.data.errors", "DataError"),
    ("automtl.jobspec", "JobSpecError"),
    ("search_spaces.errors", "SearchSpaceError"),
    ("automtl.export.errors", "ExportError"),
    ("automtl.search.study", "SpecChangedError"),
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """:class:`UserError` and those of :data:`USER_ERROR_TYPES` whose module is already
    imported: an exception of a module nobody imported cannot have been raised, and importing
    it here would cost a bad spec's one-line error the import of torch (``automtl.data`` and
    ``automtl.export`` pull it in through their packages)."""
    found: list[type[BaseException]] = [UserError]
    for module_name, name in USER_ERROR_TYPES:
        module = sys.modules.get(module_name)
        if module is not None:
            found.append(getattr(module, name))
    return tuple(found)


def describe_user_error(exc: BaseException) -> list[str]:
    """The lines to print for a user error: ``field: message``, one per problem."""
    problems = getattr(exc, "errors", None)
    if isinstance(problems, list) and problems and all(
            isinstance(p, tuple) and len(p) == 2 for p in problems):
        return [f"{path}: {_one_line(message)}" if path else _one_line(message)
                for path, message in problems]
    from automtl.data.messages import field_message

    return [field_message(getattr(exc, "field", None), str(exc).strip() or type(exc).__name__)]


def _one_line(message: object) -> str:
    """A (possibly multi-line, e.g. YAML's) message on one line."""
    return " ".join(str(message).split())


def run_command(handler: Callable[[Any], int | None], args: Any,
                stream: TextIO | None = None) -> int:
    """Run a subcommand's handler; a user error prints ``automtl: error: ...`` (one line per
    problem) and returns 2."""
    stream = stream or sys.stderr
    try:
        return int(handler(args) or 0)
    except BrokenPipeError:
        # the reader went away (``automtl space show ... | head``): stop quietly, as Unix tools do.
        # stdout is pointed at /dev/null so the interpreter's final flush cannot raise again
        # (the recipe of Python's signal module documentation, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except user_error_types() as exc:
        lines = describe_user_error(exc)
        command = getattr(args, "command", None)
        prefix = f"automtl {command}" if command else "automtl"
        print(f"{prefix}: error: {lines[0]}", file=stream)
        for line in lines[1:]:
            print(f"  {line}", file=stream)
        return EXIT_USER_ERROR


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows every option's default (unless its text already names one) and prints
    docstring descriptions without reStructuredText's double backticks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower() or action.default in (
                None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"

    def _format_text(self, text: str) -> str:
        return super()._format_text(text.replace("``", "'"))


def apply_help_format(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and all its subcommands' parsers :class:`HelpFormatter`. An option
    with a default but no help text gets ``(default: ...)`` as its help: argparse prints no
    help line, so no default, for an option without one."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                apply_help_format(sub)
        elif action.option_strings and not action.help and action.default not in (
                None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"


class StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM during ``automtl search``: the first one asks the search to
    stop as a cancel does (running trials end at their next batch and are stored interrupted,
    the finished ones and the front are kept and written); a second one stops at once
    (``KeyboardInterrupt``, or exit 143 for SIGTERM).

    :meth:`install` takes both signals (and turns Ray Tune's own SIGINT handler off, which
    stopped the experiment without its trials and reported it as ``incomplete``);
    :meth:`reclaim`, called from the search's ``should_stop`` polls, takes SIGTERM back from
    ``ray.init`` (which sets its own: exit at once). :meth:`restore` puts the previous
    handlers back."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, stream: TextIO | None = None) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._stream = stream or sys.stderr
        self._previous: dict[int, Any] = {}

    def install(self) -> StopRequest:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def reclaim(self) -> None:
        if self._previous and threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGTERM) is not self._handle:
            signal.signal(signal.SIGTERM, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.event.is_set():  # the second one: stop now
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.signum = signum
        self.event.set()
        print(f"\n{signal.Signals(signum).name}: stopping the search (running trials end at "
              "their next batch; finished ones are kept and written). Again to stop at once.",
              file=self._stream, flush=True)

    def is_set(self) -> bool:
        self.reclaim()
        return self.event.is_set()


class SearchProgress:
    """A :class:`~automtl.search.SearchCallbacks` (duck-typed, so ``--help`` needs no Ray)
    drawing a tqdm bar over the trial budget (complete + pruned trials) with its ETA, and one
    line per finished trial (topology, main parameters, objectives) above it. When the stream
    is not a terminal (a log file, CI) tqdm draws nothing, and each trial's line carries the
    count, elapsed time and ETA instead."""

    def __init__(self, objectives: list[str], budget: int, *, stream: TextIO | None = None,
                 disable: bool | None = None, notes: list[str] | None = None,
                 stop: StopRequest | None = None) -> None:
        from tqdm import tqdm

        #: ``should_stop`` answers it (Ctrl-C / SIGTERM)
        self._stop = stop

        #: lines printed after the dataset summary, once the data loaded (what a preset left
        #: out of this job: :meth:`search_spaces.SearchSpace.left_out_note`)
        self._notes = list(notes or [])
        self._objectives = objectives
        self._budget = budget
        self._stream = stream or sys.stderr
        self._bar = tqdm(total=budget, unit="trial", file=self._stream, dynamic_ncols=True,
                         disable=disable, desc="search",
                         bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                                    "[{elapsed}<{remaining}] {postfix}")
        self._pending: str | None = None
        self._stage_started: float | None = None  # when the first stage after the search began

    def on_dataset(self, summary: dict[str, Any]) -> None:
        """The detected schema and labelled rows per task, printed before the first trial."""
        self._bar.write(format_dataset_summary(summary), file=self._stream)
        for note in self._notes:
            self._bar.write(note, file=self._stream)

    def on_trial_start(self, number: int, params: dict[str, Any]) -> None:
        pass

    def on_epoch(self, number: int, epoch: int, metrics: dict[str, float]) -> None:
        pass

    def on_trial_complete(self, outcome: Any) -> None:
        self._pending = trial_line(outcome)

    def on_progress(self, progress: Any) -> None:
        from tqdm import tqdm

        done = int(progress.counted)  # what the budget counts: complete + pruned
        pruned = f"pruned {progress.pruned}, " if progress.pruned else ""
        interrupted = getattr(progress, "interrupted", 0)  # a Progress of an older caller
        stopped = f"interrupted {interrupted}, " if interrupted else ""
        status = (f"{pruned}failed {progress.failed}, {stopped}running {progress.running}, "
                  f"front {progress.front_size}")
        if self._bar.disable:
            if self._pending is not None:
                elapsed = float(progress.elapsed_s)
                eta = (tqdm.format_interval(elapsed / done * (self._budget - done))
                       if 0 < done < self._budget else "-")
                width = len(str(self._budget))
                print(f"[{done:>{width}}/{self._budget}] {self._pending} | {status}, "
                      f"{tqdm.format_interval(elapsed)} elapsed, ETA {eta}",
                      file=self._stream, flush=True)
        else:
            if self._pending is not None:
                self._bar.write(self._pending, file=self._stream)
            if done > self._bar.n:
                self._bar.update(done - self._bar.n)
            self._bar.set_postfix_str(status, refresh=True)
        self._pending = None

    def on_stage(self, stage: Any) -> None:
        """One line per confirmation run (``confirming 4/15: trial 12 (mmoe, front) seed
        2/3``, with the elapsed time) and one when reporting starts: the trial bar is full by
        then, and the confirmation can take longer than the search."""
        from tqdm import tqdm

        if stage.name in ("preparing", "searching"):  # the dataset summary and the bar say so
            return
        if self._stage_started is None:
            self._stage_started = time.monotonic()
            if not self._bar.disable:
                self._bar.close()  # the trial bar stays as it ended; lines follow below it
        elapsed = tqdm.format_interval(time.monotonic() - self._stage_started)
        print(f"[{elapsed}] {stage.line()}", file=self._stream, flush=True)

    def on_resume(self, resumed: dict[str, Any]) -> None:
        """One line before the first new trial of a rerun (:func:`resume_line`)."""
        self._bar.write(resume_line(resumed), file=self._stream)

    def should_stop(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def close(self) -> None:
        self._bar.close()


def format_dataset_summary(summary: dict[str, Any]) -> str:
    """The detected schema and labelled rows per task. Features with the same kind and reason
    share a line (``x0..x97 (98 features): numeric (float values)``), so 100 synthetic columns
    take one line, not 100; a feature with its own reason keeps its own line."""
    groups: dict[str, list[str]] = {}
    for feature in summary["features"]:
        extra = ""
        if "vocabulary" in feature:
            extra += f", vocabulary {feature['vocabulary']}"
        if "missing_indicator" in feature:
            extra += f", missing -> train mean + {feature['missing_indicator']}"
        groups.setdefault(f"{feature['kind']} ({feature['reason']}{extra})", []).append(
            feature["name"])
    lines = [f"features ({len(summary['features'])}; kind: why):"]
    for description, names in groups.items():
        label = names[0] if len(names) == 1 else \
            f"{compact_names(names)} ({len(names)} features)"
        lines.append(f"  {label}: {description}")
    sizes = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    strat = summary.get("stratified_on")
    lines.append(f"splits: {sizes}" + (f" (stratified on {strat})" if strat else ""))
    for row in summary["tasks"]:
        positives = f", {row['positives']} positive" if "positives" in row else ""
        positives += f", {row['classes']} classes" if "classes" in row else ""
        lines.append(f"  task {row['task']} {row['split']}: {row['labelled']} labelled"
                     f"{positives}")
    for item in summary.get("classes", []):
        lines.append(f"  task {item['task']} classes (output order): {item['classes']}")
    lines += [f"warning: {warning}" for warning in summary.get("warnings", [])]
    return "\n".join(lines)


def compact_names(names: list[str], shown: int = 8) -> str:
    """Column names with runs of one prefix and consecutive numbers joined (``x0..x97``),
    at most ``shown`` items, then ``... (N more)``."""
    import re

    items: list[str] = []
    run: list[str] = []  # names of one prefix with consecutive numbers
    for name in [*names, ""]:
        match = re.fullmatch(r"(.*?)(\d+)", name)
        if match and run:
            last = re.fullmatch(r"(.*?)(\d+)", run[-1])
            if last and last.group(1) == match.group(1) and \
                    int(match.group(2)) == int(last.group(2)) + 1:
                run.append(name)
                continue
        if run:
            items.append(run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}")
            run = []
        if match:
            run = [name]
        elif name:
            items.append(name)
    if len(items) > shown:
        return ", ".join(items[:shown]) + f", ... ({len(items) - shown} more)"
    return ", ".join(items)


def resume_line(resumed: dict[str, Any]) -> str:
    """``resuming study automtl-x: 6 of 20 budget trials done (5 complete, 1 pruned), 1
    failed; 2 interrupted trial(s) run again (3, 4)``: what a rerun kept and retries."""
    done = resumed.get("complete", 0) + resumed.get("pruned", 0)
    line = (f"resuming study {resumed['study']}: {done} of {resumed['budget']} budget trials "
            f"done ({resumed.get('complete', 0)} complete, {resumed.get('pruned', 0)} pruned), "
            f"{resumed.get('failed', 0)} failed")
    requeued = list(resumed.get("requeued") or [])
    if requeued:
        line += (f"; {len(requeued)} interrupted trial(s) run again "
                 f"({', '.join(str(n) for n in requeued)})")
    return line


def trial_line(outcome: Any) -> str:
    """``trial 7 complete mmoe/gradnorm experts=4 lr=0.003 | ctr=0.71 watch=1.8`` (or the
    error's first line for a failed trial; a trial a stop cut short is ``interrupted``)."""
    candidate = outcome.candidate or {}
    arch = candidate.get("architecture") or {}
    parts = [f"{arch.get('topology', '?')}/{(candidate.get('weighting') or {}).get('name', '?')}"]
    for key, label in (("num_shared_experts", "experts"), ("expert_units", "units"),
                       ("bottom_units", "bottom")):
        if arch.get(key) is not None:
            parts.append(f"{label}={arch[key]}")
            break
    lr = (candidate.get("train") or {}).get("lr")
    if isinstance(lr, float):
        parts.append(f"lr={lr:.2g}")
    if outcome.values:
        result = " ".join(f"{k}={v:.4g}" for k, v in outcome.values.items())
    else:
        reason = outcome.error or getattr(outcome, "infeasible", None)  # FAIL / refused
        result = reason.splitlines()[0][:80] if reason else ""
    from automtl.trial_record import state_label

    state = state_label(outcome.state, getattr(outcome, "interrupted", False))
    return f"trial {outcome.number:>4} {state:<11} {' '.join(parts)} | {result}"
