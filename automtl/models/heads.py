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


def output_width(config: ModelConfig, task: TaskSpec) -> int:
    """Outputs of a task's tower: one per class for a multiclass task (its classes are stored
    with the encoders, :meth:`~automtl.config.InputSchema.class_labels`), else one."""
    if task.type != "multiclass":
        return 1
    # attribute reads only: the exported model.py runs this on a plain namespace config
    classes = [c.classes for c in config.inputs.classes if c.task == task.name]
    if not classes or len(classes[0]) < 3:
        raise ValueError(f"multiclass task {task.name!r} needs its classes (at least 3) in "
                         "the input schema (inputs.classes)")
    return len(classes[0])


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
    ``{task: prediction}`` for every task of the config, in config order: ``[B]`` (a logit or
    a value), ``[B, C]`` logits for a multiclass task of C classes (:func:`output_width`).
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
        by_name = {t.name: t for t in config.tasks}
        self.towers = nn.ModuleList(
            Tower(in_dim, config.tower_units, config.activation, config.dropout,
                  config.normalization, outputs=output_width(config, by_name[name]))
            for name in self.tower_tasks)

    def forward(self, representations: Sequence[torch.Tensor],
                offsets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``offsets`` ``[B, towers]`` (optional) are added to the towers' outputs before ESMM
        products are formed (STAR's auxiliary logits)."""
        tower_out = [tower(rep) for tower, rep in zip(self.towers, representations, strict=True)]
        if offsets is not None:
            # one offset per tower: added to each of a multiclass tower's [B, C] logits (where
            # softmax makes it a no-op; star's auxiliary network serves binary/regression)
            tower_out = [out + (offsets[:, i] if out.dim() == 1 else offsets[:, i, None])
                         for i, out in enumerate(tower_out)]
        by_name = dict(zip(self.tower_tasks, tower_out, strict=True))
        outputs: dict[str, torch.Tensor] = {}
        for name in self.task_order:
            if name in self.products:
                a, b = self.products[name]
                outputs[name] = product_logit(tower_out[a], tower_out[b])
            else:
                outputs[name] = by_name[name]
        return outputs
