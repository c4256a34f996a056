"""Targeted checks of adatt, dselect_k, sluice and l2_constrained (issue 17).

The shared suite (``test_model_zoo.py``) already runs over them, as over every registered
topology; these are the checks of what each paper says: closed-form parameter counts, AdaTT's
fusion formula, DSelect-k's k-sparse selection, the sluice alpha/beta mixing, and the L2
penalty between columns (and that the trainer applies it).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
import torch
from test_model_zoo import (
    SCHEMA,
    gate_params,
    input_dim_and_embedding_params,
    make_model,
    mlp_params,
    random_batch,
    tower_params,
)

from automtl.config import TaskSpec
from automtl.models.adatt import AdaTT, FusionLevel


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


THREE_TASKS = [TaskSpec(name=n) for n in ("click", "like", "share")]


# --- AdaTT --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("levels", "task_experts", "shared_experts", "gate_kind"),
                         [(1, 2, 1, "linear"), (3, 2, 2, "mlp"), (2, 1, 0, "linear"),
                          (2, 0, 3, "linear"), (3, 3, 1, "linear"), (2, 1, 1, "mlp")])
def test_adatt_parameter_count_closed_form(levels: int, task_experts: int, shared_experts: int,
                                           gate_kind: str) -> None:
    """Per level: E = T K + S experts; T task gates over all E (plus, at inner levels with
    shared experts, the shared gate); residual weights K per task when K > 1 and S for the
    shared unit at inner levels when S > 1 (a single own expert is added with weight 1)."""
    expert_units, towers, emb, gate_units = [16, 8], [4], 3, [5]
    model = make_model("adatt", tasks=THREE_TASKS, levels=levels, num_task_experts=task_experts,
                       num_shared_experts=shared_experts, expert_units=expert_units,
                       tower_units=towers, embedding_dim=emb, gate_kind=gate_kind,
                       gate_units=gate_units)
    in_dim, expected = input_dim_and_embedding_params(SCHEMA, emb)
    t = len(THREE_TASKS)
    total = t * task_experts + shared_experts
    for level in range(levels):
        inner = level < levels - 1
        expected += total * mlp_params(in_dim, expert_units)
        expected += t * gate_params(in_dim, total, gate_kind, gate_units)
        if inner and shared_experts > 0:
            expected += gate_params(in_dim, total, gate_kind, gate_units)
        if task_experts > 1:
            expected += t * task_experts
        if inner and shared_experts > 1:
            expected += shared_experts
        in_dim = expert_units[-1]
    expected += tower_params(in_dim, towers, t)
    assert model.num_parameters() == expected


@pytest.mark.parametrize(("task_experts", "shared_experts"), [(2, 2), (1, 1), (0, 2)])
def test_adatt_fusion_is_gated_sum_of_all_experts_plus_own_residual(task_experts: int,
                                                                    shared_experts: int) -> None:
    """f_t = sum_j g_tj E_j + sum_k v_tk E_tk (Li et al. 2023, eq. 3-5), written out per
    expert from the level's own parameters, and the shared unit likewise."""
    model = cast(AdaTT, make_model("adatt", tasks=THREE_TASKS, levels=2,
                                   num_task_experts=task_experts,
                                   num_shared_experts=shared_experts, expert_units=[6]))
    model.eval()
    level = cast(FusionLevel, model.levels[0])
    numeric, categorical = random_batch(SCHEMA, 9, seed=1)
    with torch.no_grad():
        features = model.inputs(numeric, categorical)
        outputs, shared_out, weights, experts = level([features] * 3, features)
        k, s = task_experts, shared_experts
        assert experts.shape == (9, 3 * k + s, 6)
        for t in range(3):
            gate = torch.softmax(level.task_gates[t].layers(features), dim=-1)
            expected = sum(gate[:, j:j + 1] * experts[:, j] for j in range(3 * k + s))
            for e in range(k):
                v = 1.0 if k == 1 else level.task_native[t][e]
                expected = expected + v * experts[:, t * k + e]
            torch.testing.assert_close(weights[t], gate)
            torch.testing.assert_close(outputs[t], expected)
        assert shared_out is not None
        gate = torch.softmax(level.shared_gate.layers(features), dim=-1)
        expected = sum(gate[:, j:j + 1] * experts[:, j] for j in range(3 * k + s))
        for e in range(s):
            v = 1.0 if s == 1 else level.shared_native[e]
            expected = expected + v * experts[:, 3 * k + e]
        torch.testing.assert_close(shared_out, expected)
    # the second level's task-t experts read f_t: changing f_t of task 0 moves them only
    second = cast(FusionLevel, model.levels[1])
    assert second.shared_gate is None  # the last level feeds the towers, not a shared unit
    if task_experts:
        with torch.no_grad():
            base = second.experts(second.expert_inputs(outputs, shared_out))
            moved = second.experts(second.expert_inputs([outputs[0] + 1.0, *outputs[1:]],
                                                        shared_out))
        changed = (base - moved).abs().amax(dim=(0, 2)) > 0
        assert changed.tolist() == [e < task_experts for e in range(3 * k + s)]
