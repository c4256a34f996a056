"""MO-ASHA: asynchronous successive halving for several objectives, as a Ray Tune scheduler.

Ray Tune's ASHA/HyperBand and Optuna's pruners rank trials by one number; a multi-objective
search needs to rank them by dominance. This scheduler follows Schmucker et al., "Multi-objective
Asynchronous Successive Halving" (arXiv:2106.12639, 2021): rungs at epochs ``r, r*eta,
r*eta^2, ...`` (``r`` = ``grace_epochs``, ``eta`` = ``reduction_factor``); a trial reaching a
rung is compared with every trial that reached that rung before it (asynchronously: no waiting
for a full bracket) and continues only if it is among the top ``k`` of the ``n`` trials at the
rung, ranked by non-dominated sorting, ties inside a front broken by crowding distance
(NSGA-II's selection, Deb et al. IEEE TEC 2002). Two promotion rules (``promotion``):

- ``"eager"`` (default): ``k = ceil(n / eta)``, at least one: the first trial to reach a rung
  always continues (Ray Tune's ASHA stopping rule, which keeps a trial unless a cutoff over
  the earlier results exists). Early in a search that promotes the first arrivals blindly:
  1-3 of the 4 coverage trials trained to the end in ``benchmarks/README.md`` section 8.
- ``"eta"``: ``k = floor(n / eta)``: a rung promotes nobody until ``eta`` trials reached it,
  and then the top ``1/eta`` of those so far (the promotion rule of ASHA, Li et al., "A
  System for Massively Parallel Hyperparameter Tuning", MLSys 2020: a configuration is
  promotable when it is in the top ``floor(|rung| / eta)``), applied as a stop decision on
  arrival: the first ``eta - 1`` trials at every rung stop there (``"pause"`` below pauses
  them for a later promotion instead). No trial is promoted on fewer than ``eta`` results,
  at the price of ``(eta - 1) * r`` epochs per rung; a search whose budget is smaller than
  about ``eta^2`` trials trains few trials to the end (at least one: the last trial standing,
  below). Measured there: 0-6 complete
  trials in budgets of 27-47 (against 5-9 of 18-32 with ``"eager"``), so the job spec
  keeps ``"eager"``.

The non-dominated sort is ``moocore.pareto_rank`` (public API); the crowding distance is this
module's (:func:`crowding_distance`, a few lines: neither moocore nor Optuna exposes one
publicly); the scheduling loop is Ray Tune's (a :class:`~ray.tune.schedulers.FIFOScheduler`
that answers ``STOP``).

Validation noise (``epsilon``, off by default): a rung ranks validation metrics, and on a small
validation split their standard error can exceed the differences between candidates (an AUC on
~20 positives: about 0.07, Hanley and McNeil, Radiology 1982). With ``epsilon`` (one tolerance
per metric, in the metric's units, e.g. its standard error) a trial outside the top ``k`` still
continues when no trial at the rung beats it by more than ``epsilon`` in every metric: it is not
``epsilon``-dominated (additive epsilon-dominance, Laumanns et al., Evolutionary Computation
2002), so the rung cannot tell it from the front within the noise.

Brackets (``brackets``, 1 by default: Schmucker et al.'s single bracket): rungs after few
epochs favour trials that learn fast (a high learning rate) over trials that end best (in
``benchmarks/README.md`` section 8 the trials MO-ASHA completed had a median learning rate 3-5
times full-fidelity TPE's), and the sampler then learns that bias from the complete trials.
With ``brackets = B`` the trials are dealt in turn to brackets ``s = 0 .. B-1`` whose first
rung is ``grace_epochs * eta**s`` (Hyperband's brackets, Li et al. JMLR 2018, in their
asynchronous form, Ray Tune's ``AsyncHyperBandScheduler(brackets=...)``); each bracket has its
own rungs, so a trial of bracket ``s`` is compared only with trials of its bracket, and a
bracket whose first rung is at or beyond the last epoch trains its trials to the end.

The last trial standing is never stopped (all three rules): a trial that a rung would stop
(or pause), coverage trials at their first rung included, continues instead when no other
trial of the search has completed or is still running (pending, or kept at its rungs so far).
A search under this scheduler thus ends with at least one complete trial whenever a trial
reached a rung with finite values, unless that trial then fails or the search is cancelled:
Tune starts a new trial only while budget is left, so some trial is always the last one
running, and that one trains to its last epoch. (The scheduler learns which trials exist from
Tune's ``on_trial_add``; a scheduler no trial was added to, as when :meth:`decide` is called on
its own, applies the rank rules only.) Without it a search whose coverage trials stop at the
first rung and whose few later trials rank below them there ended with nothing to export.

A rung at or beyond a trial's last epoch is skipped (stopping there would save nothing). The
scheduler keeps, per trial, its objective values at each rung it reached (:meth:`rung_values`)
and the trials it stopped (:meth:`pruned_epoch`); the searcher reads them to tell Optuna
``PRUNED`` and to store them with the trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

#: the per-epoch result keys the scheduler reads
EPOCH_KEY = "epoch"
EPOCHS_TOTAL_KEY = "epochs_total"


@dataclass(frozen=True)
class RungDecision:
    """What happened to one trial at one rung: ``rank`` among ``n`` trials, ``kept`` or not."""

    epoch: int
    rank: int
    n: int
    kept: bool


#: the promotion rules :class:`MOASHAScheduler` takes
PROMOTIONS = ("eager", "eta", "pause")
#: how far the coverage start-up trials train under :class:`MOASHAScheduler`
COVERAGE_FIDELITIES = ("first_rung", "full")


def promoted_count(n: int, eta: int, promotion: str = "eager") -> int:
    """How many of the ``n`` trials at a rung may continue: ``ceil(n / eta)`` (at least 1) for
    ``"eager"``, ``floor(n / eta)`` (0 until ``eta`` trials reached the rung) for ``"eta"`` and
    ``"pause"``."""
    if promotion in ("eta", "pause"):
        return n // eta
    return max(1, math.ceil(n / eta))


def rung_epochs(grace_epochs: int, reduction_factor: int, max_epochs: int) -> list[int]:
    """The rung milestones below ``max_epochs``: ``r, r*eta, r*eta^2, ...``."""
    out = []
    epoch = grace_epochs
    while epoch < max_epochs:
        out.append(epoch)
        epoch *= reduction_factor
    return out


def dominated_by_margin(losses: np.ndarray, index: int, epsilon: np.ndarray) -> bool:
    """Whether some row of ``losses`` [n, k] (lower is better) is lower than row ``index`` by
    more than ``epsilon`` [k] in every column (the row is ``epsilon``-dominated)."""
    losses = np.asarray(losses, dtype=float)
    margins = losses[index] - losses  # > epsilon where another row is better by more than it
    return bool(np.any(np.all(margins > np.asarray(epsilon, dtype=float), axis=1)))


def crowding_distance(losses: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance (Deb et al., IEEE TEC 2002) of each row of ``losses`` [n, k]
    within that set: per objective, the points sorted by it, each point adds the gap between
    its two neighbours divided by the objective's range, and the extremes get infinity. An
    objective with zero range adds nothing (no extremes either). Returns a float array [n];
    with one or two points every distance is infinite.
    """
    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    distance = np.zeros(n)
    if n <= 2:
        distance[:] = math.inf
        return distance
    for column in losses.T:
        order = np.argsort(column, kind="stable")
        ordered = column[order]
        span = ordered[-1] - ordered[0]
        if span > 0:  # a constant objective has no extremes and adds nothing
            distance[order[0]] = distance[order[-1]] = math.inf
            distance[order[1:-1]] += (ordered[2:] - ordered[:-2]) / span
    return distance


