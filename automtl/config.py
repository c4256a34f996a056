"""Typed, validated configuration: the contract between the DSL, the models, training and search.

A search-space sample is a :class:`Candidate` (architecture + weighting + training settings).
Bound to a dataset's :class:`InputSchema` and the job's :class:`TaskSpec` list, the architecture
becomes a :class:`ModelConfig`, which :func:`automtl.build_model` turns into a network.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from automtl._lazy import lazy_getattr

TaskType = Literal["binary", "regression"]
#: how a regression label is transformed before it is standardised (``log1p``: skewed, >= 0)
LabelTransform = Literal["none", "log1p"]
#: missing numeric feature values: impute (train mean + indicator) or refuse
MissingPolicy = Literal["impute", "error"]
Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu", "elu"]
GateKind = Literal["linear", "mlp"]

#: metric name -> (task types it applies to, direction of optimisation)
METRICS: dict[str, tuple[tuple[str, ...], str]] = {
    "auc": (("binary",), "maximize"),
    "logloss": (("binary",), "minimize"),
    "accuracy": (("binary",), "maximize"),
    "mse": (("regression",), "minimize"),
    "rmse": (("regression",), "minimize"),
    "mae": (("regression",), "minimize"),
    "r2": (("regression",), "maximize"),
}
DEFAULT_METRIC: dict[str, str] = {"binary": "auc", "regression": "mse"}

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StrictModel(BaseModel):
    """Base for every config: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def metric_direction(metric: str) -> str:
    """``"maximize"`` or ``"minimize"`` for a metric name."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {sorted(METRICS)}")
    return METRICS[metric][1]


class TaskSpec(StrictModel):
    """One prediction target.

    ``label`` is the dataset column (defaults to ``name``). A NaN label means the row is outside
    this task's sample space. ``product_of`` declares an ESMM task relation: the task's
    probability is the product of two other binary tasks' probabilities
    (p(ctcvr) = p(ctr) * p(cvr), Ma et al. SIGIR 2018).
    """

    name: str
    label: str | None = None
    type: TaskType = "binary"
    metric: str | None = None
    product_of: list[str] | None = None
    transform: LabelTransform = Field(
        "none", description="regression only: log1p trains on log(1 + y) (y must be >= 0)")
    weight: str | None = Field(
        None, description="a column of non-negative per-row weights for this task's loss and "
                          "metrics (importance or dwell-time weighting); missing weight = 0")

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"task name {value!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
        return value

    @model_validator(mode="after")
    def _defaults_and_checks(self) -> TaskSpec:
        if self.label is None:
            object.__setattr__(self, "label", self.name)
        if self.metric is None:
            object.__setattr__(self, "metric", DEFAULT_METRIC[self.type])
        types, _ = METRICS.get(self.metric, ((), ""))
        if self.metric not in METRICS:
            raise ValueError(f"metric: unknown metric {self.metric!r}; valid: {sorted(METRICS)}")
        if self.type not in types:
            valid = sorted(m for m, (t, _) in METRICS.items() if self.type in t)
            raise ValueError(f"metric: {self.metric!r} does not apply to {self.type} tasks; "
                             f"valid: {valid}")
        if self.transform != "none" and self.type != "regression":
            raise ValueError(f"transform: {self.transform!r} applies to regression tasks only")
        if self.product_of is not None:
            if self.type != "binary":
                raise ValueError("product_of: only binary tasks can be a product (ESMM)")
            if len(self.product_of) != 2 or self.name in self.product_of:
                raise ValueError("product_of: must name two other tasks")
        return self

    @property
    def direction(self) -> str:
        return metric_direction(str(self.metric))


def validate_task_list(tasks: list[TaskSpec]) -> list[TaskSpec]:
    """Names unique, ESMM references point at other binary, non-product tasks."""
    if not tasks:
        raise ValueError("at least one task is required")
    names = [t.name for t in tasks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate task names: {dupes}")
    by_name = {t.name: t for t in tasks}
    for t in tasks:
        for ref in t.product_of or []:
            if ref not in by_name:
                raise ValueError(f"task {t.name!r}: product_of names unknown task {ref!r}")
            if by_name[ref].type != "binary" or by_name[ref].product_of:
                raise ValueError(f"task {t.name!r}: product_of task {ref!r} must be a plain "
                                 "binary task")
    return tasks


class NumericFeature(StrictModel):
    """A numeric column, standardised with train-split statistics: (x - mean) / std.

    A missing value is replaced by ``fill`` (the train mean, raw units) before standardising.
    With ``indicator_of`` set, the feature is not a column of the data but the 0/1 missing
    indicator of that column (``mean`` 0, ``std`` 1: it enters the network as 0 or 1).
    """

    name: str
    mean: float = 0.0
    std: float = 1.0
    fill: float = 0.0
    indicator_of: str | None = None

    @property
    def source(self) -> str:
        """The data column this feature reads."""
        return self.indicator_of or self.name


class CategoricalFeature(StrictModel):
    """A categorical column. Index 0 is out-of-vocabulary; value ``vocabulary[i]`` is i + 1."""

    name: str
    vocabulary: list[str] = Field(default_factory=list)

    @property
    def cardinality(self) -> int:
        return len(self.vocabulary) + 1


class LabelScaling(StrictModel):
    """How a regression task's label is scaled for training: ``(t(y) - mean) / std`` with ``t``
    the task's ``transform``; predictions are mapped back with the inverse, so metrics and
    exported predictions are in the label's original units."""

    task: str
    transform: LabelTransform = "none"
    mean: float = 0.0
    std: float = 1.0


