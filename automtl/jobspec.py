"""The search job specification: what to search, on which data, for which objectives, how long.

A :class:`JobSpec` is read from YAML, JSON or a dict by :func:`load_job_spec`. Unknown keys are
errors, and every error carries the dotted path of the bad field (``budget.trials``,
``search_space.topology.ple.levels.high``), so the REST API can answer 422 with them.

``budget.epochs``, when given, overrides the ``train.epochs`` of every sampled candidate, so a
search space's epoch choices are ignored in favour of one fixed training length per trial.
``budget.trials`` counts *finished* (complete or pruned) trials: failed trials do not use it up,
up to ``budget.max_failures`` of them per run (default: as many as ``trials``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

import search_spaces
from automtl.config import (
    DomainSpec,
    StrictModel,
    TaskSpec,
    metric_direction,
    task_list_errors,
    validate_sequence,
)
from automtl.domains import expand_tasks
from search_spaces import SearchSpace, read_yaml
from search_spaces.document import closest, did_you_mean

#: cost objectives a job may add to the task metrics; all are minimised. ``effective_params``
#: counts only the parameters a prediction still depends on (SNR's pruned connections and
#: sub-networks excluded; equal to ``params`` for topologies that do not prune)
COST_OBJECTIVES: tuple[str, ...] = ("params", "latency_ms", "effective_params")
#: the Optuna samplers a job may name (the one list: automtl.search.samplers builds them)
SamplerName = Literal["tpe", "nsga2", "nsga3", "gp", "random"]
SAMPLERS: tuple[str, ...] = get_args(SamplerName)
_JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class JobSpecError(Exception):
    """An invalid job spec: ``errors`` is a list of ``(path, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{p or '<root>'}: {m}" for p, m in self.errors))


# ---------------------------------------------------------------------------------------------
# dataset


class FeatureLists(StrictModel):
    """Which columns are inputs; a column listed nowhere (and not a label) is ignored."""

    numeric: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(default_factory=list)


class SplitFractions(StrictModel):
    """A seeded random split: these fractions go to valid/test, the rest to train."""

    valid: float = Field(0.1, gt=0.0, lt=1.0)
    test: float = Field(0.1, ge=0.0, lt=1.0, description="0: no test split")

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> SplitFractions:
        if self.valid + self.test >= 1.0:
            raise ValueError("valid + test must be < 1 so rows are left for training")
        return self


class SplitColumn(StrictModel):
    """A split given by a column whose values name the split of each row."""

    column: str
    train: str = "train"
    valid: str = "valid"
    test: str = "test"


def _split_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "column" if "column" in value else "fractions"
    return "column" if isinstance(value, SplitColumn) else "fractions"


Split = Annotated[
    Annotated[SplitFractions, Tag("fractions")] | Annotated[SplitColumn, Tag("column")],
    Discriminator(_split_kind),
]


class VocabularyCap(StrictModel):
    """How large a categorical feature's vocabulary may grow: values seen on fewer than
    ``min_frequency`` train rows, and all but the ``max_size`` most frequent, share the
    out-of-vocabulary index, so an id column cannot blow up memory."""

    max_size: int = Field(50_000, ge=1)
    min_frequency: int = Field(1, ge=1)


class FileDatasetSpec(StrictModel):
    """A CSV or Parquet file (format from the suffix unless given); features are inferred
    (integer codes and id-like names categorical, see the README) when left out. ``missing``
    numeric values are imputed with the train mean plus an indicator, or refused (``error``)."""

    path: str
    format: Literal["csv", "parquet"] | None = None
    features: FeatureLists | None = None
    split: Split = Field(default_factory=SplitFractions)
    missing: Literal["impute", "error"] = "impute"
    vocabulary: VocabularyCap = Field(default_factory=VocabularyCap)


class UploadedDatasetSpec(StrictModel):
    """A dataset uploaded to the service, resolved to a file by the runner's resolver."""

    id: str
    format: Literal["csv", "parquet"] | None = None
    features: FeatureLists | None = None
    split: Split = Field(default_factory=SplitFractions)
    missing: Literal["impute", "error"] = "impute"
    vocabulary: VocabularyCap = Field(default_factory=VocabularyCap)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        """An upload's id, ``3`` or ``"3"``, kept as the resolver's text key (a job answer
        echoes it as the number, so that answer validates again)."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SyntheticDatasetSpec(StrictModel):
    """The MMoE paper's synthetic two-task data with a controlled task correlation.

    Columns ``x0..x{features-1}`` and labels ``y1``, ``y2`` (Ma et al. KDD 2018, section 4.2).
    """

    builtin: Literal["synthetic"]
    rows: int = Field(20000, ge=100)
    features: int = Field(100, ge=1, description="input dimension d")
    correlation: float = Field(0.5, ge=-1.0, le=1.0, description="label correlation p")
    scale: float = Field(1.0, gt=0.0, description="weight-vector scale c")
    sine_terms: int = Field(10, ge=1, description="number m of sine components")
    binary: bool = Field(True, description="threshold the labels at their median")
    categorical: int = Field(0, ge=0, description="extra bucketised columns c0.. (embeddings)")
    buckets: int = Field(8, ge=2, description="buckets of each categorical column")
    seed: int = 0
    split: SplitFractions = Field(default_factory=SplitFractions)


class MultiDomainDatasetSpec(StrictModel):
    """The synthetic multi-domain data of :mod:`automtl.data.multi_domain`: the MMoE recipe's
    two tasks in ``len(shares)`` domains (column ``domain``: ``d0``, ``d1``, ...) whose label
    functions differ partially (``shift``), the last one small by default."""

    builtin: Literal["multi-domain"]
    rows: int = Field(20000, ge=100)
    features: int = Field(20, ge=2, description="input dimension d")
    correlation: float = Field(0.5, ge=-1.0, le=1.0, description="task correlation p")
    shift: float = Field(0.5, ge=0.0, le=1.0, description="how far each domain's label "
                                                          "function moves from the shared one")
    bias: float = Field(0.5, ge=0.0, description="std of each domain's label offset")
    shares: list[float] = Field(default_factory=lambda: [0.45, 0.45, 0.10], min_length=1,
                                max_length=32, description="row share of each domain")
    binary: bool = True
    seed: int = 0
    split: SplitFractions = Field(default_factory=SplitFractions)

    @field_validator("shares")
    @classmethod
    def _positive_shares(cls, value: list[float]) -> list[float]:
        if any(not v > 0 for v in value):
            raise ValueError(f"every share must be > 0, got {value}")
        return value


class CensusIncomeDatasetSpec(StrictModel):
    """UCI census-income (KDD 1994/95) from local files (never downloaded at run time).

    ``path`` is the ``census-income.data``/``.test`` file or their directory. Without ``split``
    the MMoE paper's split is used (``.data`` trains, ``.test`` is halved into valid and test).
    """

    builtin: Literal["census-income"]
    path: str
    split: SplitFractions | None = None


def _dataset_kind(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if "builtin" in value:
            return f"builtin:{value['builtin']}"
        if "id" in value:
            return "uploaded"
        if "path" in value:
            return "file"
        return None
    if isinstance(value, StrictModel):
        return {FileDatasetSpec: "file", UploadedDatasetSpec: "uploaded",
                SyntheticDatasetSpec: "builtin:synthetic",
                MultiDomainDatasetSpec: "builtin:multi-domain",
                CensusIncomeDatasetSpec: "builtin:census-income"}.get(type(value))
    return None


DATASET_KINDS: tuple[str, ...] = ("file", "uploaded", "builtin:synthetic",
                                  "builtin:multi-domain", "builtin:census-income")

DatasetSpec = Annotated[
    Annotated[FileDatasetSpec, Tag("file")]
    | Annotated[UploadedDatasetSpec, Tag("uploaded")]
    | Annotated[SyntheticDatasetSpec, Tag("builtin:synthetic")]
    | Annotated[MultiDomainDatasetSpec, Tag("builtin:multi-domain")]
    | Annotated[CensusIncomeDatasetSpec, Tag("builtin:census-income")],
    Discriminator(
        _dataset_kind,
        custom_error_type="dataset_kind",
        custom_error_message="expected {path: FILE}, {id: DATASET_ID} or "
                             "{builtin: synthetic | multi-domain | census-income}",
    ),
]


# ---------------------------------------------------------------------------------------------
# budget, resources, constraints


class Constraints(StrictModel):
    """Upper bounds a trial must meet to be feasible (infeasible trials never join the front)."""

    params_max: int | None = Field(None, ge=1)
    latency_ms_max: float | None = Field(None, gt=0.0, description="ms per 1k rows")


class Budget(StrictModel):
    """How much to search; ``trials`` counts finished (complete or pruned) trials."""

    trials: int = Field(20, ge=1)
    concurrency: int = Field(1, ge=1)
    epochs: int | None = Field(None, ge=1, description="overrides every candidate's epochs")
    time_limit_s: float | None = Field(None, gt=0.0, description="wall time of one run")
    max_failures: int | None = Field(None, ge=0, description="failed trials tolerated per run "
                                                            "(default: trials)")


class Resources(StrictModel):
    """Ray resources of one trial; fractional GPUs let several trials share a card."""

    cpus_per_trial: float = Field(1.0, gt=0.0)
    gpus_per_trial: float = Field(0.0, ge=0.0)
    custom: dict[str, float] = Field(
        default_factory=dict,
        description="Ray custom resources per trial, e.g. {gpu_like: 1}: only a worker whose "
                    "Ray cluster has a node with them claims the job")

    @field_validator("custom")
    @classmethod
    def _custom_names(cls, value: dict[str, float]) -> dict[str, float]:
        for name, amount in value.items():
            if name.upper() in ("CPU", "GPU", "MEMORY", "OBJECT_STORE_MEMORY") or \
                    name.startswith("node:"):
                raise ValueError(f"{name!r}: not a custom resource (use cpus_per_trial / "
                                 "gpus_per_trial for CPUs and GPUs)")
            if amount < 0:
                raise ValueError(f"{name}: must be >= 0, got {amount:g}")
        return value

    def ray_request(self) -> dict[str, Any]:
        """One trial's request for ``tune.with_resources``."""
        return {"cpu": self.cpus_per_trial, "gpu": self.gpus_per_trial,
                "custom_resources": dict(self.custom)}

    @field_validator("gpus_per_trial")
    @classmethod
    def _whole_above_one(cls, value: float) -> float:
        if value > 1.0 and not float(value).is_integer():
            raise ValueError("a fraction of a GPU must be < 1; above 1 use a whole number")
        return value


class SchedulerSpec(StrictModel):
    """Early stopping of dominated trials: ``mo_asha`` (multi-objective asynchronous successive
    halving, Schmucker et al. 2021, see :mod:`automtl.search.mo_asha`) or ``none``.

    Rungs are at epochs ``grace_epochs * reduction_factor**k`` below a trial's epoch count;
    at each, a trial continues only if it ranks in the top ``1/reduction_factor`` of the
    trials that reached it. Stopped trials are stored as ``pruned`` and count toward
    ``budget.trials``. The coverage start-up trials train to the first rung only
    (``coverage: first_rung``, the default: see ``benchmarks/README.md`` section 8) or to the
    end (``full``).
    """

    name: Literal["mo_asha", "none"] = "none"
    grace_epochs: int = Field(1, ge=1, description="epoch of the first rung")
    reduction_factor: int = Field(3, ge=2, description="eta: 1/eta of a rung is promoted")
    coverage: Literal["first_rung", "full"] = Field(
        "first_rung", description="how far the coverage start-up trials (one per topology) "
        "train: to the first rung only, where their values rank the trials after them "
        "(BOHB-style low-fidelity start-up), or to the end like any trial")


class ConfirmSpec(StrictModel):
    """Re-train the front, the best single-task and each topology's best candidate with
    ``seeds`` seeds after the search and report their test-split metrics and the MTL gains
    with confidence intervals (:mod:`automtl.search.confirm`); 0 turns it off."""

    seeds: int = Field(0, ge=0, le=20, description="seeds per candidate; 0: off")

    @field_validator("seeds")
    @classmethod
    def _interval_needs_two(cls, value: int) -> int:
        if value == 1:
            raise ValueError("a gain interval needs at least 2 seeds (0 turns confirmation off)")
        return value


class WarmStartSpec(StrictModel):
    """Start from an earlier search's front (:mod:`automtl.search.warm_start`): a job of the
    service (``job``) or a local search output folder (``directory``, with ``study`` when its
    database holds several)."""

    job: int | None = Field(None, ge=1, description="a job id of the same owner (service)")
    directory: str | None = Field(None, description="a local `automtl search --out` folder")
    study: str | None = Field(None, description="the study in directory's database")

    @model_validator(mode="after")
    def _one_source(self) -> WarmStartSpec:
        if (self.job is None) == (self.directory is None):
            raise ValueError("give exactly one of job or directory")
        if self.study is not None and self.directory is None:
            raise ValueError("study only goes with directory")
        return self


class Objective(StrictModel):
    """One optimised quantity: a task's validation metric or a cost, with its direction."""

    name: str
    direction: Literal["maximize", "minimize"]
    metric: str | None = Field(None, description="the task metric; None for costs")

    @property
    def result_key(self) -> str:
        """The key the trainable reports this objective under."""
        return f"objective/{self.name}"


# ---------------------------------------------------------------------------------------------
# the job


class JobSpec(StrictModel):
    """A whole search job; see the module docstring for the semantics of the budget."""

    name: str
    dataset: DatasetSpec
    tasks: list[TaskSpec]
    sequence: list[str] | None = Field(
        None, description="conversion steps in order (impression -> click -> purchase: "
                          "[click, purchase]): at least 2 plain binary tasks, each once. The "
                          "aitm topology transfers information along it; presets sample aitm "
                          "only when it is set. Not together with domains (yet)",
        examples=[["click", "purchase"]])
    domains: DomainSpec | None = Field(
        None, description="multi-domain job: each task becomes one task per domain value "
                          "(`<task>__<value>`) whose sample space is that domain's rows")
    objectives: list[str] = Field(default_factory=list,
                                  description="task names (with domains also per-domain task "
                                              "names) and/or params, latency_ms; "
                                              "default: every task")
    constraints: Constraints = Field(default_factory=Constraints)
    search_space: dict[str, Any] = Field(default_factory=lambda: {"preset": "default"})
    sampler: SamplerName = "tpe"
    budget: Budget = Field(default_factory=Budget)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    confirm: ConfirmSpec = Field(default_factory=ConfirmSpec)
    warm_start: WarmStartSpec | None = None
    resources: Resources = Field(default_factory=Resources)
    seed: int = 0

    #: the search space compiled while the spec was validated (once per process; see ``space``)
    _space: SearchSpace | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name_is_safe(cls, value: str) -> str:
        if not _JOB_NAME_RE.match(value):
            raise ValueError("must start with a letter or digit and contain only letters, "
                             "digits, '_', '.', '-' (at most 100 characters)")
        return value

    @model_validator(mode="after")
    def _cross_field_checks(self) -> JobSpec:
        errors: list[tuple[str, str]] = []
        # each at its task's field (tasks[2].product_of), as pydantic's own task errors are
        errors.extend(_prefixed(task_list_errors(self.tasks), "tasks"))
        try:
            validate_sequence(self.sequence, self.tasks)
        except ValueError as exc:
            errors.append(("sequence", str(exc).removeprefix("sequence: ")))
        if self.sequence is not None and self.domains is not None:
            # aitm would need one chain of steps per domain value: not built yet
            errors.append(("sequence", "a conversion sequence is not supported together with "
                                       "domains yet; leave one of them out"))
        task_names = [t.name for t in self.tasks]
        errors.extend(self._domain_errors())
        model_names = [t.name for t in self.model_tasks] if not errors else task_names
        if not self.objectives:
            object.__setattr__(self, "objectives", list(task_names))
        valid = task_names + [n for n in model_names if n not in task_names] + \
            list(COST_OBJECTIVES)
        for i, name in enumerate(self.objectives):
            if name not in valid:
                errors.append((f"objectives[{i}]", unknown_objective(name, valid)))
            elif self.objectives.index(name) != i:
                errors.append((f"objectives[{i}]", f"objective {name!r} is listed twice"))
        space, space_errors = compile_search_space(self.search_space, model_names,
                                                   self.job_fields())
        errors.extend(_prefixed(space_errors, "search_space"))
        if space is not None and not errors:
            errors.extend(self._budget_errors(space))
        if errors:
            raise JobSpecError(errors)
        self._space = space
        return self

    def minimum_trials(self, space: SearchSpace) -> int:
        """The fewest ``budget.trials`` that can give a front: with MO-ASHA and
        ``scheduler.coverage: first_rung`` the space's coverage start-up trials
        (:attr:`SearchSpace.coverage_size`) all stop at the first rung, so one trial more
        than them is needed for any trial to reach its last epoch; 1 otherwise (no early
        stopping, coverage trained in full, a warm start whose trials train in full, or
        candidates that train no longer than the first rung)."""
        scheduler = self.scheduler
        if scheduler.name != "mo_asha" or scheduler.coverage != "first_rung" or \
                self.warm_start is not None:
            return 1
        epochs = self.budget.epochs if self.budget.epochs is not None else \
            space.smallest_epochs()
        if epochs is None or epochs <= scheduler.grace_epochs:
            return 1
        return space.coverage_size + 1

    def _budget_errors(self, space: SearchSpace) -> list[tuple[str, str]]:
        minimum = self.minimum_trials(space)
        if self.budget.trials >= minimum:
            return []
        coverage = minimum - 1
        return [("budget.trials", f"{self.budget.trials} is too few for early stopping: the "
                 f"first {coverage} trials are the coverage start-up (every topology and "
                 "weighting of the space once), which MO-ASHA trains only to the first rung, so "
                 f"no trial would finish and the front would be empty; use at least {minimum} "
                 "(more leaves the sampler room), or scheduler.coverage: full, or "
                 "scheduler.name: none")]

    def _domain_errors(self) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        for i, task in enumerate(self.tasks):
            if task.domain is not None:
                errors.append((f"tasks[{i}].domain", "set by the job's `domains`, not by hand"))
        if self.domains is None:
            return errors
        if isinstance(self.dataset, MultiDomainDatasetSpec):
            expected = [f"d{k}" for k in range(len(self.dataset.shares))]
            if self.domains.column != "domain" or self.domains.values != expected:
                errors.append(("domains", "the multi-domain dataset's domains are "
                                          f"{{column: domain, values: {expected}}}"))
        elif isinstance(self.dataset, CensusIncomeDatasetSpec):
            errors.append(("domains.column", "census-income is read with its own columns, "
                                             "none of them a domain column"))
        column = self.domains.column
        for task in self.tasks:
            if column in (task.label, task.weight):
                errors.append(("domains.column", f"{column!r} is the label or weight column of "
                                                 f"task {task.name!r}"))
        names = {t.name for t in self.tasks}
        for task in expand_tasks(self.tasks, self.domains):
            if task.name in names:
                errors.append(("domains.values", f"per-domain task {task.name!r} has the name "
                                                 "of a task of the job"))
        return errors

    @property
    def model_tasks(self) -> list[TaskSpec]:
        """The tasks the model is trained on: :attr:`tasks`, or with ``domains`` one task per
        (task, domain value) (:func:`automtl.domains.expand_tasks`)."""
        return expand_tasks(self.tasks, self.domains)

    def objective_model_tasks(self) -> list[str]:
        """The model tasks whose metrics make up the task objectives (a base task's domain
        tasks stand for it), for early stopping's NaN handling."""
        by_base = {t.name: [m.name for m in expand_tasks([t], self.domains)] for t in self.tasks}
        model = {t.name for t in self.model_tasks}
        out: list[str] = []
        for name in self.objectives:
            out += by_base.get(name, [name] if name in model else [])
        return out

    @property
    def space(self) -> SearchSpace:
        """The compiled search space: compiled once, when this spec was validated."""
        if self._space is None:  # e.g. a spec built with model_construct
            space, errors = compile_search_space(self.search_space,
                                                 [t.name for t in self.model_tasks],
                                                 self.job_fields())
            if space is None:
                raise JobSpecError(_prefixed(errors, "search_space"))
            self._space = space
        return self._space

    def job_fields(self) -> frozenset[str]:
        """The optional fields this spec sets that a topology may need (``sequence``,
        ``domains``: see :func:`job_fields_of`)."""
        return job_fields_of({"sequence": self.sequence, "domains": self.domains})

    @property
    def study_name(self) -> str:
        """The Optuna study name of this job: ``automtl-<name>``."""
        return f"automtl-{self.name}"

    def objective_list(self) -> list[Objective]:
        """Objectives in study order with their directions (costs are minimised)."""
        by_name = {t.name: t for t in self.model_tasks}
        by_name.update({t.name: t for t in self.tasks})
        out = []
        for name in self.objectives:
            if name in by_name:
                metric = str(by_name[name].metric)
                out.append(Objective(name=name, direction=metric_direction(metric),
                                     metric=metric))
            else:
                out.append(Objective(name=name, direction="minimize"))
        return out

    def task(self, name: str) -> TaskSpec:
        """A task of the job by name (with domains, also a per-domain task)."""
        tasks = self.tasks + (self.model_tasks if self.domains is not None else [])
        for t in tasks:
            if t.name == name:
                return t
        raise KeyError(f"unknown task {name!r}; valid: {[t.name for t in tasks]}")


# ---------------------------------------------------------------------------------------------
# loading and error paths


def _path_of(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a path in the DSL's style: ``tasks[1].metric``."""
    path = ""
    for part in _without_tags(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _without_tags(loc: tuple[int | str, ...]) -> list[int | str]:
    """Drop the union tags pydantic inserts after ``dataset`` and ``split``."""
    items = list(loc)
    if len(items) > 1 and items[0] == "dataset" and items[1] in DATASET_KINDS:
        items.pop(1)
    for i in range(len(items) - 1, 0, -1):
        if items[i - 1] == "split" and items[i] in ("fractions", "column"):
            items.pop(i)
    return items


def validation_errors(exc: ValidationError,
                      model: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    """Pydantic errors as ``(dotted path, message)`` pairs (the "Value error, " prefix removed;
    a model validator's message that starts with its field moves the field into the path:
    ``("tasks[0]", "metric: ...")`` -> ``("tasks[0].metric", "...")``). An unknown key of
    ``model`` (the validated root, e.g. :class:`JobSpec`) is named with the closest valid key
    (``budget.epoch: unknown field; did you mean 'epochs'?``) or the valid keys."""
    out = []
    for err in exc.errors(include_url=False):
        message = str(err["msg"]).removeprefix("Value error, ")
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and model is not None and loc:
            message = unknown_field_message(str(loc[-1]), fields_at(model, loc[:-1]))
        out.append(_field_in_path(_path_of(loc), message))
    return out


def unknown_field_message(key: str, valid: Collection[str]) -> str:
    """``unknown field; did you mean 'epochs'?`` (the closest of ``valid``,
    :func:`search_spaces.document.closest`), else the valid fields listed."""
    close = closest(key, valid)
    if close:
        return f"unknown field; did you mean {close!r}?"
    if valid:
        return f"unknown field; valid fields: {', '.join(sorted(valid))}"
    return "unknown field"


def fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> set[str]:
    """The field names (and aliases) a document may have at ``loc`` under ``model``: the
    models of each field's annotation followed down (list items by index, union members and
    discriminated-union tags alike); empty when the path leaves the models."""
    types: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue  # a list item: the field's annotation already named the item's models
        following: list[type[BaseModel]] = []
        for kind in types:
            field = kind.model_fields.get(part) or next(
                (f for f in kind.model_fields.values() if f.alias == part), None)
            if field is not None:
                following += _models_in(field.annotation)
        if following:
            types = following
        elif not any(part in kind.model_fields for kind in types):
            # a discriminated union's tag (dataset -> upload): keep the members named by it
            tagged = [kind for kind in types if part in (kind.__name__, _tag_of(kind))]
            types = tagged or types
    names: set[str] = set()
    for kind in types:
        names |= {f.alias or name for name, f in kind.model_fields.items()}
    return names


def _tag_of(kind: type[BaseModel]) -> str | None:
    """A dataset model's tag value (its ``kind`` field default), if it has one."""
    field = kind.model_fields.get("kind")
    return str(field.default) if field is not None and isinstance(field.default, str) else None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation names (through list, union, Annotated, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found += _models_in(arg)
    return found


_FIELD_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): (.+)$", re.DOTALL)


def _field_in_path(path: str, message: str) -> tuple[str, str]:
    """``("tasks[0]", "metric: bad")`` -> ``("tasks[0].metric", "bad")``: a model validator
    names its field at the start of the message; the error names it in the path."""
    match = _FIELD_PREFIX.match(message)
    if match is None:
        return path, message
    return (f"{path}.{match.group(1)}" if path else match.group(1)), match.group(2)


def _prefixed(errors: list[tuple[str, str]], prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}{p}" if p.startswith("[") else (f"{prefix}.{p}" if p else prefix), m)
            for p, m in errors]


#: DataError fields of split settings -> their path in a job spec's dataset section
_SPLIT_FIELDS = {"valid_fraction": "split.valid", "test_fraction": "split.test"}


def unknown_objective(name: Any, valid: list[str]) -> str:
    """``unknown objective 'ctrr' (did you mean 'ctr'?); valid: [...]``."""
    hint = did_you_mean(name, valid) if isinstance(name, str) else ""
    return f"unknown objective {name!r}{hint}; valid: {valid}"


def data_error_path(spec: JobSpec, error: Any) -> str:
    """The job-spec path a :class:`~automtl.data.DataError` of loading ``spec``'s data points
    at, the same form as every other spec error: a task's key (``tasks[1].type`` when the
    error names ``task`` and ``task_field``; a per-domain task stands for its base task), the
    task whose label or weight column it names (``tasks[1]``), a ``domains`` field, a dataset
    field (``dataset.split.valid``), else ``dataset``."""
    task, key = getattr(error, "task", None), getattr(error, "task_field", None)
    column, field = getattr(error, "column", None), getattr(error, "field", None)
    if task is not None:
        for i, spec_task in enumerate(spec.tasks):
            names = {spec_task.name, *(t.name for t in expand_tasks([spec_task], spec.domains))}
            if task in names:
                return f"tasks[{i}].{key}" if key else f"tasks[{i}]"
    for i, spec_task in enumerate(spec.tasks):
        if column is not None and column in (spec_task.label, spec_task.weight):
            return f"tasks[{i}]"
    if field is not None and str(field).startswith(("domains", "tasks")):
        return str(field)  # spec sections of their own, not the dataset's
    if field and field != column:
        return f"dataset.{_SPLIT_FIELDS.get(field, field)}"
    return "dataset"


#: the optional job-spec fields a topology may need (a model's ``job_fields``)
OPTIONAL_JOB_FIELDS = ("sequence", "domains")


def job_fields_of(document: Mapping[str, Any]) -> frozenset[str]:
    """The fields of :data:`OPTIONAL_JOB_FIELDS` a job spec (a validated one's values, or a
    raw document) sets: what :meth:`search_spaces.SearchSpace.for_job` is given."""
    return frozenset(name for name in OPTIONAL_JOB_FIELDS if document.get(name))


def compile_search_space(document: dict[str, Any], task_names: list[str],
                         job_fields: frozenset[str] = frozenset()
                         ) -> tuple[SearchSpace | None, list[tuple[str, str]]]:
    """The compiled space of a search-space document (preset reference or inline DSL) for
    these tasks and the optional spec fields the job sets (``job_fields``, see
    :meth:`search_spaces.SearchSpace.for_job`), or ``None`` and its errors (paths
    unprefixed)."""
    try:
        space = search_spaces.load(document)
    except ValidationError as exc:
        return None, validation_errors(exc)
    except (ValueError, KeyError, FileNotFoundError, TypeError) as exc:
        return None, _errors_of(exc)
    checker = getattr(space, "check_tasks", None)
    if checker is not None:
        try:
            checker(task_names)
        except (ValueError, KeyError) as exc:
            return None, _errors_of(exc)
    try:
        space = space.for_job(job_fields)
    except (ValueError, KeyError) as exc:
        return None, _errors_of(exc)
    return space, []


def search_space_errors(document: dict[str, Any], task_names: list[str],
                        job_fields: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """Errors of a search-space document (preset reference or inline DSL), paths unprefixed."""
    return compile_search_space(document, task_names, job_fields)[1]


def _errors_of(exc: Exception) -> list[tuple[str, str]]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        errors = errors()
    if isinstance(errors, list) and errors:
        out = []
        for item in errors:
            if isinstance(item, tuple) and len(item) == 2:
                out.append((str(item[0]), str(item[1])))
            elif isinstance(item, Mapping) and "loc" in item:
                out.append((_path_of(tuple(item["loc"])), str(item.get("msg", item))))
            else:
                out.append(("", str(item)))
        return out
    return [("", str(exc.args[0]) if exc.args else str(exc))]


def load_job_spec(source: str | Path | Mapping[str, Any] | JobSpec) -> JobSpec:
    """A validated :class:`JobSpec` from a YAML/JSON file path, a YAML/JSON string or a dict.

    Raises :class:`JobSpecError` with every problem found, each with its dotted path.
    """
    if isinstance(source, JobSpec):
        return source
    document = _read_document(source)
    if not isinstance(document, Mapping):
        raise JobSpecError([("", f"a job spec is a mapping, got {type(document).__name__}")])
    try:
        return JobSpec.model_validate(dict(document))
    except ValidationError as exc:
        errors = validation_errors(exc, JobSpec)
        raise JobSpecError(errors + skipped_check_errors(document, errors)) from None


def skipped_check_errors(document: Mapping[str, Any],
                         errors: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The spec's cross-field checks pydantic skipped because a field failed (``errors``):
    the search space (compiled for the document's task names) and the objective names, run on
    the raw ``document``, so every problem is reported at once (a typo'd key and an unknown
    topology in one answer, not one per run)."""
    out: list[tuple[str, str]] = []
    tasks = document.get("tasks")
    names = [str(t["name"]) for t in tasks if isinstance(t, Mapping) and "name" in t] \
        if isinstance(tasks, list) else []
    space = document.get("search_space", {"preset": "default"})
    if isinstance(space, Mapping) and not any(p.startswith("search_space") for p, _ in errors):
        out += [(f"search_space.{p}" if p else "search_space", m)
                for p, m in search_space_errors(dict(space), names, job_fields_of(document))]
    objectives = document.get("objectives")
    if isinstance(objectives, list) and names and document.get("domains") is None and \
            not any(p.startswith("objectives") for p, _ in errors):
        valid = names + list(COST_OBJECTIVES)
        out += [(f"objectives[{i}]", unknown_objective(name, valid))
                for i, name in enumerate(objectives)
                if isinstance(name, str) and name not in valid]
    return out


def _read_document(source: str | Path | Mapping[str, Any]) -> Any:
    if isinstance(source, Mapping):
        return source
    text: str
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                    and Path(source).suffix.lower() in (".yaml", ".yml",
                                                                        ".json")):
        path = Path(source)
        if not path.is_file():
            raise JobSpecError([("", f"job spec file not found: {path}")])
        text = path.read_text()
    else:
        text = str(source)
    # YAML read as search-space files are (1e-3 a float)
    try:
        if isinstance(source, Path | str) and str(source).lower().endswith(".json"):
            return json.loads(text)
        return read_yaml(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise JobSpecError([("", f"cannot parse the job spec: {exc}")]) from None

