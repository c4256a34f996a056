"""The compiled search space: define-by-run sampling with stable hierarchical parameter names."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import BaseTrial, FixedTrial

from search_spaces.document import Branch, ParsedSpace, Slot
from search_spaces.errors import SearchSpaceError

#: the baseline topology: one network per task, no shared parameters
SINGLE_TASK = "single_task"
#: the weighting every ``single_task`` trial trains with (independent losses: their sum)
SINGLE_TASK_WEIGHTING = "equal"


class SearchSpace:
    """A validated search space (build one with :func:`search_spaces.load`).

    :meth:`sample` only calls ``trial.suggest_*``: ``topology`` and ``weighting`` pick the
    branches (only when there is more than one), then each searched parameter of the chosen
    branches under its hierarchical name (``ple/levels``, ``architecture/dropout``,
    ``gradnorm/alpha``, ``optimizer/lr``, ``vocabulary/max_size`` when the space searches the
    vocabulary cap). The result is a candidate dict (``architecture``/``weighting``/``train``,
    and ``vocabulary`` when set) for :class:`automtl.config.Candidate`.

    ``single_task`` trains one network per task, whose losses are independent: a weighting
    changes nothing there but noise (MGDA, uncertainty, ... only make sense for shared
    parameters), so a ``single_task`` trial asks for no weighting and trains with
    :data:`SINGLE_TASK_WEIGHTING` (the plain sum of the task losses).
    """

    def __init__(self, parsed: ParsedSpace, document: Mapping[str, Any],
                 name: str | None = None, preset: bool = False) -> None:
        self._parsed = parsed
        self.document: dict[str, Any] = copy.deepcopy(dict(document))
        self.name = name
        self.description = parsed.description
        #: whether this is a built-in preset (which leaves out what a job cannot use)
        self.preset = preset
        #: topologies :meth:`for_job` left out because the job lacks a field they need
        self.left_out: list[str] = []
        self._lacking: dict[str, list[str]] = {}

    def __eq__(self, other: object) -> bool:
        """Spaces compiled from equal documents are equal (a job spec compares its space)."""
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self.document == other.document and self.name == other.name \
            and self.left_out == other.left_out

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"SearchSpace({label}topologies={self.topologies}, weightings={self.weightings})"

    @property
    def topologies(self) -> list[str]:
        """The allowed topologies, in document order."""
        return list(self._parsed.topologies)

    @property
    def weightings(self) -> list[str]:
        """The allowed loss-weighting strategies, in document order."""
        return list(self._parsed.weightings)

    @property
    def coverage_size(self) -> int:
        """How many coverage start-up trials a new study of this space gets
        (:func:`automtl.search.coverage.coverage_params`): one per shared topology, or per
        weighting when there are more weightings, plus one for ``single_task`` when the space
        has it; 0 for a space with one topology and one weighting (nothing to cover)."""
        shared = [t for t in self.topologies if t != SINGLE_TASK]
        weightings = self.weightings
        size = max(len(shared), len(weightings)) if shared else 0
        if size and len(self.topologies) == 1 and len(weightings) <= 1:
            size = 0  # one topology, one weighting: the startup trials would ask nothing
        if SINGLE_TASK in self.topologies and len(self.topologies) > 1:
            size += 1
        return size

    def smallest_epochs(self) -> int | None:
        """The fewest epochs a candidate of this space trains (``train.epochs``): the low end
        when the space searches it, else its one value; ``None`` when it cannot be read."""
        for name, dist in self.distributions().items():
            if name.rsplit("/", 1)[-1] == "epochs":
                low = getattr(dist, "low", None)
                choices = getattr(dist, "choices", None)
                return int(low) if low is not None else min(int(c) for c in choices or [0])
        import optuna

        level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                study = optuna.create_study(sampler=optuna.samplers.RandomSampler(0))
                epochs = self.sample(study.ask()).get("train", {}).get("epochs")
        finally:
            optuna.logging.set_verbosity(level)
        return int(epochs) if epochs is not None else None

    def branches(self, section: str) -> list[Branch]:
        """The resolved branches of ``"topology"`` or ``"weighting"``."""
        return list({"topology": self._parsed.topologies,
                     "weighting": self._parsed.weightings}[section].values())

    @property
    def optimizer_slots(self) -> tuple[Slot, ...]:
        return self._parsed.optimizer

    @property
    def vocabulary_slots(self) -> tuple[Slot, ...]:
        """The ``vocabulary`` keys the document sets (empty: the job's cap for every trial)."""
        return self._parsed.vocabulary

    def sample(self, trial: BaseTrial) -> dict[str, Any]:
        """A candidate dict drawn from ``trial`` (only ``trial.suggest_*`` calls, no I/O)."""
        topology = self._pick(trial, "topology", self._parsed.topologies)
        candidate: dict[str, Any] = {"architecture": {"topology": topology}}
        _fill(candidate, trial, self._parsed.topologies[topology].slots)
        candidate["train"] = candidate.pop("train", {})
        if topology == SINGLE_TASK:
            candidate["weighting"] = {"name": SINGLE_TASK_WEIGHTING, "params": {}}
        else:
            weighting = self._pick(trial, "weighting", self._parsed.weightings)
            candidate["weighting"] = {"name": weighting, "params": {}}
            _fill(candidate, trial, self._parsed.weightings[weighting].slots)
        _fill(candidate, trial, self._parsed.optimizer)
        _fill(candidate, trial, self._parsed.vocabulary)
        return candidate

    @staticmethod
    def _pick(trial: BaseTrial, name: str, branches: Mapping[str, Branch]) -> str:
        names = list(branches)
        if len(names) == 1:
            return names[0]
        return str(trial.suggest_categorical(name, names))

    def fixed_candidate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Rebuild the candidate of a finished trial from its ``params``.

        Raises :class:`SearchSpaceError` when a parameter is missing, out of its range, or not
        one this space asks for (the paths are the parameter names).
        """
        trial = FixedTrial(dict(params))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # out-of-range values are reported below
                candidate = self.sample(trial)
        except ValueError as exc:
            raise SearchSpaceError([("params", str(exc))]) from None
        errors = [(name, problem) for name, dist in trial.distributions.items()
                  if (problem := _outside(params[name], dist))]
        errors += [(str(name), "not a parameter of this space (for the chosen branches)")
                   for name in params if name not in trial.params]
        if errors:
            raise SearchSpaceError(errors)
        return candidate

    def check_tasks(self, task_names: Iterable[str]) -> None:
        """Raise :class:`SearchSpaceError` when ``fixed`` weights name a task the job lacks or
        leave one of its tasks out (the runner calls this once the tasks are known)."""
        tasks = list(task_names)
        fixed = self._parsed.weightings.get("fixed")
        if fixed is None:
            return
        named = [slot.target[-1] for slot in fixed.slots]
        errors = [(slot.path, f"unknown task {slot.target[-1]!r}; the job's tasks: {tasks}")
                  for slot in fixed.slots if slot.target[-1] not in tasks]
        missing = [t for t in tasks if t not in named]
        if missing:
            errors.append((fixed.path, f"no weight for task(s) {missing}: name every task"))
        if errors:
            raise SearchSpaceError(errors)

    def for_job(self, job_fields: Iterable[str]) -> SearchSpace:
        """This space for a job that sets the optional spec fields ``job_fields`` (e.g.
        ``{"sequence"}``, ``{"domains"}``; see :meth:`automtl.jobspec.JobSpec.job_fields`).

        A topology whose model needs a field the job lacks (its ``job_fields``: ``aitm`` needs
        ``sequence``, ``star`` needs ``domains``) is left out of a preset, so ``default`` and
        ``multi_domain`` serve every job (:attr:`left_out` and :meth:`left_out_note` say what
        was left out). A document that names such a topology, or a preset left with none, raises
        :class:`SearchSpaceError` at each such branch (``topology.choose.star``) with
        :func:`needs_message`. Returns ``self`` when nothing is left out."""
        lacking = missing_job_fields(self.topologies, job_fields)
        if not lacking:
            return self
        kept = {n: b for n, b in self._parsed.topologies.items() if n not in lacking}
        if not self.preset or not kept:
            raise SearchSpaceError([(self._parsed.topologies[name].path,
                                     needs_message(name, fields))
                                    for name, fields in lacking.items()])
        space = SearchSpace(dataclasses.replace(self._parsed, topologies=kept), self.document,
                            name=self.name, preset=True)
        space.left_out = sorted(lacking)
        space._lacking = lacking
        return space

    def left_out_note(self) -> str | None:
        """One line saying which topologies :meth:`for_job` left out of this preset and the
        job field each needs (for ``automtl search`` and the worker's log); ``None`` when none
        was."""
        if not self.left_out:
            return None
        label = f"preset {self.name!r}" if self.name else "the search space"
        return f"{label} searches without {', '.join(self.left_out)}: {self.left_out_reasons()}"

    def left_out_reasons(self) -> str:
        """Why each topology in :attr:`left_out` was left out: ``aitm needs 'sequence' in the
        job`` (``; ``-joined; empty when none was)."""
        return "; ".join(f"{name} needs {_quoted(self._lacking.get(name, []))} in the job"
                         for name in self.left_out)

    def job_field_warnings(self) -> list[str]:
        """What validating this space alone, without a job, cannot refuse: for each topology
        it names that needs a job field (``star``: ``domains``, ``aitm``: ``sequence``),
        ``topology.choose.star: star needs 'domains' in the job spec; ... (a job without it is
        refused)``. Empty for a preset, which leaves such a topology out of a job instead. The
        one text of ``automtl space validate`` and ``POST /search-spaces/validate``."""
        if self.preset:
            return []
        return [f"topology.choose.{topology}: {needs_message(topology, fields)} (a job "
                f"without it is refused)"
                for topology, fields in sorted(self.summary().needs_job_fields.items())]

    def distributions(self) -> dict[str, BaseDistribution]:
        """Every trial parameter this space can ask for, with its one distribution."""
        out: dict[str, BaseDistribution] = {}
        for name, choices in (("topology", self.topologies), ("weighting", self.weightings)):
            if len(choices) > 1:
                out[name] = CategoricalDistribution(choices)
        for branch in [*self.branches("topology"), *self.branches("weighting")]:
            for slot in branch.slots:
                _merge(out, slot.param.distributions(slot.name))
        for slot in (*self._parsed.optimizer, *self._parsed.vocabulary):
            _merge(out, slot.param.distributions(slot.name))
        return out

    def vocabulary_values(self) -> dict[str, tuple[int, ...]]:
        """``{"max_size": ..., "min_frequency": ...}``: the values whose extremes bound each
        searched vocabulary key (the ends of a range, every choice); a key the space does not
        search is absent. The runner encodes the data once at the loosest of them."""
        return {slot.spec.key: tuple(int(v) for v in slot.param.values_for_checks())
                for slot in self._parsed.vocabulary}

    def summary(self) -> Any:
        """Branch sizes: see :func:`search_spaces.describe.summarize`."""
        from search_spaces.describe import summarize

        return summarize(self)

    def describe(self, show_fixed: bool = False) -> str:
        """A printable summary: topologies, weightings, parameters, size of each branch."""
        from search_spaces.describe import format_summary

        return format_summary(self.summary(), show_fixed=show_fixed)


def missing_job_fields(topologies: Iterable[str], job_fields: Iterable[str]
                       ) -> dict[str, list[str]]:
    """``{topology: [job fields it needs that are not in job_fields]}`` for each of
    ``topologies`` that lacks one (a topology's needs are its ``Params.job_fields``, read
    without importing torch)."""
    from automtl.config import topology_params_class

    present = set(job_fields)
    lacking = {name: sorted(topology_params_class(name).job_fields - present)
               for name in topologies}
    return {name: fields for name, fields in lacking.items() if fields}


def needs_message(topology: str, fields: Iterable[str]) -> str:
    """The one error message for a topology a job cannot use (at its ``topology.choose``
    path): ``star needs 'domains' in the job spec; set it or leave star out``."""
    return f"{topology} needs {_quoted(fields)} in the job spec; set it or leave {topology} out"


def _quoted(fields: Iterable[str]) -> str:
    return " and ".join(f"{f!r}" for f in fields)


def _fill(candidate: dict[str, Any], trial: BaseTrial, slots: tuple[Slot, ...]) -> None:
    for slot in slots:
        node = candidate
        for key in slot.target[:-1]:
            node = node.setdefault(key, {})
        node[slot.target[-1]] = slot.param.suggest(trial, slot.name)


def _outside(value: Any, dist: BaseDistribution) -> str | None:
    low, high = getattr(dist, "low", None), getattr(dist, "high", None)
    if low is None or high is None:
        return None
    if not low <= value <= high:
        return f"{value} is outside [{low}, {high}]"
    if isinstance(dist, IntDistribution) and (value - low) % dist.step:
        return f"{value} is not low {low} plus a multiple of step {dist.step}"
    return None


def _merge(out: dict[str, BaseDistribution], new: dict[str, BaseDistribution]) -> None:
    for name, dist in new.items():
        if name in out and out[name] != dist:
            raise AssertionError(f"parameter {name!r} has two distributions: {out[name]} and "
                                 f"{dist}")
        out[name] = dist


def fixed_weight_tasks(space: SearchSpace) -> list[str]:
    """The task names a space's ``fixed`` weighting gives weights to (empty without ``fixed``):
    what :meth:`SearchSpace.check_tasks` checks against a job's tasks."""
    fixed = space._parsed.weightings.get("fixed")
    return [] if fixed is None else [str(slot.target[-1]) for slot in fixed.slots]