class InputSchema(StrictModel):
    """What the network sees: the feature columns with their preprocessing statistics, and
    the train-split scaling of each regression label (``labels``)."""

    numeric: list[NumericFeature] = Field(default_factory=list)
    categorical: list[CategoricalFeature] = Field(default_factory=list)
    labels: list[LabelScaling] = Field(default_factory=list)
    missing: MissingPolicy = "impute"

    def label_scaling(self, task: str) -> LabelScaling | None:
        for scaling in self.labels:
            if scaling.task == task:
                return scaling
        return None

    @model_validator(mode="after")
    def _not_empty(self) -> InputSchema:
        if not self.numeric and not self.categorical:
            raise ValueError("the input schema has no features")
        return self

    @property
    def numeric_names(self) -> list[str]:
        """The data columns read as numbers (missing indicators are not columns)."""
        return [f.name for f in self.numeric if f.indicator_of is None]

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.categorical]


class SNRConfig(StrictModel):
    """Sub-network routing (Ma et al. AAAI 2019) with hard-concrete gates (Louizos et al. 2018)."""

    layers: int = Field(2, ge=1, le=6, description="layers of sub-networks")
    subnetworks: int = Field(3, ge=1, le=32, description="sub-networks per layer")
    beta: float = Field(2 / 3, gt=0.0, description="hard-concrete temperature")
    gamma: float = Field(-0.1, lt=0.0, description="stretch interval lower end")
    zeta: float = Field(1.1, gt=1.0, description="stretch interval upper end")


