"""The experts' fused products (issue 16) compute what one MLP per expert and one weighted sum
per gate compute: values and gradients, on every input path (shared input, one input per
expert, one input per group of experts), and PLE/CGC's one-bmm mixing of task and shared
experts, whose shared slice stays the representation the gradient methods differentiate."""

from __future__ import annotations

import pytest
import torch

from automtl.config import (
    ArchitectureConfig,
    CategoricalFeature,
    InputSchema,
    ModelConfig,
    NumericFeature,
    TaskSpec,
)
from automtl.models import build_model
from automtl.models.cgc import ExtractionLayer
from automtl.models.layers import Experts, Gate, mix, mix_gates
from automtl.models.params import PLEParams
from automtl.models.ple import PLE

SCHEMA = InputSchema(
    numeric=[NumericFeature(name=f"x{i}") for i in range(4)],
    categorical=[CategoricalFeature(name="city", vocabulary=list("abcde"))])
TASKS = [TaskSpec(name="click"), TaskSpec(name="like"), TaskSpec(name="watch_time",
                                                                 type="regression")]


def reference_expert(experts: Experts, index: int, inputs: torch.Tensor) -> torch.Tensor:
    """Expert ``index`` as a plain MLP (no normalisation): ``[B, in]`` -> ``[B, out]``."""
    hidden = inputs
    for weight, bias in zip(experts.weights, experts.biases, strict=True):
        hidden = experts.activation(hidden @ weight[index] + bias[index])
    return hidden


def weight_grads(experts: Experts, output: torch.Tensor, probe: torch.Tensor
                 ) -> list[torch.Tensor]:
    return list(torch.autograd.grad((output * probe).sum(), list(experts.parameters())))


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("units", [[6], [6, 3]])
def test_every_input_path_equals_one_mlp_per_expert(activation: str, units: list[int]) -> None:
    torch.manual_seed(0)
    experts = Experts(4, 5, units, activation)
    assert experts.relu_in_place == (activation == "relu")
    shared = torch.randn(8, 5)
    own = torch.randn(8, 4, 5)
    groups = [torch.randn(8, 5) for _ in range(3)]
    counts = [1, 2, 1]
    group_of = [0, 1, 1, 2]
    cases = {
        "shared": (experts(shared), [shared] * 4),
        "per expert": (experts(own), [own[:, e] for e in range(4)]),
        "groups": (experts.forward_groups(list(zip(groups, counts, strict=True))),
                   [groups[group_of[e]] for e in range(4)]),
    }
    for name, (output, inputs) in cases.items():
        expected = torch.stack([reference_expert(experts, e, inputs[e]) for e in range(4)], 1)
        assert output.shape == (8, 4, units[-1]), name
        torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-6, msg=name)
        probe = torch.randn_like(expected)
        for got, want in zip(weight_grads(experts, output, probe),
                             weight_grads(experts, expected, probe), strict=True):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6, msg=name)


def test_groups_must_cover_every_expert() -> None:
    experts = Experts(3, 4, [2], "relu")
    with pytest.raises(ValueError, match="groups: 2 experts given, 3 expected"):
        experts.forward_groups([(torch.randn(2, 4), 2)])


def test_one_bmm_over_all_gates_equals_each_gates_weighted_sum() -> None:
    torch.manual_seed(0)
    experts = torch.randn(5, 3, 4, requires_grad=True)
    gates = [torch.softmax(torch.randn(5, 3), -1).requires_grad_() for _ in range(2)]
    mixed = mix_gates(gates, experts)
    expected = [(g.unsqueeze(-1) * experts).sum(1) for g in gates]
    for got, want, gate in zip(mixed, expected, gates, strict=True):
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(mix(gate, experts), want)
    probe = [torch.randn(5, 4) for _ in gates]
    got = torch.autograd.grad(sum((m * p).sum() for m, p in zip(mixed, probe, strict=True)),
                              [experts, *gates])
    want = torch.autograd.grad(sum((m * p).sum() for m, p in zip(expected, probe,
                                                                   strict=True)),
                               [experts, *gates])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


def make_ple(levels: int, shared: int, task: int) -> PLE:
    torch.manual_seed(0)
    arch = ArchitectureConfig(topology="ple", tower_units=[4], embedding_dim=3,
                              params=PLEParams(levels=levels, num_shared_experts=shared,
                                               num_task_experts=task, expert_units=[6]))
    model = build_model(ModelConfig.from_parts(arch, SCHEMA, TASKS))
    assert isinstance(model, PLE)
    return model


