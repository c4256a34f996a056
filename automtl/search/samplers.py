"""The Optuna samplers a job can name, seeded from the job's seed.

``tpe`` (default) is multivariate TPE with ``group=True``: it models the parameters of each
conditional branch (e.g. ``ple/levels`` only when the topology is ``ple``) jointly within the
group of trials that sampled that branch, so conditional search spaces are searched properly;
``constant_liar=True`` counts running trials as bad results, so concurrent workers are not all
sent to the same region.
``nsga2``, ``nsga3`` and ``gp`` only model the *intersection* search space (the parameters that
every trial has); in a conditional space the branch-specific parameters are sampled at random
by their independent sampler. ``random`` samples everything uniformly.

With MO-ASHA (``rung_modes`` given), ``tpe`` is :class:`RungAwareTPESampler`: Optuna's TPE,
except that it ranks the pruned trials by the values they had at the deepest rung they reached
(see there); the trials stay PRUNED in the study.

Constraints reach every sampler the same way: the searcher calls ``Trial.set_constraint`` before
telling a result (Optuna 5 deprecates ``constraints_func`` in favour of it); TPE, NSGA-II/III and
GP read ``trial.constraints`` and ``Study.best_trials`` drops infeasible trials.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from automtl.jobspec import SAMPLERS
from automtl.trial_record import ATTR_RUNGS, stored_attrs

#: the names a job may give (one list, :data:`automtl.jobspec.SAMPLERS`)
SAMPLER_NAMES: tuple[str, ...] = SAMPLERS


def nsga_population_size(trials: int) -> int:
    """A generation small enough that a budget of ``trials`` sees several of them (4..50)."""
    return max(4, min(50, trials // 3))


def make_sampler(name: str, seed: int, trials: int,
                 rung_modes: dict[str, str] | None = None) -> BaseSampler:
    """The sampler called ``name``; an unknown name raises ``KeyError`` listing the valid ones.

    ``rung_modes`` (``{metric: "max" | "min"}``, :attr:`MOASHAScheduler.modes`) is given when
    MO-ASHA stops trials: ``tpe`` then ranks pruned trials by their rung values
    (:class:`RungAwareTPESampler`); the other samplers ignore it."""
    if name == "tpe":
        with warnings.catch_warnings():
            # multivariate/group are marked experimental; they are the point of using TPE here.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if rung_modes:
                return RungAwareTPESampler(rung_modes, multivariate=True, group=True, seed=seed,
                                           constant_liar=True)
            return optuna.samplers.TPESampler(multivariate=True, group=True, seed=seed,
                                              constant_liar=True)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=nsga_population_size(trials),
                                             seed=seed)
    if name == "nsga3":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.NSGAIIISampler(population_size=nsga_population_size(trials),
                                                  seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise KeyError(f"unknown sampler {name!r}; valid: {list(SAMPLER_NAMES)}")


def deepest_rung(trial: FrozenTrial, rung_modes: dict[str, str]) -> tuple[int, list[float]] | None:
    """``(epoch, values)`` of the deepest rung at which ``trial`` has a finite value of every
    metric in ``rung_modes`` (its :data:`~automtl.trial_record.ATTR_RUNGS` attribute), the
    values as losses (lower is better, in ``rung_modes`` order); ``None`` when it has none."""
    rungs = stored_attrs(trial).get(ATTR_RUNGS) or {}
    best: tuple[int, list[float]] | None = None
    for epoch, values in rungs.items():
        try:
            losses = [(-1.0 if mode == "max" else 1.0) * float(values[metric])
                      for metric, mode in rung_modes.items()]
        except (KeyError, TypeError, ValueError):
            continue
        if all(map(math.isfinite, losses)) and (best is None or int(epoch) > best[0]):
            best = (int(epoch), losses)
    return best


def rank_pruned_trials(trials: Sequence[FrozenTrial],
                       rung_modes: dict[str, str]) -> list[FrozenTrial]:
    """Pruned trials from best to worst: deeper rung first, then within a rung by MO-ASHA's
    own order of their values there (:func:`~automtl.search.mo_asha.selection_order`:
    non-domination rank, crowding distance, trial number); trials without rung values last,
    by number. The multi-objective form of Optuna's rule for pruned trials in single-objective
    TPE (by deepest step, then the intermediate value there), which multi-objective studies
    cannot use (they take no intermediate values)."""
    from automtl.search.mo_asha import selection_order  # numpy + moocore; ray stays unloaded

    by_rung: dict[int, list[tuple[FrozenTrial, list[float]]]] = {}
    unranked = []
    for trial in sorted(trials, key=lambda t: t.number):
        rung = deepest_rung(trial, rung_modes)
        if rung is None:
            unranked.append(trial)
        else:
            by_rung.setdefault(rung[0], []).append((trial, rung[1]))
    out: list[FrozenTrial] = []
    for epoch in sorted(by_rung, reverse=True):
        members = by_rung[epoch]
        order = selection_order(np.array([losses for _, losses in members], dtype=float))
        out.extend(members[i][0] for i in order)
    return out + unranked


def split_with_rungs(study: optuna.Study, trials: list[FrozenTrial], n_below: int,
                     rung_modes: dict[str, str]) -> tuple[list[FrozenTrial], list[FrozenTrial]]:
    """TPE's split of ``trials`` into the ``n_below`` good ones and the rest, as Optuna's
    (``optuna.samplers._tpe.sampler._split_trials``: feasible complete trials first, by
    non-domination rank and hypervolume contribution; then pruned; then infeasible by
    violation; running trials above), except that the pruned trials that fill the good group
    when there are fewer than ``n_below`` complete ones are the best by
    :func:`rank_pruned_trials`, not the earliest (Optuna gives every pruned trial of a
    multi-objective study the same score, so its stable sort picks them by trial number)."""
    from optuna.samplers._tpe.sampler import _get_infeasible_trial_score, _split_trials

    pruned = [t for t in trials if t.state == TrialState.PRUNED
              and _get_infeasible_trial_score(t) <= 0]
    if not pruned:
        return _split_trials(study, trials, n_below)
    pruned_numbers = {t.number for t in pruned}
    rest = [t for t in trials if t.number not in pruned_numbers]
    complete = sum(t.state == TrialState.COMPLETE and _get_infeasible_trial_score(t) <= 0
                   for t in rest)
    ranked = rank_pruned_trials(pruned, rung_modes)
    taken = max(0, n_below - complete)
    below_pruned, above_pruned = ranked[:taken], ranked[taken:]
    # the complete trials fill min(n_below, complete) places, infeasible ones what is left
    below, above = _split_trials(study, rest, n_below - len(below_pruned))
    key = lambda t: t.number  # noqa: E731 - Optuna's order of both groups
    return sorted(below + below_pruned, key=key), sorted(above + above_pruned, key=key)


class RungAwareTPESampler(optuna.samplers.TPESampler):
    """Optuna's TPE for a search whose trials MO-ASHA may stop: pruned trials are ranked by
    the values they had at the deepest rung they reached (:func:`split_with_rungs`), read
    from their :data:`~automtl.trial_record.ATTR_RUNGS` attribute (``rung_modes``:
    ``{metric: "max" | "min"}`` of those values). Every other argument is
    :class:`optuna.samplers.TPESampler`'s.

    Optuna's multi-objective TPE gives every pruned trial the same score (a multi-objective
    trial has no intermediate values), so when the good group (``gamma(n)`` trials, 10%) has
    room beyond the complete trials -- early in a search, or with a promotion rule that
    completes few trials -- it takes the earliest pruned trials, whatever rung they reached.
    This sampler fills that room with the best pruned ones instead. Only the split changes:
    ``_sample`` is Optuna 5.0's, with :func:`split_with_rungs` in place of ``_split_trials``
    (a private method of the pinned version, guarded by ``tests/search/test_samplers.py``).
    """

    def __init__(self, rung_modes: dict[str, str], **kwargs: Any) -> None:
        if not rung_modes or any(m not in ("max", "min") for m in rung_modes.values()):
            raise ValueError(f"rung_modes must map metrics to 'max' or 'min', got {rung_modes}")
        super().__init__(**kwargs)
        self.rung_modes = dict(rung_modes)

    def _sample(self, study: optuna.Study, trial: FrozenTrial,
                search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        states = [TrialState.COMPLETE, TrialState.PRUNED]
        if self._constant_liar:
            states.append(TrialState.RUNNING)
        trials = study._get_trials(deepcopy=False, states=tuple(states),
                                   use_cache=not self._constant_liar)
        if self._constant_liar:
            trials = [t for t in trials if t.number != trial.number]
        if self._gamma is None:
            from optuna.samplers._tpe.sampler import default_gamma, default_gamma_multiobjective

            self._gamma = (default_gamma if len(study.directions) <= 1
                           else default_gamma_multiobjective)
        n = sum(t.state != TrialState.RUNNING for t in trials)
        below, above = split_with_rungs(study, trials, self._gamma(n), self.rung_modes)
        mpe_below = self._build_parzen_estimator(study, search_space, below, handle_below=True)
        mpe_above = self._build_parzen_estimator(study, search_space, above, handle_below=False)
        samples = mpe_below.sample(self._rng.rng, self._n_ei_candidates)
        acquisition = self._compute_acquisition_func(samples, mpe_below, mpe_above)
        chosen = optuna.samplers.TPESampler._compare(samples, acquisition)
        return {name: dist.to_external_repr(chosen[name])
                for name, dist in search_space.items()}
