"""Building blocks shared by every topology: input layer, MLP, batched experts, gates, towers.

The experts of one layer are stored as one weight tensor ``[E, in, out]`` and evaluated as one
matrix product, never a Python loop over expert modules, so MMoE with 16 experts costs one
kernel per layer rather than sixteen: a first layer whose experts all read the same input is one
``[B, in] x [in, E*out]`` GEMM with the bias fused (``addmm``), other layers one ``baddbmm`` over
experts. All gates over the same experts are mixed in one ``bmm`` (:func:`mix_gates`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from automtl.config import InputSchema

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


def make_activation(name: str) -> nn.Module:
    """The activation module for a config name; an unknown name lists the valid ones."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"activation: unknown {name!r}; valid: {sorted(_ACTIVATIONS)}") from None


class InputLayer(nn.Module):
    """Numeric features (already standardised by the data layer) concatenated with an
    embedding of ``embedding_dim`` per categorical feature (index 0 = out of vocabulary):
    ``[B, n_num]`` float and ``[B, n_cat]`` int64 -> ``[B, n_num + n_cat * embedding_dim]``.

    Every column's table is a block of rows of one ``nn.Embedding`` (``embeddings``,
    ``[sum of cardinalities, embedding_dim]``; column c's index i is row ``offsets[c] + i``),
    so a batch is one lookup and its backward one scatter, not one per column (each a
    separate gather, a separate gradient and a separate Adam tensor). The indices are not
    range-checked per column: an index of column c at or above its cardinality reads column
    c+1's rows (the data layer maps unseen values to 0; an index past the last table raises).
    :meth:`column_table` is column c's table as a view. State dicts of the former layout (one
    ``embeddings.<c>.weight`` per column) load into this one.
    """

    offsets: torch.Tensor  # [n_cat] int64: each column's first row in the table

    def __init__(self, schema: InputSchema, embedding_dim: int) -> None:
        super().__init__()
        self.num_numeric = len(schema.numeric)
        self.cardinalities = [f.cardinality for f in schema.categorical]
        self.num_categorical = len(self.cardinalities)
        starts = [0]
        for cardinality in self.cardinalities:
            starts.append(starts[-1] + cardinality)
        self.starts = starts
        self.register_buffer("offsets", torch.tensor(starts[:-1], dtype=torch.long),
                             persistent=False)
        self.embeddings: nn.Embedding | None = None
        if self.cardinalities:
            table = torch.empty(starts[-1], embedding_dim)
            blocks = [table[a:b] for a, b in zip(starts, starts[1:], strict=False)]
            # the random draws of one nn.Embedding per column (its own N(0, 1) init, then the
            # re-init below), in the same order: a seed gives the weights it gave before
            for block in blocks:
                nn.init.normal_(block)
            # Small initial embeddings (std 0.01, as CTR libraries such as DeepCTR do): torch's
            # default N(0, 1) swamps the standardised numeric inputs and cost up to 0.05
            # validation AUC on categorical data at equal epochs (benchmarks/peer_throughput.py)
            for block in blocks:
                nn.init.normal_(block, mean=0.0, std=0.01)
            self.embeddings = nn.Embedding(starts[-1], embedding_dim, _weight=table)
        self.output_dim = self.num_numeric + self.num_categorical * embedding_dim

    def column_table(self, column: int) -> torch.Tensor:
        """Column ``column``'s embedding table ``[cardinality, embedding_dim]``, a view of the
        shared weight (writes go through). IndexError for a column that does not exist."""
        if self.embeddings is None or not 0 <= column < self.num_categorical:
            raise IndexError(f"column: {column} is not one of {self.num_categorical} "
                             "categorical columns")
        return self.embeddings.weight[self.starts[column]:self.starts[column + 1]]

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        if self.embeddings is None:
            # nothing to concatenate: the numeric block itself (a copy would cost [B, n_num])
            return numeric
        looked_up = self.embeddings(categorical + self.offsets)           # [B, n_cat, dim]
        flat = looked_up.view(looked_up.shape[0], -1)                     # [B, n_cat * dim]
        return torch.cat([numeric, flat], dim=1) if self.num_numeric else flat

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str,
                              *args: Any, **kwargs: Any) -> None:
        # the former layout, one table per column: their concatenation is the shared table
        old = [f"{prefix}embeddings.{c}.weight" for c in range(self.num_categorical)]
        if old and all(key in state_dict for key in old):
            state_dict[f"{prefix}embeddings.weight"] = torch.cat(
                [state_dict.pop(key) for key in old], dim=0)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


