"""The Optuna samplers a job can name, seeded from the job's seed.

``tpe`` (default) is multivariate TPE with ``group=True``: it models the parameters of each
conditional branch (e.g. ``ple/levels`` only when the topology is ``ple``) jointly within the
group of trials that sampled that branch, so conditional search spaces are searched properly;
``constant_liar=True`` counts running trials as bad results, so concurrent workers are not all
sent to the same region.
``nsga2``, ``nsga3`` and ``gp`` only model the *intersection* search space (the parameters that
every trial has); in a conditional space the branch-specific parameters are sampled at random
by their independent sampler. ``random`` samples everything uniformly.

Constraints reach every sampler the same way: the searcher calls ``Trial.set_constraint`` before
telling a result (Optuna 5 deprecates ``constraints_func`` in favour of it); TPE, NSGA-II/III and
GP read ``trial.constraints`` and ``Study.best_trials`` drops infeasible trials.
"""

from __future__ import annotations

import warnings

import optuna
from optuna.samplers import BaseSampler

from automtl.jobspec import SAMPLERS

#: the names a job may give (one list, :data:`automtl.jobspec.SAMPLERS`)
SAMPLER_NAMES: tuple[str, ...] = SAMPLERS


def nsga_population_size(trials: int) -> int:
    """A generation small enough that a budget of ``trials`` sees several of them (4..50)."""
    return max(4, min(50, trials // 3))


def make_sampler(name: str, seed: int, trials: int) -> BaseSampler:
    """The sampler called ``name``; an unknown name raises ``KeyError`` listing the valid ones."""
    if name == "tpe":
        with warnings.catch_warnings():
            # multivariate/group are marked experimental; they are the point of using TPE here.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
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
