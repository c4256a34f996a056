"""Typed, validated configuration: the contract between the DSL, the models, training and search.

A search-space sample is a :class:`Candidate` (architecture + weighting + training settings).
Bound to a dataset's :class:`InputSchema` and the job's :class:`TaskSpec` list, the architecture
becomes a :class:`ModelConfig`, which :func:`automtl.build_model` turns into a network.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from automtl.registry import Registry

TaskType = Literal["binary", "regression", "multiclass"]
#: how a regression label is transformed before it is standardised (``log1p``: skewed, >= 0)
LabelTransform = Literal["none", "log1p"]
#: missing numeric feature values: impute (train mean + indicator) or refuse
MissingPolicy = Literal["impute", "error"]
Activation = Literal["relu", "gelu", "silu", "tanh", "leaky_relu", "elu"]
Normalization = Literal["none", "batch", "layer"]

Direction = Literal["maximize", "minimize"]

#: metric name -> (task types it applies to, direction of optimisation)
METRICS: dict[str, tuple[tuple[str, ...], Direction]] = {
    "auc": (("binary",), "maximize"),
    #: multiclass: mean over classes of the one-vs-rest AUC (classes absent from the split
    #: left out), scikit-learn's ``roc_auc_score(multi_class="ovr", average="macro")``
    "auc_macro": (("multiclass",), "maximize"),
    "logloss": (("binary", "multiclass"), "minimize"),
    "accuracy": (("binary", "multiclass"), "maximize"),
    "mse": (("regression",), "minimize"),
    "rmse": (("regression",), "minimize"),
    "mae": (("regression",), "minimize"),
    "r2": (("regression",), "maximize"),
}
DEFAULT_METRIC: dict[str, str] = {"binary": "auc", "regression": "mse",
                                  "multiclass": "auc_macro"}
#: most classes a multiclass task may have (each is one output of its tower)
MAX_CLASSES = 1000


def binary_label_hint(non_negative_integers: bool, distinct: int) -> str:
    """What to tell a user whose binary task's label column holds values other than 0/1: small
    non-negative integer codes with 3 to :data:`MAX_CLASSES` values are classes (``use type:
    multiclass``), two such values a binary label coded otherwise (``recode them to 0/1``),
    anything else a number (``use type: regression``). The one hint of the library's label
    check and of the REST upload check."""
    if non_negative_integers and 3 <= distinct <= MAX_CLASSES:
        return f"use type: multiclass for {distinct} integer classes"
    if non_negative_integers and distinct == 2:
        return "recode its two values to 0/1"
    return "use type: regression for a numeric target"

def binary_label_message(task: str, column: str, bad: Sequence[float] | None,
                         non_negative_integers: bool, distinct: int) -> str:
    """The one message for a binary task whose label column holds values other than 0/1
    (the library's label check and the REST upload check): the task, the column, up to five
    offending values (``bad``; written as integers when they are whole numbers; ``None`` when
    not known) and :func:`binary_label_hint`."""
    if bad is None:
        found = "values other than 0 and 1"
    else:
        values = sorted({float(v) for v in bad})
        shown = [str(int(v)) if v.is_integer() else repr(v) for v in values[:5]]
        found = ", ".join(shown) + (", ..." if len(values) > 5 else "")
    return (f"binary task {task!r}: label column {column!r} must hold 0/1 (or bool) values, "
            f"found {found} ({binary_label_hint(non_negative_integers, distinct)})")


_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DOMAIN_VALUE_RE = re.compile(r"^[A-Za-z0-9_]{1,40}$")
#: most domain values a multi-domain job may have (each multiplies the number of tasks)
MAX_DOMAINS = 32


class StrictModel(BaseModel):
    """Base for every config: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def metric_direction(metric: str) -> Direction:
    """``"maximize"`` or ``"minimize"`` for a metric name."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {sorted(METRICS)}")
    return METRICS[metric][1]


class TaskSpec(StrictModel):
    """One prediction target.

    ``label`` is the dataset column (defaults to ``name``). A NaN label means the row is outside
    this task's sample space. ``type``: ``binary`` (0/1 labels, one logit), ``regression``
    (numbers) or ``multiclass`` (3 to :data:`MAX_CLASSES` classes given as integer codes or
    strings, one logit per class, softmax cross-entropy; the classes are the train split's,
    stored with the encoders as :class:`ClassLabels`). ``product_of`` declares an ESMM task
    relation: the task's probability is the product of two other binary tasks' probabilities
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
    domain: str | None = Field(
        None, description="set by a job's `domains` (never by hand): the task's sample space is "
                          "the rows of this domain value")

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"task name {value!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)")
        return value

    @property
    def label_field(self) -> str:
        """The spec field that named the label column: ``label`` when given, else ``name`` (the
        label defaults to it), for errors that point at what the user wrote."""
        return "label" if "label" in self.model_fields_set else "name"

    @model_validator(mode="after")
    def _defaults_and_checks(self) -> TaskSpec:
        if self.label is None:
            object.__setattr__(self, "label", self.name)
        if self.metric is None:
            object.__setattr__(self, "metric", DEFAULT_METRIC[self.type])
        types = METRICS[self.metric][0] if self.metric in METRICS else ()
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


