"""Confirmation: re-train the candidates a report makes claims about, with several seeds.

A search picks its front on the validation split from one training run per candidate, so a
front point's "gain over single-task" mixes real differences with seed noise and with the
selection itself. After the search, :func:`run_confirmation` re-trains with ``K`` seeds
(``confirm.seeds``) and the job's own epochs:

- every point of the front (role ``front``),
- the best ``single_task`` candidate (role ``single_task``): the baseline, trained with the
  same epochs as every other candidate (equal budget). When early stopping (MO-ASHA) pruned
  every single-task trial of the search, the best pruned one (deepest rung, then MO-ASHA's
  own order there: :func:`automtl.search.samplers.rank_pruned_trials`) is the baseline: its
  configuration is re-trained here at the full epochs like every other candidate, so the
  comparison is as fair as with a complete one (the summary says it was pruned, and at
  which epoch, in ``baseline_pruned_epoch``),
- the best candidate of every other topology tried (role ``topology``),

and scores each on the **test** split, which the search never used. "Best" for a topology is
its complete, feasible trial whose validation point dominates the largest volume up to the
job's hypervolume reference (:func:`automtl.report.pareto.hypervolume`).

The MTL gain of a front point on task ``t`` is the mean over seeds of the paired difference
``metric(point, seed s) - metric(single_task, seed s)`` (signed so that positive is better),
with a Student-t confidence interval and the paired t-test's p-value (``scipy.stats.ttest_rel``;
with K seeds it has K-1 degrees of freedom, so K=3 gives wide intervals: that is the honest
size of what 3 seeds can show). ``within_noise`` is True when the interval contains 0. Next to
each gain, the seed-to-seed standard deviation of the single-task baseline is reported.

Trials run one after the other in the calling process (the search's Ray workers are gone by
then); the results are stored on the study (``automtl:confirmation``) so the report and the
service read them from there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from automtl.jobspec import JobSpec
from automtl.trial_record import STUDY_CONFIRMATION_ATTR, confirmation_of

__all__ = ["STUDY_CONFIRMATION_ATTR", "ConfirmationCancelled", "best_pruned_single_task",
           "confirmation_of", "missing_baseline_reason", "paired_gain", "run_confirmation",
           "select_candidates", "summarize"]

CONFIDENCE = 0.95

Train = Callable[[dict[str, Any], int], dict[str, dict[str, float]]]


class ConfirmationCancelled(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The caller asked to stop (a cancelled job) while confirming: raised by a training's
    per-epoch check (:func:`automtl.search.trainable.train_for_confirmation`) and caught by
    :func:`run_confirmation`, which then stores nothing."""


def _topology(trial: optuna.trial.FrozenTrial) -> str | None:
    from automtl.trial_record import ATTR_CANDIDATE, stored_attrs

    candidate = stored_attrs(trial).get(ATTR_CANDIDATE) or {}
    return candidate.get("architecture", {}).get("topology")


def select_candidates(study: optuna.Study, spec: JobSpec) -> list[dict[str, Any]]:
    """The trials to confirm: ``[{"trial": n, "topology": t, "roles": [...]}]`` by number.

    Roles are ``front``, ``single_task`` (best single-task trial) and ``topology`` (best of its
    topology); a trial can hold several. With no complete feasible single-task trial, the
    best pruned one that was trained (not refused at sampling) takes the ``single_task``
    role (:func:`best_pruned_single_task`); :func:`missing_baseline_reason` says why there
    is none when neither exists.
    """
    from automtl.report.pareto import hypervolume, reference_point
    from automtl.trial_record import is_feasible

    objectives = spec.objective_list()
    directions: list[str] = [str(o.direction) for o in objectives]
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if is_feasible(t) and t.values is not None]
    reference, _ = reference_point(objectives, spec, complete)
    roles: dict[int, set[str]] = {}
    for trial in study.best_trials:
        roles.setdefault(trial.number, set()).add("front")
    best: dict[str, tuple[float, int]] = {}
    for trial in complete:
        topology = _topology(trial)
        if topology is None:
            continue
        volume = hypervolume(np.array([trial.values], dtype=float), directions, reference)
        if topology not in best or volume > best[topology][0]:
            best[topology] = (volume, trial.number)
    for topology, (_, number) in best.items():
        roles.setdefault(number, set()).add("single_task" if topology == "single_task"
                                            else "topology")
    by_number = {t.number: t for t in complete}
    if "single_task" not in best:
        pruned = best_pruned_single_task(study, spec)
        if pruned is not None:
            roles.setdefault(pruned.number, set()).add("single_task")
            by_number[pruned.number] = pruned
    return [{"trial": n, "topology": _topology(by_number[n]), "roles": sorted(r)}
            for n, r in sorted(roles.items()) if n in by_number]


