"""Turn a job's dataset section into a :class:`~automtl.data.TabularDataset`.

The runner loads the dataset once, in the driver, before Ray starts: bad data (a missing label
column, a split without rows) fails the job at once with a :class:`~automtl.data.DataError`
naming the column, and the encoded tensors then reach every trial through Ray's object store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from automtl.config import DomainSpec, TaskSpec
from automtl.data import (
    DataError,
    TabularDataset,
    load_census_income,
    make_multi_domain,
    make_synthetic,
)
from automtl.jobspec import (
    CensusIncomeDatasetSpec,
    DatasetSpec,
    FileDatasetSpec,
    MultiDomainDatasetSpec,
    SplitColumn,
    SplitFractions,
    SyntheticDatasetSpec,
    UploadedDatasetSpec,
    VocabularyCap,
)

DatasetResolver = Callable[[str], Path]


def search_vocabulary(dataset: DatasetSpec,
                      searched: Mapping[str, Sequence[int]]) -> VocabularyCap | None:
    """The vocabulary cap to encode a file or uploaded dataset with when the search space
    searches it (``searched``: :meth:`SearchSpace.vocabulary_values`): the loosest of the
    job's ``dataset.vocabulary`` and every searched value (largest ``max_size``, smallest
    ``min_frequency``), so each trial narrows it (:mod:`automtl.data.vocabulary`). None when
    nothing is searched or the dataset is a builtin (encoded with the default cap)."""
    base = getattr(dataset, "vocabulary", None)
    if not searched or not isinstance(base, VocabularyCap):
        return None
    return VocabularyCap(
        max_size=max([base.max_size, *searched.get("max_size", ())]),
        min_frequency=min([base.min_frequency, *searched.get("min_frequency", ())]))


def load_dataset(dataset: DatasetSpec, tasks: Sequence[TaskSpec], seed: int,
                 dataset_resolver: DatasetResolver | None = None,
                 vocabulary: VocabularyCap | None = None, *,
                 domains: DomainSpec | None = None) -> TabularDataset:
    """The encoded train/valid/test tensors of a job's dataset.

    ``seed`` drives the random split (the synthetic generator has its own ``dataset.seed``).
    An uploaded dataset (``{id: ...}``) needs ``dataset_resolver`` (id -> file path), which
    the service provides. ``vocabulary`` replaces a file dataset's ``vocabulary`` cap (see
    :func:`search_vocabulary`). ``domains`` (the job's) expands the tasks per domain
    (:class:`~automtl.data.TabularDataset`).
    """
    if isinstance(dataset, MultiDomainDatasetSpec):
        frame = make_multi_domain(rows=dataset.rows, features=dataset.features,
                                  correlation=dataset.correlation, shift=dataset.shift,
                                  bias=dataset.bias, shares=dataset.shares, seed=dataset.seed,
                                  binary=dataset.binary)
        return TabularDataset(frame, tasks, valid_fraction=dataset.split.valid,
                              test_fraction=dataset.split.test, seed=seed, domains=domains,
                              exclude=_unused_labels(tasks))
    if domains is not None and isinstance(dataset, CensusIncomeDatasetSpec):
        raise DataError("domains: census-income has no domain column; use a file dataset",
                        field="domains.column")
    if isinstance(dataset, SyntheticDatasetSpec):
        frame = make_synthetic(rows=dataset.rows, features=dataset.features,
                               correlation=dataset.correlation, scale=dataset.scale,
                               sine_terms=dataset.sine_terms, seed=dataset.seed,
                               binary=dataset.binary, categorical=dataset.categorical,
                               buckets=dataset.buckets)
        return TabularDataset(frame, tasks, exclude=_unused_labels(tasks),
                              valid_fraction=dataset.split.valid,
                              test_fraction=dataset.split.test, seed=seed, domains=domains)
    if isinstance(dataset, CensusIncomeDatasetSpec):
        if dataset.split is None:
            return load_census_income(dataset.path, tasks, seed=seed)
        return load_census_income(dataset.path, tasks, seed=seed,
                                  valid_fraction=dataset.split.valid,
                                  test_fraction=dataset.split.test)
    if isinstance(dataset, UploadedDatasetSpec):
        if dataset_resolver is None:
            raise DataError(f"dataset {{id: {dataset.id}}} is an uploaded dataset, which only "
                            "the service can resolve (run_search(..., dataset_resolver=...))",
                            field="dataset.id")
        path = Path(dataset_resolver(dataset.id))
        return _from_file(path, dataset, tasks, seed, vocabulary, domains)
    if isinstance(dataset, FileDatasetSpec):
        return _from_file(Path(dataset.path), dataset, tasks, seed, vocabulary, domains)
    raise TypeError(f"unknown dataset spec {type(dataset).__name__}")


def _unused_labels(tasks: Sequence[TaskSpec]) -> list[str]:
    """The generated label columns (y1, y2) of a builtin that no task of the job uses: the
    other target, never a feature (a job on y1 alone learnt y1 from y2)."""
    from automtl.data.synthetic import LABEL_COLUMNS

    used = {str(t.label) for t in tasks}
    return [c for c in LABEL_COLUMNS if c not in used]


def _from_file(path: Path, dataset: FileDatasetSpec | UploadedDatasetSpec,
               tasks: Sequence[TaskSpec], seed: int,
               vocabulary: VocabularyCap | None = None,
               domains: DomainSpec | None = None) -> TabularDataset:
    features = dataset.features
    cap = vocabulary or dataset.vocabulary
    numeric = features.numeric if features is not None else None
    categorical = features.categorical if features is not None else None
    split = dataset.split
    options: dict[str, Any] = {
        "numeric": numeric, "categorical": categorical, "format": dataset.format,
        "missing": dataset.missing, "max_vocabulary": cap.max_size,
        "min_frequency": cap.min_frequency, "domains": domains}
    if isinstance(split, SplitColumn):
        return TabularDataset(path, tasks, split_column=split.column,
                              split_values={"train": split.train, "valid": split.valid,
                                            "test": split.test}, **options)
    assert isinstance(split, SplitFractions)
    return TabularDataset(path, tasks, valid_fraction=split.valid, test_fraction=split.test,
                          seed=seed, **options)