def task_list_errors(tasks: list[TaskSpec]) -> list[tuple[str, str]]:
    """Every problem of a task list as ``(path, message)``, the path relative to the list
    (``[2].product_of``, ``[1].name``; ``""`` for the list itself): names unique, ESMM
    references point at other binary, non-product tasks."""
    if not tasks:
        return [("", "at least one task is required")]
    errors: list[tuple[str, str]] = []
    names = [t.name for t in tasks]
    for i, name in enumerate(names):
        if names.index(name) != i:
            errors.append((f"[{i}].name", f"duplicate task name {name!r} (also tasks"
                                          f"[{names.index(name)}])"))
    by_name = {t.name: t for t in tasks}
    for i, t in enumerate(tasks):
        for ref in t.product_of or []:
            if ref not in by_name:
                errors.append((f"[{i}].product_of", f"task {t.name!r}: product_of names "
                                                    f"unknown task {ref!r}"))
            elif by_name[ref].type != "binary" or by_name[ref].product_of:
                errors.append((f"[{i}].product_of", f"task {t.name!r}: product_of task "
                                                    f"{ref!r} must be a plain binary task"))
    return errors


def validate_task_list(tasks: list[TaskSpec]) -> list[TaskSpec]:
    """``tasks``, or ``ValueError`` with the first of :func:`task_list_errors`."""
    errors = task_list_errors(tasks)
    if errors:
        raise ValueError(errors[0][1])
    return tasks


def validate_sequence(sequence: list[str] | None, tasks: list[TaskSpec]) -> list[str] | None:
    """Check a conversion ``sequence`` (impression -> click -> conversion, AITM, Xi et al. KDD
    2021) against the job's tasks: at least 2 steps, each a plain binary task of the job (an
    ESMM product has no tower of its own), none twice. ``None`` (no sequence) passes.

    Raises ``ValueError`` whose message starts with ``sequence``."""
    if sequence is None:
        return None
    if len(sequence) < 2:
        raise ValueError(f"sequence: at least 2 steps are needed (the conversion steps in "
                         f"order), got {sequence}")
    dupes = sorted({n for n in sequence if sequence.count(n) > 1})
    if dupes:
        raise ValueError(f"sequence: {dupes} listed twice; each step is one task")
    by_name = {t.name: t for t in tasks}
    for name in sequence:
        task = by_name.get(name)
        if task is None:
            raise ValueError(f"sequence: unknown task {name!r}; the job's tasks: "
                             f"{list(by_name)}")
        if task.type != "binary":
            raise ValueError(f"sequence: task {name!r} is a {task.type} task; a conversion "
                             "step must be binary")
        if task.product_of:
            raise ValueError(f"sequence: task {name!r} is an ESMM product (it has no tower); "
                             "name plain binary tasks")
    return list(sequence)


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
    """A categorical column. Index 0 is out-of-vocabulary; value ``vocabulary[i]`` is i + 1.

    ``counts[i]`` is the number of train rows with ``vocabulary[i]``, kept in memory while a
    search runs so a trial's searched vocabulary cap can narrow the vocabulary without
    re-reading the data (:mod:`automtl.data.vocabulary`); it is never written out."""

    name: str
    vocabulary: list[str] = Field(default_factory=list)
    counts: list[int] = Field(default_factory=list, exclude=True, repr=False)

    def __eq__(self, other: object) -> bool:
        """Equal when name and vocabulary are: the in-memory ``counts`` are not part of what
        a schema means (a schema read back from a file has none)."""
        if not isinstance(other, CategoricalFeature):
            return NotImplemented
        return self.name == other.name and self.vocabulary == other.vocabulary

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