NORMALIZATIONS = ("none", "batch", "layer")


def _check_normalization(name: str) -> None:
    if name not in NORMALIZATIONS:
        raise ValueError(f"normalization: unknown {name!r}; valid: {list(NORMALIZATIONS)}")


class RowSafeBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over ``[B, C]`` that normalises a one-row training batch with the
    running statistics (batch statistics of one row are undefined, and plain BatchNorm raises
    on them). The trainer does not drop the last, possibly one-row, batch of an epoch."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.training and inputs.shape[0] == 1:
            return nn.functional.batch_norm(inputs, self.running_mean, self.running_var,
                                            self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(inputs)


def make_normalization(name: str, width: int) -> nn.Module | None:
    """``BatchNorm1d`` / ``LayerNorm`` of ``width`` features for ``"batch"`` / ``"layer"``;
    ``None`` for ``"none"``. An unknown name lists the valid ones."""
    _check_normalization(name)
    if name == "batch":
        return RowSafeBatchNorm1d(width)
    if name == "layer":
        return nn.LayerNorm(width)
    return None


class MLP(nn.Sequential):
    """``Linear -> [norm] -> activation -> dropout`` for each width in ``units`` (no output
    layer). ``normalization`` is ``"none"``, ``"batch"`` (BatchNorm1d, as torch-rechub's MLP)
    or ``"layer"`` (LayerNorm, Ba et al. 2016); input ``[B, in]``, output ``[B, units[-1]]``."""

    def __init__(self, in_dim: int, units: Sequence[int], activation: str,
                 dropout: float = 0.0, normalization: str = "none") -> None:
        layers: list[nn.Module] = []
        for width in units:
            layers.append(nn.Linear(in_dim, width))
            norm = make_normalization(normalization, width)
            if norm is not None:
                layers.append(norm)
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = width
        super().__init__(*layers)
        self.output_dim = in_dim


def _uniform_fan_in(tensor: torch.Tensor, fan_in: int) -> None:
    # nn.Linear's default init (kaiming_uniform with a=sqrt(5)) is U(-1/sqrt(fan_in), +).
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    nn.init.uniform_(tensor, -bound, bound)


class ExpertNorm(nn.Module):
    """Normalisation of ``[B, E, D]`` expert activations, separately per expert, exactly as if
    each expert were an MLP with its own ``BatchNorm1d(D)`` / ``LayerNorm(D)``."""

    def __init__(self, kind: str, num_experts: int, width: int) -> None:
        super().__init__()
        _check_normalization(kind)
        if kind == "none":
            raise ValueError("ExpertNorm needs 'batch' or 'layer'")
        self.kind = kind
        self.num_experts, self.width = num_experts, width
        if kind == "batch":  # per expert and unit: one BatchNorm over the E*D columns
            self.batch_norm = RowSafeBatchNorm1d(num_experts * width)
        else:
            self.weight = nn.Parameter(torch.ones(num_experts, width))
            self.bias = nn.Parameter(torch.zeros(num_experts, width))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.kind == "batch":
            flat = hidden.reshape(hidden.shape[0], -1)            # [B, E*D]
            return self.batch_norm(flat).view_as(hidden)          # [B, E, D]
        normed = nn.functional.layer_norm(hidden, (self.width,))  # [B, E, D]
        return normed * self.weight + self.bias


class Experts(nn.Module):
    """``num_experts`` MLPs of identical shape, each layer one matrix product.

    The input is either ``[B, in]`` (every expert sees the same input: one ``[B, in] x
    [in, E*out]`` ``addmm``), ``[B, E, in]`` (each expert its own input: a ``baddbmm`` over
    experts) or, through :meth:`forward_groups`, one ``[B, in]`` per group of consecutive
    experts (one ``addmm`` per group); later layers are a ``baddbmm`` over experts. The output
    is ``[B, E, units[-1]]``. Weights are stored ``[E, in, out]`` whatever the path.
    Initialised like ``nn.Linear`` per expert (U(-1/sqrt(fan_in), 1/sqrt(fan_in)), what
    torch-rechub's ``nn.Linear`` experts get; DeepCTR-Torch draws its DNN weights from
    N(0, 1e-4) instead). ``normalization`` (``none`` / ``batch`` / ``layer``) goes between
    each linear layer and its activation, per expert (:class:`ExpertNorm`).
    """

    def __init__(self, num_experts: int, in_dim: int, units: Sequence[int], activation: str,
                 dropout: float = 0.0, normalization: str = "none") -> None:
        super().__init__()
        if not units:
            raise ValueError("expert_units: at least one layer is required")
        _check_normalization(normalization)
        self.num_experts = num_experts
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.norms = nn.ModuleList()
        for width in units:
            weight = torch.empty(num_experts, in_dim, width)
            bias = torch.empty(num_experts, width)
            _uniform_fan_in(weight, in_dim)
            _uniform_fan_in(bias, in_dim)
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(bias))
            self.norms.append(nn.Identity() if normalization == "none"
                              else ExpertNorm(normalization, num_experts, width))
            in_dim = width
        self.activation = make_activation(activation)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.output_dim = in_dim
        #: ReLU straight after a first-layer product applied in place on that product (no
        #: backward needs the product itself): one [B, E*out] tensor less per step
        self.relu_in_place = isinstance(self.activation, nn.ReLU) and normalization == "none"

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, in]`` (every expert reads it) or ``[B, E, in]`` (one input per expert) ->
        ``[B, E, out]``."""
        if inputs.dim() == 2:  # rank is static under tracing: shared input
            return self._rest(self._shared_first_layer(inputs, 0, self.num_experts))
        return self._rest(self._batched_layer(inputs, 0))

    def forward_groups(self, groups: Sequence[tuple[torch.Tensor, int]]) -> torch.Tensor:
        """Consecutive groups of experts, each reading its own ``[B, in]`` input: ``(input,
        number of experts)`` in expert order (their counts sum to ``num_experts``) ->
        ``[B, E, out]``. The first layer is one ``[B, in] x [in, n*out]`` product per group
        (PLE's task and shared experts at a level > 1), not a batched matmul over ``E`` copies
        of the inputs."""
        parts = self._group_products(groups)
        return self._rest(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))

    def forward_with_tail(self, groups: Sequence[tuple[torch.Tensor, int]]
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward_groups`, also returning the last group's outputs ``[B, n, out]`` as a
        tensor the whole ``[B, E, out]`` output is computed from, so a gradient taken with
        respect to it carries what every reader of the whole output sends to those experts
        (CGC/PLE's shared experts, the representation the gradient methods differentiate).

        With one ReLU layer and no dropout each group's product is activated in place and the
        groups are concatenated once (the concatenation's backward is free views); otherwise
        the whole output is computed, split and concatenated again (one copy more each way).
        """
        if not groups or groups[-1][1] < 1:
            raise ValueError("groups: the last group (the tail) needs at least one expert")
        if len(self.weights) == 1 and self.relu_in_place \
                and isinstance(self.dropout, nn.Identity):
            width = self.output_dim
            parts = [torch.relu_(part).view(part.shape[0], -1, width)
                     for part in self._group_products(groups)]               # [B, n, out]
            whole = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            return whole, parts[-1]
        whole = self.forward_groups(groups)
        tail = groups[-1][1]
        if tail == self.num_experts:
            return whole, whole
        head, last = whole.split([self.num_experts - tail, tail], dim=1)
        return torch.cat([head, last], dim=1), last

    def _group_products(self, groups: Sequence[tuple[torch.Tensor, int]]) -> list[torch.Tensor]:
        """Each non-empty group's first-layer product ``[B, n*out]``, in expert order."""
        parts, start = [], 0
        for inputs, count in groups:
            if count:
                parts.append(self._shared_first_layer(inputs, start, start + count))
                start += count
        if start != self.num_experts:
            raise ValueError(f"groups: {start} experts given, {self.num_experts} expected")
        return parts

    def _shared_first_layer(self, inputs: torch.Tensor, first: int, end: int) -> torch.Tensor:
        """Experts ``first..end-1``'s first linear layer on one shared ``[B, in]`` input: a
        single ``addmm`` (bias fused) with the weights laid out ``[in, n*out]`` ->
        ``[B, n*out]``, expert-major."""
        weight, bias = self.weights[0][first:end], self.biases[0][first:end]  # [n, in, out]
        count, in_dim, out_dim = weight.shape
        return torch.addmm(bias.reshape(count * out_dim), inputs,
                           weight.transpose(0, 1).reshape(in_dim, count * out_dim))

    def _batched_layer(self, hidden: torch.Tensor, layer: int) -> torch.Tensor:
        """Layer ``layer`` of every expert on its own input: ``[B, E, in]`` -> ``[B, E, out]``,
        one batched matmul over experts with the bias fused (``baddbmm``)."""
        weight, bias = self.weights[layer], self.biases[layer]
        return torch.baddbmm(bias.unsqueeze(1), hidden.transpose(0, 1),
                             weight).transpose(0, 1)                         # [B, E, out]

    def _rest(self, first: torch.Tensor) -> torch.Tensor:
        """The first layer's normalisation and activation on its product (``[B, E*out]``
        from :meth:`_shared_first_layer` or ``[B, E, out]``), then the remaining layers ->
        ``[B, E, units[-1]]``."""
        width = self.weights[0].shape[-1]
        if self.relu_in_place and first.dim() == 2:  # in place on a product, not on a view
            hidden = self.dropout(torch.relu_(first)).view(first.shape[0], -1, width)
        else:
            hidden = self.dropout(self.activation(self.norms[0](
                first.view(first.shape[0], -1, width))))                     # [B, E, out]
        for layer in range(1, len(self.weights)):
            hidden = self._batched_layer(hidden, layer)
            hidden = self.dropout(self.activation(self.norms[layer](hidden)))
        return hidden

    def parameters_per_expert(self) -> int:
        """Trainable parameters of one expert (weights, biases and its normalisation)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad) // self.num_experts

    def last_layer_parameters(self) -> list[nn.Parameter]:
        return [self.weights[-1], self.biases[-1]]


class Gate(nn.Module):
    """Softmax weights over ``num_experts`` experts from a gate input (Ma et al. KDD 2018).

    ``kind="linear"`` is one linear layer, ``"mlp"`` a small MLP of ``units`` before it; the
    logits are divided by ``temperature``. A gate over a single expert has no parameters (its
    softmax is constantly 1, so a linear layer there would never receive gradient).
    """

    def __init__(self, in_dim: int, num_experts: int, kind: str, units: Sequence[int],
                 activation: str, temperature: float = 1.0) -> None:
        super().__init__()
        if num_experts < 1:
            raise ValueError("a gate needs at least one expert")
        if kind not in ("linear", "mlp"):
            raise ValueError(f"gate_kind: unknown {kind!r}; valid: ['linear', 'mlp']")
        self.num_experts = num_experts
        self.temperature = float(temperature)
        self.layers: nn.Sequential | None = None
        if num_experts > 1:
            hidden = MLP(in_dim, units if kind == "mlp" else [], activation)
            self.layers = nn.Sequential(hidden, nn.Linear(hidden.output_dim, num_experts))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, in]`` -> ``[B, num_experts]`` weights, each row summing to 1 (a transposed
        view: the logits are computed as ``[num_experts, B]`` so that the softmax runs along
        the batch-long dimension: over a last dimension of 4-8 experts the gate, forward and
        backward, cost 1.4-1.7x as much on CPU at batch 4096)."""
        if self.layers is None:
            return inputs.new_ones(inputs.shape[0], 1)
        hidden, output = self.layers[0](inputs), cast(nn.Linear, self.layers[1])  # [B, h]
        logits = torch.addmm(output.bias.unsqueeze(1), output.weight, hidden.t())  # [E, B]
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return torch.softmax(logits, dim=0).t()                               # [B, E]


def mix(weights: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
    """Gate-weighted sum of expert outputs: ``[B, E]`` x ``[B, E, D]`` -> ``[B, D]``."""
    return torch.bmm(weights.unsqueeze(1), experts).squeeze(1)


def mix_gates(weights: Sequence[torch.Tensor], experts: torch.Tensor) -> list[torch.Tensor]:
    """Every gate's weighted sum of the same experts in one batched matmul: ``G`` gates of
    ``[B, E]`` and experts ``[B, E, D]`` -> ``G`` mixtures of ``[B, D]``. (One ``einsum`` per
    gate cost several times as much on CPU: its backward is an outer-product ``bmm`` with an
    inner dimension of 1 per gate, plus the sum of the gates' gradients.)"""
    stacked = torch.stack(list(weights), dim=1)                          # [B, G, E]
    return list(torch.bmm(stacked, experts).unbind(1))                   # G x [B, D]


class Tower(nn.Module):
    """A task's head: an MLP of ``tower_units`` (normalised like the rest of the network)
    ending in ``outputs`` outputs, returned as ``[B]`` when there is one (a binary logit, a
    regression value) and as ``[B, outputs]`` otherwise (a multiclass task's logits)."""

    def __init__(self, in_dim: int, units: Sequence[int], activation: str,
                 dropout: float = 0.0, normalization: str = "none", outputs: int = 1) -> None:
        super().__init__()
        self.hidden = MLP(in_dim, units, activation, dropout, normalization)
        self.output = nn.Linear(self.hidden.output_dim, outputs)
        self.outputs = outputs

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        out = self.output(self.hidden(inputs))
        return out.squeeze(-1) if self.outputs == 1 else out
