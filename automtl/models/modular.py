"""The common shape of every built-in topology: representations per tower task, then heads.

A topology implements :meth:`ModularMTL.represent` (one representation per tower task, the
shared representation, the gate weights) and says which of its modules are shared by all tasks
and which belong to one task. From that, this class derives :meth:`shared_parameters`, including
the task-specific parameters of an ESMM factor task, since the product task's loss reaches them
as well (so "shared" keeps its meaning: reached by more than one task's loss).
"""

from __future__ import annotations

import torch
from torch import nn

from automtl.config import ModelConfig
from automtl.models.base import MTLModel
from automtl.models.heads import TaskHeads, tower_task_names
from automtl.models.layers import InputLayer

#: (one representation per tower task, shared representation or None, gate weights per task)
Representation = tuple[list[torch.Tensor], torch.Tensor | None, list[torch.Tensor]]


def unique_parameters(modules: list[nn.Module]) -> list[nn.Parameter]:
    """Parameters of ``modules`` in order, each once."""
    seen: set[int] = set()
    params: list[nn.Parameter] = []
    for module in modules:
        for param in module.parameters():
            if id(param) not in seen:
                seen.add(id(param))
                params.append(param)
    return params


class ParameterHolder(nn.Module):
    """Wraps a bare parameter so :meth:`ModularMTL.shared_modules` / ``task_modules`` (lists of
    modules) can name it; not a submodule of the model."""

    def __init__(self, parameter: nn.Parameter) -> None:
        super().__init__()
        self.parameter = parameter


class ModularMTL(MTLModel):
    """Base of the built-in topologies; subclasses build ``self.heads`` and the parts."""

    heads: TaskHeads

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.tower_tasks = tower_task_names(config.tasks)
        self.num_towers = len(self.tower_tasks)

    def make_input(self) -> InputLayer:
        return InputLayer(self.config.inputs, self.config.embedding_dim)

    def make_heads(self, in_dim: int) -> TaskHeads:
        return TaskHeads(self.config, in_dim)

    # --- what a topology implements -------------------------------------------------------
    def represent(self, numeric: torch.Tensor, categorical: torch.Tensor) -> Representation:
        """Per-tower-task representations, the shared representation and gate weights."""
        raise NotImplementedError

    def shared_modules(self) -> list[nn.Module]:
        """Modules every tower task's output depends on."""
        raise NotImplementedError

    def task_modules(self, index: int) -> list[nn.Module]:
        """Modules only tower task ``index`` depends on (its tower is added automatically)."""
        return []

    # --- the MTLModel interface -----------------------------------------------------------
    def forward_shared(
        self, numeric: torch.Tensor, categorical: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        representations, shared, _ = self.represent(numeric, categorical)
        return self.heads(representations), shared

    def gate_weights(
        self, numeric: torch.Tensor, categorical: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        _, _, gates = self.represent(numeric, categorical)
        return dict(zip(self.tower_tasks, gates, strict=True)) if gates else {}

    def shared_parameters(self) -> list[nn.Parameter]:
        modules = list(self.shared_modules())
        for index in self.heads.factor_indices:
            modules += self.task_modules(index) + [self.heads.towers[index]]
        return unique_parameters(modules)

    def last_shared_parameters(self) -> list[nn.Parameter]:
        return []