class ClassLabels(StrictModel):
    """A multiclass task's classes in output order: class ``classes[i]`` is output i (the
    ``i``-th logit of the tower, the ``i``-th probability column of a prediction). Integer
    labels are kept as ints (sorted numerically), other labels as strings (sorted)."""

    task: str
    classes: list[int] | list[str]

    @property
    def count(self) -> int:
        return len(self.classes)
class DomainSpec(StrictModel):
    """A multi-domain job: the categorical ``column`` naming each row's domain (scenario) and its
    ``values``. Every task ``t`` becomes one task ``t__<value>`` per value whose sample space is
    that domain's rows (see :mod:`automtl.domains`); the column is also a categorical input, so
    a topology such as ``star`` can read each row's domain.

    Values are strings of letters, digits and ``_`` (integer codes are written as text), at most
    :data:`MAX_DOMAINS` of them; a row whose value is missing or not listed is a data error.
    """

    column: str = Field(min_length=1, description="the data column naming each row's domain")
    values: list[str] = Field(min_length=1, description="the domain values, in the order of the "
                                                        "per-domain tasks and report columns")

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        if isinstance(value, list):  # YAML reads `values: [1, 2]` as ints
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v
                    for v in value]
        return value

    @field_validator("values")
    @classmethod
    def _values_ok(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_DOMAINS:
            raise ValueError(f"at most {MAX_DOMAINS} domain values, got {len(value)}")
        bad = [v for v in value if not _DOMAIN_VALUE_RE.match(v)]
        if bad:
            raise ValueError(f"domain values must be 1-40 letters, digits or '_' (they name the "
                             f"per-domain tasks), got {bad}")
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"duplicate domain values: {dupes}")
        return value


class InputSchema(StrictModel):
    """What the network sees: the feature columns with their preprocessing statistics, the
    train-split scaling of each regression label (``labels``) and the classes of each
    multiclass task (``classes``)."""

    numeric: list[NumericFeature] = Field(default_factory=list)
    categorical: list[CategoricalFeature] = Field(default_factory=list)
    labels: list[LabelScaling] = Field(default_factory=list)
    classes: list[ClassLabels] = Field(default_factory=list)
    missing: MissingPolicy = "impute"
    #: a multi-domain job's domain column (also one of ``categorical``) and its values
    domain: DomainSpec | None = None

    def label_scaling(self, task: str) -> LabelScaling | None:
        for scaling in self.labels:
            if scaling.task == task:
                return scaling
        return None

    def class_labels(self, task: str) -> ClassLabels | None:
        """The classes of multiclass task ``task`` (None for other tasks)."""
        for item in self.classes:
            if item.task == task:
                return item
        return None

    @model_validator(mode="after")
    def _not_empty(self) -> InputSchema:
        if not self.numeric and not self.categorical:
            raise ValueError("the input schema has no features")
        if self.domain is not None and self.domain.column not in self.categorical_names:
            raise ValueError(f"domain: column {self.domain.column!r} is not a categorical "
                             "feature of the schema")
        return self

    def domain_indices(self) -> tuple[int, list[int]]:
        """``(j, codes)``: the domain column is categorical feature ``j``, and domain value
        ``values[k]`` has vocabulary index ``codes[k]`` (0 when out of vocabulary).
        Raises ``ValueError`` without a domain."""
        if self.domain is None:
            raise ValueError("the input schema has no domain column (the job has no domains)")
        j = self.categorical_names.index(self.domain.column)
        vocabulary = self.categorical[j].vocabulary
        codes = [vocabulary.index(v) + 1 if v in vocabulary else 0 for v in self.domain.values]
        return j, codes

    @property
    def numeric_names(self) -> list[str]:
        """The data columns read as numbers (missing indicators are not columns)."""
        return [f.name for f in self.numeric if f.indicator_of is None]

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.categorical]


class TopologyParams(StrictModel):
    """Base of a topology's own settings: each topology module subclasses it (with its fields,
    bounds, defaults and size checks) and registers it with ``@register_topology(name,
    params=...)``, so the DSL catalogue, validation, the report and the export read them from the
    registry. A subclass may override :meth:`summary` for the report's front table."""

    #: whether the topology has softmax gates over experts (the report shows their kind)
    gated: ClassVar[bool] = False
    #: DSL key -> field name where the search-space key differs from the field (``experts``)
    dsl_keys: ClassVar[dict[str, str]] = {}
    #: fields the DSL's top-level ``architecture`` section may set for every branch using them
    shared_dsl_fields: ClassVar[tuple[str, ...]] = ()
    #: optional job-spec fields a topology using these settings cannot be built without
    #: (``{"sequence"}``: aitm, ``{"domains"}``: star); a preset leaves the topology out of a job
    #: that lacks them, a space that names it is refused
    #: (:meth:`search_spaces.SearchSpace.for_job`). ``@register_topology`` copies it onto the
    #: model class as ``job_fields``
    job_fields: ClassVar[frozenset[str]] = frozenset()
    #: whether the topology's model has an L0 penalty (:meth:`MTLModel.l0_penalty`, SNR): the
    #: DSL then offers ``l0_lambda``. ``@register_topology`` refuses a model that disagrees
    l0_penalty: ClassVar[bool] = False

    def summary(self) -> dict[str, str]:
        """``{"experts": ..., "units": ..., "gate": ...}`` as text for the report's table."""
        return {"experts": "", "units": "", "gate": ""}

    def task_experts(self) -> int:
        """Experts each task gate owns before the shared ones (CGC/PLE), for expert labels."""
        return 0


