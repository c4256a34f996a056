"""Task heads: one tower per task, plus ESMM product tasks, shared by every topology.

A task with ``product_of=[a, b]`` has no tower: its probability is ``p(a) * p(b)`` (ESMM, Ma et
al. SIGIR 2018, p(ctcvr) = p(ctr) * p(cvr)). It is returned as a logit like every binary task,
computed in closed form from the two logits: with ``p = sigmoid(a) * sigmoid(b)``,
``p / (1 - p) = 1 / (e^-a + e^-b + e^-(a+b))``, so ``logit(p) = -logsumexp(-a, -b, -a-b)``,
which is exact and finite for any finite logits (no ``log(1 - p)`` cancellation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from automtl.config import ModelConfig, TaskSpec
from automtl.models.layers import Tower


def tower_task_names(tasks: Sequence[TaskSpec]) -> list[str]:
    """The tasks that get a tower of their own (every task that is not an ESMM product)."""
    return [t.name for t in tasks if not t.product_of]


def product_logit(logit_a: torch.Tensor, logit_b: torch.Tensor) -> torch.Tensor:
    """``logit(sigmoid(a) * sigmoid(b))``, stable for any finite logits."""
    terms = torch.stack([-logit_a, -logit_b, -(logit_a + logit_b)], dim=0)
    return -torch.logsumexp(terms, dim=0)


class TaskHeads(nn.Module):
    """Towers for the tower tasks (in :func:`tower_task_names` order) and ESMM products.

    ``forward`` takes one representation ``[B, in_dim]`` per tower task and returns
    ``{task: prediction [B]}`` for every task of the config, in config order.
    """

    def __init__(self, config: ModelConfig, in_dim: int) -> None:
        super().__init__()
        self.task_order = [t.name for t in config.tasks]
        self.tower_tasks = tower_task_names(config.tasks)
        index = {name: i for i, name in enumerate(self.tower_tasks)}
        #: product task -> (index of factor a, index of factor b) among the tower tasks
        self.products: dict[str, tuple[int, int]] = {
            t.name: (index[t.product_of[0]], index[t.product_of[1]])
            for t in config.tasks if t.product_of}
        #: tower-task indices whose output also feeds a product task
        self.factor_indices = sorted({i for pair in self.products.values() for i in pair})
        # A ModuleList, not a ModuleDict: task names such as "training" or "keys" would clash
        # with nn.Module / ModuleDict attributes.
        self.towers = nn.ModuleList(
            Tower(in_dim, config.tower_units, config.activation, config.dropout,
                  config.normalization)
            for _ in self.tower_tasks)

    def forward(self, representations: Sequence[torch.Tensor],
                offsets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``offsets`` ``[B, towers]`` (optional) are added to the towers' outputs before ESMM
        products are formed (STAR's auxiliary logits)."""
        tower_out = [tower(rep) for tower, rep in zip(self.towers, representations, strict=True)]
        if offsets is not None:
            tower_out = [out + offsets[:, i] for i, out in enumerate(tower_out)]
        by_name = dict(zip(self.tower_tasks, tower_out, strict=True))
        outputs: dict[str, torch.Tensor] = {}
        for name in self.task_order:
            if name in self.products:
                a, b = self.products[name]
                outputs[name] = product_logit(tower_out[a], tower_out[b])
            else:
                outputs[name] = by_name[name]
        return outputs