def best_pruned_single_task(study: optuna.Study,
                            spec: JobSpec) -> optuna.trial.FrozenTrial | None:
    """The best ``single_task`` trial that MO-ASHA stopped early (PRUNED, trained, with a
    stored candidate): the deepest rung first, then MO-ASHA's order of the rung values there
    (:func:`automtl.search.samplers.rank_pruned_trials`); ``None`` when there is none."""
    from automtl.search.samplers import rank_pruned_trials
    from automtl.trial_record import ATTR_CANDIDATE, ATTR_INFEASIBLE, stored_attrs

    pruned = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
              if _topology(t) == "single_task"
              and not stored_attrs(t).get(ATTR_INFEASIBLE)
              and isinstance(stored_attrs(t).get(ATTR_CANDIDATE), dict)]
    if not pruned:
        return None
    objectives = spec.objective_list()
    ranked = [o for o in objectives if o.name != "latency_ms"] or objectives
    modes = {o.result_key: "max" if o.direction == "maximize" else "min" for o in ranked}
    return rank_pruned_trials(pruned, modes)[0]


def missing_baseline_reason(study: optuna.Study, spec: JobSpec) -> str:
    """Why no single-task baseline could be confirmed, in words a user can act on: the space
    has no ``single_task``; the budget ended before one was tried; every one failed; or every
    one was refused by a constraint or infeasible."""
    topologies = list(getattr(spec.space, "topologies", []) or [])
    if "single_task" not in topologies:
        return ("the search space has no single_task topology: add single_task to its "
                "topologies to measure the gain of sharing")
    states = [t.state for t in study.get_trials(deepcopy=False) if _topology(t) == "single_task"]
    if not states:
        return ("no single_task trial was run (the budget ended before one was sampled): "
                "raise budget.trials")
    if all(s == TrialState.FAIL for s in states):
        return (f"all {len(states)} single_task trial(s) failed (see their errors in the "
                "trial list)")
    return (f"none of the {len(states)} single_task trial(s) was feasible or trained "
            "(refused by a constraint, failed or still running)")


def paired_gain(values: list[float], baseline: list[float], direction: str) -> dict[str, Any]:
    """Mean paired difference (positive = better than the baseline), its Student-t interval
    at :data:`CONFIDENCE`, the paired t-test p-value and whether the interval contains 0.

    ``values`` and ``baseline`` are per-seed metrics in the same seed order. With fewer than 2
    seeds there is no interval (``None``) and ``within_noise`` is ``None``.
    """
    from scipy import stats

    sign = 1.0 if direction == "maximize" else -1.0
    diffs = sign * (np.asarray(values, dtype=float) - np.asarray(baseline, dtype=float))
    mean = float(diffs.mean())
    out: dict[str, Any] = {"gain": mean, "ci_low": None, "ci_high": None, "p_value": None,
                           "within_noise": None}
    if len(diffs) < 2:
        return out
    sd = float(diffs.std(ddof=1))
    if sd == 0.0:
        out.update(ci_low=mean, ci_high=mean, within_noise=mean == 0.0,
                   p_value=1.0 if mean == 0.0 else 0.0)
        return out
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(diffs) - 1)) * sd / math.sqrt(len(diffs))
    p_value = float(stats.ttest_rel(sign * np.asarray(values), sign * np.asarray(baseline))
                    .pvalue)
    out.update(ci_low=mean - half, ci_high=mean + half, p_value=p_value,
               within_noise=bool(mean - half <= 0.0 <= mean + half))
    return out