#: fields of the previous flat ``ArchitectureConfig`` (one class carrying every topology's
#: settings). Candidates and bundles written in that format are converted on read: the chosen
#: topology's fields move into ``params``, the others (which its model never read) are dropped.
LEGACY_TOPOLOGY_FIELDS = frozenset({
    "bottom_units", "num_shared_experts", "num_task_experts", "expert_units", "gate_kind",
    "gate_units", "gate_temperature", "levels", "snr", "cross_stitch"})
#: legacy fields that nested a topology's settings (``snr: {layers: ...}``, ``cross_stitch:
#: {share_embeddings: ...}``) -> the settings they held. For a topology whose ``Params`` has
#: all of them, the section's keys move into ``params`` (an unknown key is then reported); for
#: the others the section is dropped, as their models never read it.
LEGACY_NESTED_FIELDS: dict[str, frozenset[str]] = {
    "snr": frozenset({"layers", "subnetworks", "beta", "gamma", "zeta", "init_drop_rate",
                      "l0_warmup_epochs", "gate_lr"}),
    "cross_stitch": frozenset({"share_embeddings"}),
}


#: topology name -> its settings model (a :class:`TopologyParams` subclass, possibly shared by
#: several topologies). The first lookup imports :mod:`automtl.models.params`, which defines
#: and registers every built-in topology's settings without importing torch or the models, so
#: validating a config, a job spec or a search space stays torch-free; ``@register_topology``
#: (:mod:`automtl.models.registry`) registers a model's settings here too (a topology added
#: outside automtl), so this module never imports the models (the layers contract in
#: ``.importlinter``).
TOPOLOGY_PARAMS: Registry[type[TopologyParams]] = Registry("topology", "automtl.models.params",
                                                           None)


def topology_params_class(topology: str) -> type[TopologyParams]:
    """The registered ``Params`` model of ``topology``; ``ValueError`` listing valid names."""
    try:
        return TOPOLOGY_PARAMS.get(topology)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None


def _positive_widths(value: list[int]) -> list[int]:
    bad = [u for u in value if u < 1]
    if bad:
        raise ValueError(f"layer widths must be >= 1, got {value}")
    return value