def reference_level(level: ExtractionLayer, task_inputs: list[torch.Tensor],
                    shared_input: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """One extraction layer the plain way: each expert an MLP of its own input, each gate a
    weighted sum over its own experts then the shared ones (Tang et al. RecSys 2020)."""
    k, s, tasks = level.num_task_experts, level.num_shared_experts, level.num_tasks
    inputs = [task_inputs[e // k] for e in range(tasks * k)] + [shared_input] * s
    outs = [reference_expert(level.experts, e, x) for e, x in enumerate(inputs)]
    shared_outs = outs[tasks * k:]
    mixed = []
    for t, gate in enumerate(level.task_gates):
        w = gate(task_inputs[t])
        seen = outs[t * k:(t + 1) * k] + shared_outs
        mixed.append(sum(w[:, j:j + 1] * o for j, o in enumerate(seen)))
    shared_out = None
    if level.shared_gate is not None:
        w = level.shared_gate(shared_input)
        shared_out = sum(w[:, j:j + 1] * o for j, o in enumerate(outs))
    return mixed, shared_out


@pytest.mark.parametrize(("levels", "shared", "task"), [(3, 2, 2), (2, 3, 0), (2, 0, 2),
                                                         (2, 1, 1)])
def test_ple_levels_equal_the_plain_per_expert_computation(levels: int, shared: int,
                                                           task: int) -> None:
    model = make_ple(levels, shared, task)
    numeric, categorical = torch.randn(7, 4), torch.randint(0, 6, (7, 1))
    features = model.inputs(numeric, categorical)
    task_inputs, shared_input = [features] * model.num_towers, features
    for level in model._levels():
        expected, expected_shared = reference_level(level, task_inputs, shared_input)
        got, got_shared, _, _ = level(task_inputs, shared_input)
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        assert (got_shared is None) == (expected_shared is None)
        if got_shared is not None:
            torch.testing.assert_close(got_shared, expected_shared, rtol=1e-5, atol=1e-6)
        task_inputs, shared_input = got, got_shared  # type: ignore[assignment]


def test_ple_shared_representation_carries_every_towers_gradient() -> None:
    # MGDA-UB / PCGrad on the representation differentiate each task's loss w.r.t. it: the
    # shared experts' slice must be what the mixing reads, not a side copy
    model = make_ple(2, 2, 1)
    outputs, representation = model.forward_shared(torch.randn(6, 4),
                                                   torch.randint(0, 6, (6, 1)))
    assert representation is not None
    for name in ("click", "like"):
        (grad,) = torch.autograd.grad(outputs[name].sum(), representation, retain_graph=True)
        assert grad.abs().sum() > 0, name


def make_ple_model(levels: int, shared: int, task: int, units: list[int], activation: str,
                   temperature: float = 1.0) -> PLE:
    torch.manual_seed(0)
    arch = ArchitectureConfig(
        topology="ple", tower_units=[4], embedding_dim=3, activation=activation,
        params=PLEParams(levels=levels, num_shared_experts=shared, num_task_experts=task,
                         expert_units=units, gate_temperature=temperature))
    model = build_model(ModelConfig.from_parts(arch, SCHEMA, TASKS))
    assert isinstance(model, PLE)
    return model


def reference_gate(gate: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """A gate the plain way: ``softmax(layers(x) / temperature)`` over the last dimension."""
    if gate.layers is None:
        return inputs.new_ones(inputs.shape[0], 1)
    return torch.softmax(gate.layers(inputs) / gate.temperature, dim=-1)


def reference_ple(model: PLE, numeric: torch.Tensor, categorical: torch.Tensor
                  ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The whole PLE forward the plain way, with the model's weights: the former per-column
    embedding lookups, each expert an MLP of its own input, each gate a softmax over its own
    experts and the shared ones and their weighted sum (Tang et al. RecSys 2020), the towers.
    Also the last level's shared experts ``[B, S, D]``, stacked from tensors the mixtures read
    (the representation whose gradients the gradient methods take)."""
    tables = [model.inputs.column_table(c) for c in range(model.inputs.num_categorical)]
    features = torch.cat([numeric] + [t[categorical[:, c]] for c, t in enumerate(tables)], 1)
    task_inputs, shared_input = [features] * model.num_towers, features
    shared_stack = None
    for level in model._levels():
        k, s, tasks = level.num_task_experts, level.num_shared_experts, level.num_tasks
        inputs = [task_inputs[e // k] for e in range(tasks * k)] + [shared_input] * s
        outs = [reference_expert(level.experts, e, x) for e, x in enumerate(inputs)]
        if s:
            shared_stack = torch.stack(outs[tasks * k:], dim=1)          # [B, S, D]
            outs = outs[:tasks * k] + list(shared_stack.unbind(1))
        mixed = []
        for t, gate in enumerate(level.task_gates):
            w = reference_gate(gate, task_inputs[t])
            seen = outs[t * k:(t + 1) * k] + outs[tasks * k:]
            mixed.append(sum(w[:, j:j + 1] * o for j, o in enumerate(seen)))
        if level.shared_gate is not None:
            w = reference_gate(level.shared_gate, shared_input)
            shared_input = sum(w[:, j:j + 1] * o for j, o in enumerate(outs))
        task_inputs = mixed  # type: ignore[assignment]
    return model.heads(task_inputs), shared_stack


@pytest.mark.parametrize(("levels", "shared", "task"), [(2, 2, 2), (3, 2, 1), (1, 3, 2),
                                                         (2, 3, 0), (2, 0, 2)])
@pytest.mark.parametrize(("units", "activation"), [([6], "relu"), ([6, 3], "relu"),
                                                   ([6], "gelu")])
def test_ple_forward_and_gradients_equal_a_reference_forward_with_the_same_weights(
        levels: int, shared: int, task: int, units: list[int], activation: str) -> None:
    # the one-bmm mixing, the shared experts kept as their own tensor at the last level, the
    # transposed gate softmax and the one embedding lookup compute the plain forward to 1e-6
    model = make_ple_model(levels, shared, task, units, activation)
    numeric, categorical = torch.randn(11, 4), torch.randint(0, 6, (11, 1))
    outputs, representation = model.forward_shared(numeric, categorical)
    expected, expected_shared = reference_ple(model, numeric, categorical)
    for name in expected:
        torch.testing.assert_close(outputs[name], expected[name], rtol=1e-6, atol=1e-6)
    params = [p for p in model.parameters() if p.requires_grad]
    probe = {name: torch.randn_like(value) for name, value in expected.items()}
    got = torch.autograd.grad(sum((outputs[n] * probe[n]).sum() for n in probe), params,
                              allow_unused=True, retain_graph=True)
    want = torch.autograd.grad(sum((expected[n] * probe[n]).sum() for n in probe), params,
                               allow_unused=True, retain_graph=True)
    for param, a, b in zip(params, got, want, strict=True):
        assert (a is None) == (b is None), param.shape
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    if shared:  # each task's gradient w.r.t. the representation: the shared experts' outputs
        assert representation is not None and expected_shared is not None
        torch.testing.assert_close(representation, expected_shared, rtol=1e-6, atol=1e-6)
        for name in ("click", "like"):
            (a,) = torch.autograd.grad(outputs[name].sum(), representation, retain_graph=True)
            (b,) = torch.autograd.grad(expected[name].sum(), expected_shared, retain_graph=True)
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            assert a.abs().sum() > 0


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_gate_is_the_softmax_of_its_logits_over_the_experts(kind: str,
                                                            temperature: float) -> None:
    torch.manual_seed(0)
    gate = Gate(7, 5, kind, [6], "relu", temperature)
    x = torch.randn(13, 7, requires_grad=True)
    weights = gate(x)
    expected = reference_gate(gate, x)
    assert weights.shape == (13, 5)
    torch.testing.assert_close(weights, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(13))
    probe = torch.randn(13, 5)
    params = [x, *gate.parameters()]
    got = torch.autograd.grad((weights * probe).sum(), params)
    want = torch.autograd.grad((expected * probe).sum(), params)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert Gate(7, 1, kind, [6], "relu")(x).tolist() == [[1.0]] * 13  # one expert: weight 1


def test_with_tail_needs_a_last_group_with_experts() -> None:
    experts = Experts(3, 4, [2], "relu")
    with pytest.raises(ValueError, match="the last group"):
        experts.forward_with_tail([(torch.randn(2, 4), 3), (torch.randn(2, 4), 0)])