def summarize(spec: JobSpec, candidates: list[dict[str, Any]],
              scores: dict[int, list[dict[str, dict[str, float]]]]) -> dict[str, Any]:
    """The stored confirmation: per candidate and task the per-seed test metric, mean and
    spread; per front point and task the paired gain over the single-task baseline."""
    tasks = [(t.name, str(t.metric), t.direction) for t in spec.tasks]
    rows = []
    per_task: dict[int, dict[str, list[float]]] = {}
    for item in candidates:
        seeds = scores.get(item["trial"], [])
        metrics: dict[str, Any] = {}
        for name, metric, _ in tasks:
            values = [s.get(name, {}).get(metric, math.nan) for s in seeds]
            per_task.setdefault(item["trial"], {})[name] = values
            finite = [v for v in values if math.isfinite(v)]
            metrics[name] = {
                "metric": metric, "values": values,
                "mean": float(np.mean(finite)) if finite else None,
                "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None}
        rows.append({**item, "test": metrics})
    baseline = next((c["trial"] for c in candidates if "single_task" in c["roles"]), None)
    gains = []
    if baseline is not None:
        base = per_task.get(baseline, {})
        for item in candidates:
            if "front" not in item["roles"] or item["trial"] == baseline:
                continue
            for name, metric, direction in tasks:
                values, reference = per_task[item["trial"]][name], base.get(name, [])
                pairs = [(v, b) for v, b in zip(values, reference, strict=False)
                         if math.isfinite(v) and math.isfinite(b)]
                if not pairs:
                    continue
                gain = paired_gain([p[0] for p in pairs], [p[1] for p in pairs], direction)
                noise = np.std([p[1] for p in pairs], ddof=1) if len(pairs) > 1 else None
                gains.append({"trial": item["trial"], "topology": item["topology"],
                              "task": name, "metric": metric, "seeds": len(pairs),
                              "baseline_std": float(noise) if noise is not None else None,
                              **gain})
    return {"seeds": spec.confirm.seeds, "split": "test", "confidence": CONFIDENCE,
            "baseline_trial": baseline, "candidates": rows, "gains": gains}


def _baseline_notes(study: optuna.Study, spec: JobSpec,
                    candidates: list[dict[str, Any]]) -> dict[str, Any]:
    """``baseline_pruned_epoch`` (the epoch MO-ASHA stopped the baseline at in the search,
    ``None`` for a complete one) or ``baseline_missing`` (why there is no baseline)."""
    from automtl.trial_record import ATTR_PRUNED_EPOCH, stored_attrs

    baseline = next((c["trial"] for c in candidates if "single_task" in c["roles"]), None)
    if baseline is None:
        return {"baseline_missing": missing_baseline_reason(study, spec)}
    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == baseline)
    epoch = (stored_attrs(trial).get(ATTR_PRUNED_EPOCH)
             if trial.state == TrialState.PRUNED else None)
    return {"baseline_pruned_epoch": int(epoch) if epoch is not None else None}


def run_confirmation(study: optuna.Study, spec: JobSpec, train: Train,
                     on_progress: Callable[[str], None] | None = None,
                     should_stop: Callable[[], bool] | None = None,
                     on_run: Callable[[int, int, str], None] | None = None,
                     ) -> dict[str, Any] | None:
    """Re-train the selected candidates with ``spec.confirm.seeds`` seeds and store the
    summary on the study; returns it, or ``None`` when cancelled.

    ``train(candidate, seed)`` trains one candidate dict (as stored with its trial) with that
    seed and returns its test-split metrics ``{task: {metric: value}}``. Seeds are
    ``spec.seed + 10_000 + k`` (never a seed the search used). A failed run counts as NaN
    for that seed (left out of the means and gains, the count shown).

    ``should_stop()`` is polled before every training; when it returns True, or a training
    raises :class:`ConfirmationCancelled` (its own per-batch check of the same flag), the
    confirmation ends there, nothing is stored (a partial confirmation would claim gains from
    fewer seeds than the spec asks for) and ``None`` is returned.

    ``on_run(done, total, note)`` is called before each training (``done`` of ``total`` runs
    finished; ``note``: ``trial 12 (mmoe, front) seed 2/3``) and once after the last one, so a
    caller can show a progress line per run of a stage that takes minutes.
    """
    from automtl.trial_record import ATTR_CANDIDATE, set_study_attr, stored_attrs

    candidates = select_candidates(study, spec)
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    scores: dict[int, list[dict[str, dict[str, float]]]] = {}
    started = time.monotonic()
    total, done = len(candidates) * spec.confirm.seeds, 0
    for item in candidates:
        candidate = stored_attrs(by_number[item["trial"]]).get(ATTR_CANDIDATE)
        if not isinstance(candidate, dict):
            raise ValueError(f"trial {item['trial']} has no stored candidate to confirm")
        runs = []
        for k in range(spec.confirm.seeds):
            if should_stop is not None and should_stop():
                _cancelled(on_progress)
                return None
            if on_run is not None:
                on_run(done, total, f"trial {item['trial']} ({item['topology']}, "
                                    f"{'/'.join(item['roles'])}) seed {k + 1}/{spec.confirm.seeds}")
            done += 1
            try:
                runs.append(train(candidate, spec.seed + 10_000 + k))
            except ConfirmationCancelled:
                _cancelled(on_progress)
                return None
            except Exception as exc:  # noqa: BLE001 - one failed seed is recorded as NaN
                if on_progress is not None:
                    on_progress(f"trial {item['trial']} seed {k}: failed: {exc}")
                runs.append({})
        scores[item["trial"]] = runs
        if on_progress is not None:
            on_progress(f"confirmed trial {item['trial']} ({item['topology']}, "
                        f"{'/'.join(item['roles'])}) with {spec.confirm.seeds} seeds")
    if on_run is not None:
        on_run(done, total, "done")
    summary = summarize(spec, candidates, scores)
    summary.update(_baseline_notes(study, spec, candidates))
    summary["seconds"] = time.monotonic() - started
    summary["complete_trials"] = len(study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    set_study_attr(study, STUDY_CONFIRMATION_ATTR, summary)
    return summary


def _cancelled(on_progress: Callable[[str], None] | None) -> None:
    if on_progress is not None:
        on_progress("confirmation cancelled: nothing stored")