class ArchitectureConfig(StrictModel):
    """The searched part of a network, independent of the dataset: the settings every topology
    uses (``embedding_dim``, ``activation``, ``dropout``, ``tower_units``) plus ``params``, the
    chosen topology's own typed settings (its registered :class:`TopologyParams` subclass, e.g.
    :class:`automtl.models.mmoe.MMoEParams`).

    ``normalization`` is common too: ``batch`` / ``layer`` put BatchNorm / LayerNorm between
    each hidden linear layer and its activation, in bottoms, experts, sub-networks and towers, as
    torch-rechub's MLP does with BatchNorm; gates are never normalised.

    Input may also be the flat form the DSL samples and the previous format stored (the
    topology's fields beside the common ones); it is converted on read (see
    :data:`LEGACY_TOPOLOGY_FIELDS`). Unknown topology or fields raise a validation error that
    names them.
    """

    topology: str = "mmoe"
    embedding_dim: int = Field(8, ge=1, le=256)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    normalization: Normalization = "none"
    tower_units: list[int] = Field(default_factory=lambda: [32])
    params: SerializeAsAny[TopologyParams] = Field(default_factory=TopologyParams)

    @model_validator(mode="before")
    @classmethod
    def _collect_topology_params(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        try:
            params_cls = topology_params_class(str(data.get("topology", "mmoe")))
        except ValueError:
            return data  # the topology field reports the unknown name
        own = data.get("params", {})
        if isinstance(own, TopologyParams):
            own = own.model_dump()
        own = dict(own) if isinstance(own, dict) else own
        if not isinstance(own, dict):
            return data
        for section, fields in LEGACY_NESTED_FIELDS.items():  # ``snr: {...}`` and the like
            legacy = data.pop(section, None)
            if isinstance(legacy, dict) and fields <= params_cls.model_fields.keys():
                for key, value in legacy.items():
                    own.setdefault(key, value)
        for key in list(data):
            if key in cls.model_fields:
                continue
            if key in params_cls.model_fields:
                own.setdefault(key, data.pop(key))
            elif key in LEGACY_TOPOLOGY_FIELDS:
                data.pop(key)
        data["params"] = own
        return data

    @field_validator("tower_units")
    @classmethod
    def _positive_units(cls, value: list[int]) -> list[int]:
        return _positive_widths(value)

    @field_validator("topology")
    @classmethod
    def _known_topology(cls, value: str) -> str:
        topology_params_class(value)
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _topology_params(cls, value: Any, info: ValidationInfo) -> TopologyParams:
        topology = info.data.get("topology")
        if topology is None:  # the topology itself failed; its error is reported
            return TopologyParams()
        params_cls = topology_params_class(topology)
        if isinstance(value, params_cls):
            return value
        if isinstance(value, TopologyParams):
            value = value.model_dump()
        try:
            return params_cls.model_validate(value)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                message = str(err["msg"]).removeprefix("Value error, ")
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"{where}: {message}" if where else message)
            raise ValueError(f"{'; '.join(problems)} ({topology})") from None


class ModelConfig(ArchitectureConfig):
    """An architecture bound to a dataset's inputs and the job's tasks: enough to build it."""

    inputs: InputSchema
    tasks: list[TaskSpec]
    sequence: list[str] | None = Field(
        None, description="the job's conversion steps in order (the job spec's `sequence`); "
                          "read by topologies that model sequential tasks (aitm)")

    @field_validator("tasks")
    @classmethod
    def _tasks_consistent(cls, value: list[TaskSpec]) -> list[TaskSpec]:
        return validate_task_list(value)

    @model_validator(mode="after")
    def _sequence_of_tasks(self) -> ModelConfig:
        validate_sequence(self.sequence, self.tasks)
        return self

    @classmethod
    def from_parts(cls, architecture: ArchitectureConfig, inputs: InputSchema,
                   tasks: list[TaskSpec], sequence: list[str] | None = None) -> ModelConfig:
        return cls(**architecture.model_dump(), inputs=inputs, tasks=tasks, sequence=sequence)

    def architecture(self) -> ArchitectureConfig:
        return ArchitectureConfig(**self.model_dump(exclude={"inputs", "tasks", "sequence"}))


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
    l0_lambda: float = Field(
        0.1, ge=0.0, description="weight of the SNR L0 penalty, the expected share of open "
                                 "connections (0..1); about 0.1-1 prunes, 0 never does")
    grad_clip: float | None = Field(None, gt=0.0)
    amp: bool = Field(False, description="bf16 autocast on CUDA")
    compile: bool = Field(False, description="torch.compile the model's training forward "
                          "(a one-off compile per trial; off by default: on the CPU it "
                          "does not pay for the presets' trial lengths, see "
                          "benchmarks/trial_options.py)")
    seed: int = 0

    @field_validator("lr", "weight_decay", "l0_lambda")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be finite")
        return value


class VocabularySetting(StrictModel):
    """A trial's cap on every categorical feature's vocabulary (the DSL's ``vocabulary``
    section): values seen on fewer than ``min_frequency`` train rows, and all but the
    ``max_size`` most frequent, share the out-of-vocabulary index. ``None`` keeps the job's
    setting (``dataset.vocabulary``). The data is encoded once at the loosest setting the
    space allows; each trial narrows it (:mod:`automtl.data.vocabulary`)."""

    max_size: int | None = Field(None, ge=1, description="most values per categorical "
                                                         "feature (the most frequent)")
    min_frequency: int | None = Field(None, ge=1, description="train rows a value needs to "
                                                              "get its own index")

    @property
    def is_default(self) -> bool:
        return self.max_size is None and self.min_frequency is None


class Candidate(StrictModel):
    """One point of a search space: what ``SearchSpace.sample(trial)`` returns (as a dict)."""

    architecture: ArchitectureConfig = Field(default_factory=ArchitectureConfig)
    weighting: WeightingConfig = Field(default_factory=WeightingConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    vocabulary: VocabularySetting = Field(default_factory=VocabularySetting)

