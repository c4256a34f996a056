"""Expert utilisation: how much weight each task's gate gives each expert, on average.

The mean softmax gate weight per task and expert over a data split (the PLE paper's expert
utilisation, Tang et al. RecSys 2020, figure 8), from :meth:`MTLModel.gate_weights`. Models
without gates give an empty dict.
"""

from __future__ import annotations

import torch

from automtl.data.base import SplitTensors
from automtl.models.base import MTLModel

#: rows per forward pass, so a large split does not need one huge batch
BATCH_ROWS = 8192


def expert_utilisation(model: MTLModel, split: SplitTensors,
                       batch_rows: int = BATCH_ROWS) -> dict[str, list[float]]:
    """``{task: [mean gate weight of expert 0, 1, ...]}`` over every row of ``split``.

    The model runs in eval mode (restored afterwards) on its own device, without gradients.
    """
    if len(split) == 0:
        raise ValueError("expert_utilisation: the split has no rows")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    sums: dict[str, torch.Tensor] = {}
    try:
        with torch.no_grad():
            for start in range(0, len(split), batch_rows):
                batch = split.slice(start, start + batch_rows).to(device)
                for task, weights in model.gate_weights(batch.numeric, batch.categorical).items():
                    total = weights.double().sum(dim=0)
                    sums[task] = sums[task] + total if task in sums else total
    finally:
        model.train(was_training)
    return {task: [float(v) for v in (total / len(split)).cpu()] for task, total in sums.items()}
