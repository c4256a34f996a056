"""Constraints known before training, checked when a candidate is sampled.

A candidate's parameter count follows from its architecture and the dataset's input schema
alone, so a ``params_max`` constraint is checked at sampling: the model is built on PyTorch's
``meta`` device (shapes only, no memory, no initialisation cost) and counted. A candidate over
the bound is never trained; the searcher tells Optuna it is infeasible (its constraint value set,
the trial PRUNED, which TPE ranks with the infeasible trials) and samples another. The latency
bound needs a measurement and stays a post-training check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
import torch
from optuna.trial import TrialState
from torch.overrides import TorchFunctionMode

from automtl.config import Candidate, InputSchema, ModelConfig, TaskSpec
from automtl.jobspec import Constraints
from automtl.trial_record import ATTR_INFEASIBLE

#: user attribute with the parameter count measured at sampling
ATTR_STATIC_PARAMS = "automtl:static_params"


__all__ = ["ATTR_INFEASIBLE", "ATTR_STATIC_PARAMS", "InfeasibleCandidate",
           "check_static_constraints", "constraint_summary", "static_params"]


class InfeasibleCandidate(Exception):  # noqa: N818 - a verdict, not a failure
    """A sampled candidate violates a constraint known before training.

    ``costs`` are the static costs (``{"params": n}``), ``violations`` the constraint values
    (``value - bound`` > 0) by constraint name (``params_max``).
    """

    def __init__(self, costs: dict[str, float], violations: dict[str, float],
                 message: str) -> None:
        super().__init__(message)
        self.costs = costs
        self.violations = violations


def static_params(candidate: dict[str, Any] | Candidate, inputs: InputSchema,
                  tasks: Sequence[TaskSpec], sequence: list[str] | None = None) -> int:
    """The trainable parameters of the candidate's network (for the job's conversion
    ``sequence``, if any), counted on the meta device (with the candidate's vocabulary cap
    applied to the embedding tables)."""
    from automtl.data.vocabulary import narrow_schema
    from automtl.models.registry import build_model

    parsed = candidate if isinstance(candidate, Candidate) else \
        Candidate.model_validate(candidate)
    inputs = narrow_schema(inputs, parsed.vocabulary)[0]
    config = ModelConfig.from_parts(parsed.architecture, inputs, list(tasks), sequence)
    with torch.device("meta"), _SkipMetaInit():
        return int(build_model(config).num_parameters())


class _SkipMetaInit(TorchFunctionMode):
    """Skips random in-place initialisers (``normal_``, ``uniform_``, as ``Tensor`` methods or
    ``torch.nn.init`` functions) on meta tensors, which hold no values anyway.

    torch implements ``normal_`` on the meta device through a Python reference that imports
    ``torch._dynamo`` on first use: 3.5 s of the search driver (SNR's gates, every embedding
    table) while both worker slots waited on it (issue 14)."""

    _SKIPPED = frozenset({"normal_", "uniform_"})

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor")
        if getattr(func, "__name__", "") in self._SKIPPED and \
                isinstance(target, torch.Tensor) and target.is_meta:
            return target
        return func(*args, **kwargs)


def check_static_constraints(candidate: dict[str, Any] | Candidate, inputs: InputSchema,
                             tasks: Sequence[TaskSpec], constraints: Constraints,
                             sequence: list[str] | None = None) -> int:
    """The candidate's parameter count; raises :class:`InfeasibleCandidate` over ``params_max``."""
    params = static_params(candidate, inputs, tasks, sequence)
    bound = constraints.params_max
    if bound is not None and params > bound:
        raise InfeasibleCandidate({"params": float(params)}, {"params_max": float(params - bound)},
                                  f"{params:,} parameters > params_max {bound:,}: not trained")
    return params


def constraint_summary(study: optuna.Study, constraints: Constraints) -> str | None:
    """``"k of N trials meet params_max B (smallest P)"`` over every sampled trial with a known
    parameter count, or None without a ``params_max``."""
    bound = constraints.params_max
    if bound is None:
        return None
    counts = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                          TrialState.PRUNED)):
        params = trial.user_attrs.get(ATTR_STATIC_PARAMS)  # an int: never wide
        if params is not None:
            counts.append(int(params))
    if not counts:
        return None
    meeting = sum(1 for c in counts if c <= bound)
    return (f"{meeting} of {len(counts)} trials meet params_max {bound:,} "
            f"(smallest {min(counts):,})")
