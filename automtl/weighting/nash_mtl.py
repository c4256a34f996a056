"""Nash-MTL (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya, "Multi-Task
Learning as a Bargaining Game", ICML 2022).

The Nash bargaining solution ``d = sum_k alpha_k g_k`` satisfies ``(G G^T alpha)_k = 1 /
alpha_k`` with ``alpha > 0``: each task's share of the improvement, ``g_k . d``, is
``1 / alpha_k``. That is the stationarity condition of the convex problem
``min_{alpha > 0} 1/2 alpha^T G G^T alpha - sum_k log alpha_k``, solved here exactly by CVXPY
(an exponential-cone program, compiled once per task count and re-solved with new data) instead
of the authors' sequence of linearised programs. For orthogonal gradients
``alpha_k = 1 / ||g_k||``. When the gradients leave no common descent direction (e.g. two
opposite ones) the problem is unbounded: a ridge ``ridge * trace(G G^T) / K`` on the Gram
matrix keeps it solvable (the update then shrinks toward 0). ``max_weight`` caps each weight.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from automtl.weighting.gradient import Combination, GradientWeighting, psd_root
from automtl.weighting.params import NashMTLParams
from automtl.weighting.registry import register_weighting


class NashProblem:
    """The bargaining program for K tasks, compiled once (CVXPY parameters, DPP)."""

    def __init__(self, num: int, max_weight: float) -> None:
        import cvxpy as cp  # here, not at import: cvxpy takes 0.5 s to import in every worker

        self.alpha = cp.Variable(num, pos=True)
        self.root = cp.Parameter((num, num))
        objective = 0.5 * cp.sum_squares(self.root @ self.alpha) - cp.sum(cp.log(self.alpha))
        self.problem = cp.Problem(cp.Minimize(objective), [self.alpha <= max_weight])

    def solve(self, gram: np.ndarray) -> np.ndarray:
        """``alpha`` [K]; an "optimal_inaccurate" status (an ill-conditioned Gram matrix, e.g.
        nearly parallel gradients) is accepted, anything else raises ``RuntimeError``."""
        import cvxpy as cp

        self.root.value = psd_root(torch.from_numpy(gram)).numpy()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            self.problem.solve(solver=cp.CLARABEL)
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) \
                or self.alpha.value is None:
            raise RuntimeError(f"weighting 'nash_mtl': the solver returned "
                               f"{self.problem.status!r} for the Gram matrix {gram.tolist()}")
        return np.asarray(self.alpha.value, dtype=np.float64)


def nash_weights(gram: np.ndarray, ridge: float = 1e-6, max_weight: float = 1e6,
                 problem: NashProblem | None = None) -> np.ndarray:
    """``alpha`` [K] with ``gram @ alpha = 1 / alpha`` for a Gram matrix [K, K]."""
    num = gram.shape[0]
    scale = float(np.trace(gram)) / num
    regular = gram + ridge * max(scale, 1e-30) * np.eye(num)
    problem = problem or NashProblem(num, max_weight)
    return problem.solve(regular)


@register_weighting("nash_mtl")
class NashMTLWeighting(GradientWeighting[NashMTLParams]):
    """The Nash bargaining solution among the task gradients."""

    Params = NashMTLParams

    def __init__(self, task_names: Sequence[str], params: NashMTLParams | None = None,
                 **kwargs: Any) -> None:
        super().__init__(task_names, params, **kwargs)
        self.problems: dict[int, NashProblem] = {}

    def combine(self, grads: torch.Tensor, losses: torch.Tensor,
                active: Sequence[int]) -> Combination:
        p: NashMTLParams = self.params
        num = grads.shape[0]
        if num not in self.problems:
            self.problems[num] = NashProblem(num, p.max_weight)
        gram = (grads.double() @ grads.double().T).cpu().numpy()
        alpha = nash_weights(gram, p.ridge, p.max_weight, self.problems[num])
        return Combination(torch.from_numpy(alpha))