def selection_order(losses: np.ndarray) -> np.ndarray:
    """Indices of ``losses`` [n, k] (lower is better in every column) from best to worst:
    by non-domination rank (``moocore.pareto_rank``), then by crowding distance (larger first,
    :func:`crowding_distance` within the rank), then by index (earlier first).
    """
    import moocore

    losses = np.asarray(losses, dtype=float)
    n = len(losses)
    if n == 0:
        return np.array([], dtype=int)
    ranks = np.asarray(moocore.pareto_rank(losses))
    crowding = np.zeros(n)
    for rank in np.unique(ranks):
        members = np.flatnonzero(ranks == rank)
        crowding[members] = crowding_distance(losses[members])
    # lexsort sorts by the last key first: rank ascending, then crowding descending, then index
    return np.lexsort((np.arange(n), -crowding, ranks))


class MOASHAScheduler(FIFOScheduler):
    """Multi-objective ASHA (Schmucker et al. 2021) for Ray Tune.

    ``metrics`` are the flat result keys of the objectives and ``modes`` their ``"max"`` /
    ``"min"``; ``grace_epochs`` >= 1 is the first rung and ``reduction_factor`` >= 2 the
    factor between rungs (the top ``1/eta`` are promoted). ``max_epochs`` caps the rungs when a
    trial does not report its own ``epochs_total``. ``promotion`` is ``"eager"`` or ``"eta"``
    (module docstring); ``coverage`` is how far the trials named by
    :meth:`start_coverage_trial` train: ``"first_rung"`` or ``"full"`` (default: like any other
    trial). ``epsilon`` (a float for every metric or one per metric, >= 0, in the metrics' units;
    default 0: off) also keeps a trial that no trial at the rung beats by more than it in every
    metric (module docstring). ``brackets`` >= 1 deals the trials in turn to brackets whose
    first rung is ``grace_epochs * reduction_factor**s`` (module docstring; the coverage
    trials all go to bracket 0). Results without an ``epoch`` key (a trial's final report) are
    never acted on. Raises ``ValueError`` on bad arguments.
    """

    def __init__(self, metrics: list[str], modes: list[str], *, grace_epochs: int = 1,
                 reduction_factor: int = 3, max_epochs: int | None = None,
                 promotion: str = "eager", coverage: str = "full",
                 epsilon: float | list[float] = 0.0, brackets: int = 1) -> None:
        super().__init__()
        if len(metrics) != len(modes) or not metrics:
            raise ValueError("metrics and modes must be non-empty lists of the same length")
        if any(m not in ("max", "min") for m in modes):
            raise ValueError(f"modes must be 'max' or 'min', got {modes}")
        if grace_epochs < 1:
            raise ValueError(f"grace_epochs must be >= 1, got {grace_epochs}")
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor must be >= 2, got {reduction_factor}")
        if promotion not in PROMOTIONS:
            raise ValueError(f"promotion must be one of {list(PROMOTIONS)}, got {promotion!r}")
        if coverage not in COVERAGE_FIDELITIES:
            raise ValueError(f"coverage must be one of {list(COVERAGE_FIDELITIES)}, "
                             f"got {coverage!r}")
        margins = np.broadcast_to(np.asarray(epsilon, dtype=float), (len(metrics),)) \
            if np.ndim(epsilon) == 0 or np.size(epsilon) == len(metrics) else None
        if margins is None or not np.all(np.isfinite(margins)) or np.any(margins < 0):
            raise ValueError(f"epsilon must be >= 0, one value or one per metric "
                             f"({len(metrics)}), got {epsilon}")
        self._epsilon = margins.copy()
        if brackets < 1:
            raise ValueError(f"brackets must be >= 1, got {brackets}")
        self._brackets = brackets
        self._bracket: dict[str, int] = {}  # trial id -> its bracket, dealt in turn
        self._metrics = list(metrics)
        self._signs = np.array([-1.0 if m == "max" else 1.0 for m in modes])
        self._grace = grace_epochs
        self._eta = reduction_factor
        self._max_epochs = max_epochs
        self._promotion = promotion
        self._coverage = coverage
        # (bracket, rung epoch) -> trial id -> objective values as reported (in their own
        # directions)
        self._rungs: dict[tuple[int, int], dict[str, list[float]]] = {}
        self._decisions: dict[str, list[RungDecision]] = {}
        self._pruned: dict[str, int] = {}
        self._first_rung_only: set[str] = set()
        # promotion="pause": trial id -> the rung (bracket, epoch) it waits at, and per rung
        # the trials that went on from it
        self._paused: dict[str, tuple[int, int]] = {}
        self._promoted: dict[tuple[int, int], set[str]] = {}
        # the trials Tune added, and those of them that ended without completing (error,
        # removed while pending or paused): the last trial standing is never stopped
        self._added: set[str] = set()
        self._gone: set[str] = set()

    # ------------------------------------------------------------------ what the searcher reads

    def start_coverage_trial(self, trial_id: str) -> None:
        """``trial_id`` is one of the search's coverage start-up trials
        (:mod:`automtl.search.coverage`). With ``coverage="first_rung"`` it trains to the first
        rung only: its values there join the rung (they rank the trials that come after it) and
        it stops there whatever its rank (a low-fidelity start-up trial, as in BOHB's and
        Hyperband's brackets; a trial with no rung below its last epoch trains to the end).
        With ``"full"`` it is ranked like any trial."""
        if self._coverage == "first_rung":
            self._first_rung_only.add(trial_id)

    def rung_values(self, trial_id: str) -> dict[str, dict[str, float]]:
        """``{rung epoch (str): {metric: value}}`` for every rung the trial reached."""
        return {str(epoch): dict(zip(self._metrics, values[trial_id], strict=True))
                for (_, epoch), values in sorted(self._rungs.items()) if trial_id in values}

    def bracket(self, trial_id: str) -> int:
        """The bracket of ``trial_id`` (0 .. ``brackets - 1``), dealt in turn on first call;
        a coverage trial's is 0."""
        if trial_id not in self._bracket:
            dealt = sum(t not in self._first_rung_only for t in self._bracket)
            self._bracket[trial_id] = (0 if trial_id in self._first_rung_only
                                       else dealt % self._brackets)
        return self._bracket[trial_id]

    @property
    def modes(self) -> dict[str, str]:
        """``{metric: "max" | "min"}`` of the metrics ranked at the rungs (what
        :meth:`rung_values` holds), in order."""
        return {m: "max" if sign < 0 else "min" for m, sign in zip(self._metrics, self._signs,
                                                                    strict=True)}

    def decisions(self, trial_id: str) -> list[RungDecision]:
        return list(self._decisions.get(trial_id, []))

    def pruned_epoch(self, trial_id: str) -> int | None:
        """The epoch at which this scheduler stopped the trial, or ``None``."""
        return self._pruned.get(trial_id)

    def paused_epoch(self, trial_id: str) -> int | None:
        """The rung epoch at which the trial waits for a promotion (``promotion="pause"``),
        or ``None`` when it is not paused."""
        rung = self._paused.get(trial_id)
        return None if rung is None else rung[1]

    def paused(self) -> list[str]:
        """The trials paused at a rung, in the order they paused."""
        return list(self._paused)

    def next_promotion(self, among: set[str] | None = None) -> str | None:
        """The paused trial to resume now, or ``None``: the best-ranked paused trial (of
        ``among``, when given) that its rung now ranks in its top ``floor(n / eta)``, highest
        rung first (ASHA's ``get_job``: promotable = top ``floor(n / eta)`` not yet
        promoted). The trial counts as promoted from then on (it is no longer paused)."""
        for rung in sorted(self._rungs, key=lambda r: (-r[1], r[0])):
            values = self._rungs[rung]
            waiting = [t for t in values if self._paused.get(t) == rung
                       and (among is None or t in among)]
            if not waiting:
                continue
            ids = list(values)
            losses = np.array([values[i] for i in ids]) * self._signs
            top = [ids[i] for i in selection_order(losses)[:promoted_count(
                len(ids), self._eta, self._promotion)]]
            promoted = self._promoted.setdefault(rung, set())
            for trial_id in top:
                if trial_id in waiting and trial_id not in promoted:
                    promoted.add(trial_id)
                    del self._paused[trial_id]
                    self._decisions.setdefault(trial_id, []).append(RungDecision(
                        epoch=rung[1], rank=top.index(trial_id), n=len(ids), kept=True))
                    return trial_id
        return None

    def finish(self) -> dict[str, int]:
        """End of the search: every trial still paused is pruned at its rung. Returns
        ``{trial id: epoch}`` of those trials."""
        ended = {trial_id: epoch for trial_id, (_, epoch) in self._paused.items()}
        self._pruned.update(ended)
        self._paused.clear()
        return ended

    # ------------------------------------------------------------------ Tune's hooks

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        return self.decide(trial.trial_id, result)

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self.add_trial(trial.trial_id)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._gone.add(trial.trial_id)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._gone.add(trial.trial_id)

    def add_trial(self, trial_id: str) -> None:
        """``trial_id`` is one of the search's trials (pending or running): it may still
        complete (Tune's ``on_trial_add``; module docstring, the last trial standing)."""
        self._added.add(trial_id)

    def _last_standing(self, trial_id: str) -> bool:
        """Whether no trial but ``trial_id`` has completed or may still complete (only once
        Tune added trials: the scheduler does not know the others otherwise)."""
        return bool(self._added) and not any(
            other != trial_id and other not in self._pruned and other not in self._paused
            and other not in self._gone for other in self._added)

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        """Tune's next trial: with ``promotion="pause"``, a paused trial that
        :meth:`next_promotion` promotes, else a pending one; a paused trial that is not
        promotable is never resumed. Otherwise FIFO (pending, then paused)."""
        if self._promotion != "pause":
            return super().choose_trial_to_run(tune_controller)
        from ray.tune.experiment import Trial

        trials = tune_controller.get_trials()
        paused = {t.trial_id: t for t in trials if t.status == Trial.PAUSED}
        promoted = self.next_promotion(set(paused)) if paused else None
        if promoted is not None:
            return paused[promoted]
        return next((t for t in trials if t.status == Trial.PENDING), None)

    def decide(self, trial_id: str, result: dict[str, Any]) -> str:
        """``CONTINUE``, ``STOP`` or (``promotion="pause"``) ``PAUSE`` for one per-epoch result
        of ``trial_id``."""
        epoch = result.get(EPOCH_KEY)
        if epoch is None or result.get("automtl/final"):
            return TrialScheduler.CONTINUE
        epoch = int(epoch)
        total = result.get(EPOCHS_TOTAL_KEY) or self._max_epochs or math.inf
        bracket = self.bracket(trial_id)
        if epoch not in rung_epochs(self._grace * self._eta**bracket, self._eta,
                                    int(min(total, 2**31))):
            return TrialScheduler.CONTINUE
        values = [float(result.get(m, math.nan)) for m in self._metrics]
        if not all(math.isfinite(v) for v in values):
            # A diverged trial: it can only lose; stop it (the searcher records why).
            self._pruned[trial_id] = epoch
            return TrialScheduler.STOP
        rung = self._rungs.setdefault((bracket, epoch), {})
        rung[trial_id] = values
        ids = list(rung)
        losses = np.array([rung[i] for i in ids]) * self._signs
        order = list(selection_order(losses))
        position = order.index(ids.index(trial_id))
        keep = promoted_count(len(ids), self._eta, self._promotion)
        within_noise = bool(np.any(self._epsilon > 0)) and not dominated_by_margin(
            losses, ids.index(trial_id), self._epsilon)
        kept = ((position < keep or within_noise) and trial_id not in self._first_rung_only) \
            or self._last_standing(trial_id)
        if self._promotion == "pause" and kept:  # in the top floor(n/eta): promoted at once
            self._promoted.setdefault((bracket, epoch), set()).add(trial_id)
        self._decisions.setdefault(trial_id, []).append(
            RungDecision(epoch=epoch, rank=position, n=len(ids), kept=kept))
        if kept:
            return TrialScheduler.CONTINUE
        if self._promotion == "pause" and trial_id not in self._first_rung_only:
            self._paused[trial_id] = (bracket, epoch)
            return TrialScheduler.PAUSE
        self._pruned[trial_id] = epoch
        return TrialScheduler.STOP

    def debug_string(self) -> str:
        return (f"MO-ASHA: rungs {sorted(self._rungs)}, "
                f"{len(self._pruned)} trials stopped")
