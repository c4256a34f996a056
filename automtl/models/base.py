"""The interface every multi-task network implements.

A model takes the dataset's two input tensors (standardised numeric features ``[B, n_num]``
float32 and categorical indices ``[B, n_cat]`` int64, either may have zero columns) and returns
``{task_name: prediction}``: ``[B]`` logits for binary tasks, ``[B]`` values for regression
tasks, ``[B, C]`` logits for a multiclass task of C classes.

What loss-weighting strategies need is exposed through methods with a defined meaning rather
than attributes they hope exist:

- :meth:`forward_shared` also returns the shared representation (MGDA-UB differentiates the
  per-task losses with respect to it); ``None`` when nothing is shared (``single_task``);
- :meth:`last_shared_parameters` are the parameters of the last shared layer (GradNorm's W);
- :meth:`shared_parameters` are all parameters more than one task's loss reaches (PCGrad);
- :meth:`penalty` is the model-side regulariser the trainer adds to the training loss after
  each training forward (one mechanism for every topology): by default SNR's
  :meth:`l0_penalty`, the expected share of open gates, times the job's ``l0_lambda``;
  ``l2_constrained`` returns its columns' L2 distance, ``dselect_k`` its selectors' entropy
  term, each weighted by its own searchable setting; :meth:`gate_parameters` are trained at
  :meth:`gate_lr`; :meth:`sparsity` / :meth:`effective_parameters` report what was pruned;
- :meth:`output_penalty` is a model-side regulariser computed from a training batch's
  predictions, already weighted (AITM's behavioural expectation calibrator), which the trainer
  adds to the weighted task losses; ``None`` for topologies without one;
- :attr:`job_fields` names the optional job-spec fields a topology needs (``aitm``:
  ``sequence``, ``star``: ``domains``), copied from its ``Params.job_fields`` when it registers;
  a preset leaves the topology out of a job that lacks them, a space that names it is refused
  (:meth:`search_spaces.SearchSpace.for_job`);
- :meth:`gate_weights` gives each task's softmax weights over the experts it sees (expert
  utilisation, as in the PLE paper's figure 8).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from automtl.config import ModelConfig, TopologyParams, TrainConfig


class MTLModel(nn.Module):
    """Base class of every topology; subclasses register with ``@register_topology``."""

    topology_name: ClassVar[str] = ""
    #: the topology's own settings model (set when the topology registers)
    Params: ClassVar[type[TopologyParams]] = TopologyParams
    #: optional job-spec fields the topology cannot be built without (``{"sequence"}``,
    #: ``{"domains"}``), set from ``Params.job_fields`` when the topology registers
    job_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.task_names: list[str] = [t.name for t in config.tasks]

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs, _ = self.forward_shared(numeric, categorical)
        return outputs

    def forward_shared(
        self, numeric: torch.Tensor, categorical: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Predictions and the shared representation they are computed from."""
        raise NotImplementedError

    def shared_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters that receive gradient from more than one task."""
        raise NotImplementedError

    def last_shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the last shared layer (GradNorm); empty when nothing is shared."""
        raise NotImplementedError

    def gate_weights(
        self, numeric: torch.Tensor, categorical: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """``{task: [B, n_experts]}`` softmax weights of each task's (last-level) gate.

        Empty for topologies without gates.
        """
        return {}

    def l0_penalty(self) -> torch.Tensor | None:
        """Expected number of open gates (SNR); ``None`` for topologies without L0 gates."""
        return None

    def output_penalty(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """A weighted regulariser of one training batch's predictions ``{task: [B]}`` (logits
        for binary tasks), a scalar the trainer adds to the weighted task losses (AITM's
        calibrator); ``None`` for topologies without one."""
        return None
    def penalty(self, train: TrainConfig) -> torch.Tensor | None:
        """The weighted regulariser term (a scalar, loss units) the trainer adds to the loss of
        the training batch just forwarded, ramped up over :meth:`l0_warmup_epochs`; ``None``
        when there is none. By default :meth:`l0_penalty` times ``train.l0_lambda`` (SNR);
        a topology with a regulariser of its own overrides this and weights it with its own
        ``Params`` setting (a term that depends on the batch reads what the latest training
        forward kept)."""
        if train.l0_lambda <= 0:
            return None
        penalty = self.l0_penalty()
        return None if penalty is None else train.l0_lambda * penalty

    def gate_parameters(self) -> list[nn.Parameter]:
        """Parameters trained at :meth:`gate_lr` instead of the model's learning rate (SNR's
        hard-concrete ``log_alpha``); empty for other topologies."""
        return []

    def gate_lr(self) -> float | None:
        """Learning rate of :meth:`gate_parameters` (``None``: the model's own)."""
        return None

    def l0_warmup_epochs(self) -> float:
        """Epochs over which the trainer ramps the L0 weight up from 0 (SNR)."""
        return 0.0

    def sparsity(self) -> float | None:
        """Share of L0 gates that are exactly 0 at evaluation (SNR); ``None`` without gates."""
        return None

    def effective_parameters(self) -> int:
        """Parameters a prediction still depends on (pruned ones excluded); all of them for
        topologies that do not prune."""
        return self.num_parameters()

    def num_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
