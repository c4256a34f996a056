"""Geometric loss strategy, GLS (Chennupati, Sistu, Yogamani & Rawashdeh, "MultiNet++:
Multi-Stream Feature Aggregation and Geometric Loss Strategy for Multi-Task Learning", CVPR
Workshops 2019).

The combined loss is the geometric mean of the task losses, ``(prod_k L_k)^(1/K)``, so its
gradient is ``sum_k GLS / (K L_k) grad L_k``: each task is weighted inversely to its own loss,
which makes the update invariant to rescaling any one loss. The reported weights are those
factors ``GLS / (K L_k)``. Tasks without labelled rows are left out of the product (K counts
the labelled ones); losses are clamped at ``min_loss`` so that a zero loss cannot zero the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from automtl.weighting.base import Weighting, WeightingContext
from automtl.weighting.params import GLSParams
from automtl.weighting.registry import register_weighting


@register_weighting("gls")
class GLSWeighting(Weighting[GLSParams]):
    """The geometric mean of the labelled tasks' losses."""

    Params = GLSParams

    def backward(self, losses: Mapping[str, torch.Tensor],
                 context: WeightingContext) -> dict[str, float]:
        p: GLSParams = self.params
        stacked = self.stacked(losses)
        active = [k for k, on in enumerate(self.present(context)) if on]
        weights = torch.zeros(self.num_tasks)
        if not active:
            return self.as_dict(weights)
        chosen = stacked[active].float().clamp_min(p.min_loss)
        geometric = chosen.log().mean().exp()  # [] the geometric mean, computed in log space
        geometric.backward()
        weights[active] = (geometric.detach() / (len(active) * chosen.detach())).cpu()
        return self.as_dict(weights)