class ArchitectureConfig(StrictModel):
    """The searched part of a network: topology and sizes, independent of the dataset.

    Which fields matter depends on ``topology``:

    - ``single_task``, ``shared_bottom``, ``cross_stitch``: ``bottom_units`` (per-task columns for
      ``single_task`` and ``cross_stitch``, one shared bottom for ``shared_bottom``);
    - ``omoe``, ``mmoe``: ``num_shared_experts`` experts of ``expert_units``;
    - ``cgc``, ``ple``: ``num_shared_experts`` + ``num_task_experts`` per task, ``levels`` (ple);
    - ``snr_trans``, ``snr_avg``: ``snr`` (sub-networks of ``expert_units`` each).

    Every topology uses ``embedding_dim``, ``tower_units``, ``activation``, ``dropout``; gated
    ones use ``gate_kind``, ``gate_units`` and ``gate_temperature``.
    """

    topology: str = "mmoe"
    embedding_dim: int = Field(8, ge=1, le=256)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    bottom_units: list[int] = Field(default_factory=lambda: [128, 64])
    num_shared_experts: int = Field(4, ge=0, le=64)
    num_task_experts: int = Field(1, ge=0, le=16)
    expert_units: list[int] = Field(default_factory=lambda: [64])
    gate_kind: GateKind = "linear"
    gate_units: list[int] = Field(default_factory=lambda: [16])
    gate_temperature: float = Field(1.0, gt=0.0)
    tower_units: list[int] = Field(default_factory=lambda: [32])
    levels: int = Field(1, ge=1, le=8)
    snr: SNRConfig = Field(default_factory=SNRConfig)

    @field_validator("bottom_units", "expert_units", "tower_units", "gate_units")
    @classmethod
    def _positive_units(cls, value: list[int]) -> list[int]:
        bad = [u for u in value if u < 1]
        if bad:
            raise ValueError(f"layer widths must be >= 1, got {value}")
        return value

    @field_validator("topology")
    @classmethod
    def _known_topology(cls, value: str) -> str:
        from automtl.models.registry import available_topologies

        valid = available_topologies()
        if value not in valid:
            raise ValueError(f"unknown topology {value!r}; valid: {valid}")
        return value

    @model_validator(mode="after")
    def _sizes_make_a_model(self) -> ArchitectureConfig:
        if self.topology in ("omoe", "mmoe") and self.num_shared_experts < 1:
            raise ValueError(f"num_shared_experts: {self.topology} needs at least one expert")
        if self.topology in ("cgc", "ple") and self.num_shared_experts + self.num_task_experts < 1:
            raise ValueError("num_task_experts: cgc/ple need at least one expert per gate")
        if self.topology in ("omoe", "mmoe", "cgc", "ple", "snr_trans", "snr_avg") and \
                not self.expert_units:
            raise ValueError("expert_units: at least one layer is required")
        if self.topology in ("shared_bottom", "single_task", "cross_stitch") and \
                not self.bottom_units:
            raise ValueError("bottom_units: at least one layer is required")
        if self.gate_kind == "mlp" and not self.gate_units:
            raise ValueError("gate_units: an mlp gate needs at least one hidden layer")
        return self


class ModelConfig(ArchitectureConfig):
    """An architecture bound to a dataset's inputs and the job's tasks: enough to build it."""

    inputs: InputSchema
    tasks: list[TaskSpec]

    @field_validator("tasks")
    @classmethod
    def _tasks_consistent(cls, value: list[TaskSpec]) -> list[TaskSpec]:
        return validate_task_list(value)

    @classmethod
    def from_parts(cls, architecture: ArchitectureConfig, inputs: InputSchema,
                   tasks: list[TaskSpec]) -> ModelConfig:
        return cls(**architecture.model_dump(), inputs=inputs, tasks=tasks)

    def architecture(self) -> ArchitectureConfig:
        return ArchitectureConfig(**self.model_dump(exclude={"inputs", "tasks"}))


class WeightingConfig(StrictModel):
    """A loss-weighting strategy by registry name and its parameters (validated by the strategy)."""

    name: str = "equal"
    params: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(StrictModel):
    """Optimiser and training-loop settings."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(0.0, ge=0.0)
    batch_size: int = Field(1024, ge=1)
    epochs: int = Field(5, ge=1)
    early_stopping_patience: int = Field(2, ge=0, description="0 disables early stopping")
    l0_lambda: float = Field(1e-4, ge=0.0, description="weight of the SNR expected-L0 penalty")
    grad_clip: float | None = Field(None, gt=0.0)
    amp: bool = Field(False, description="bf16 autocast on CUDA")
    seed: int = 0

    @field_validator("lr", "weight_decay", "l0_lambda")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value


class Candidate(StrictModel):
    """One point of a search space: what ``SearchSpace.sample(trial)`` returns (as a dict)."""

    architecture: ArchitectureConfig = Field(default_factory=ArchitectureConfig)
    weighting: WeightingConfig = Field(default_factory=WeightingConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


# The job spec lives in automtl.jobspec (it imports this module); re-exported lazily here so
# ``from automtl.config import JobSpec`` works without an import cycle.
__getattr__ = lazy_getattr(__name__, {name: "automtl.jobspec" for name in
                                      ("JobSpec", "JobSpecError", "load_job_spec")})
