"""A searched vocabulary cap, applied per trial without re-reading or re-encoding the data.

The data is encoded once with the loosest cap a search space allows (the largest ``max_size``,
the smallest ``min_frequency``), keeping each vocabulary value's train-row count
(:attr:`~automtl.config.CategoricalFeature.counts`). A tighter cap keeps a subset of those
values: the ones seen on at least ``min_frequency`` rows, of them the ``max_size`` most frequent
(ties to the smaller string), exactly what :func:`~automtl.data.encode.fit_vocabulary` would
keep with that cap. :func:`narrow_schema` derives the narrowed schema and, per categorical
column, a lookup table old index -> new index (dropped values -> 0, out of vocabulary), and
:func:`narrow_split` applies it: one gather per column, no pass over the raw data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from automtl.config import CategoricalFeature, InputSchema, VocabularySetting
from automtl.data.base import SplitTensors

#: per categorical column: old index -> new index ([cardinality] int64), None if unchanged
Lookups = list[torch.Tensor | None]


def _narrow_feature(feature: CategoricalFeature, setting: VocabularySetting
                    ) -> tuple[CategoricalFeature, torch.Tensor | None]:
    size = len(feature.vocabulary)
    if size and len(feature.counts) != size:
        raise ValueError(f"categorical feature {feature.name!r} has no train counts: a "
                         "vocabulary cap can only narrow a schema fitted in this process")
    counts = np.asarray(feature.counts, dtype=np.int64)
    keep = counts >= (setting.min_frequency or 1)
    if setting.max_size is not None and int(keep.sum()) > setting.max_size:
        candidates = np.flatnonzero(keep)  # vocabulary order is string order: ties go first
        order = np.argsort(-counts[candidates], kind="stable")
        keep = np.zeros(size, dtype=bool)
        keep[candidates[order[:setting.max_size]]] = True
    if keep.all():
        return feature, None
    kept = np.flatnonzero(keep)
    lookup = torch.zeros(size + 1, dtype=torch.int64)
    lookup[torch.from_numpy(kept + 1)] = torch.arange(1, len(kept) + 1)
    narrowed = CategoricalFeature(name=feature.name,
                                  vocabulary=[feature.vocabulary[i] for i in kept],
                                  counts=counts[kept].tolist())
    return narrowed, lookup


def narrow_schema(schema: InputSchema, setting: VocabularySetting
                  ) -> tuple[InputSchema, Lookups]:
    """The schema with every categorical vocabulary narrowed to ``setting`` (None fields keep
    the fitted cap), and the per-column lookups that re-index encoded tensors.

    A cap looser than the fitted one changes nothing (values the fit dropped are gone).
    Raises ``ValueError`` for a schema without train counts (one read back from a file).
    """
    if setting.is_default or not schema.categorical:
        return schema, [None] * len(schema.categorical)
    features, lookups = [], []
    for feature in schema.categorical:
        narrowed, lookup = _narrow_feature(feature, setting)
        features.append(narrowed)
        lookups.append(lookup)
    if all(lookup is None for lookup in lookups):
        return schema, lookups
    return schema.model_copy(update={"categorical": features}), lookups


def narrow_split(split: SplitTensors, lookups: Sequence[torch.Tensor | None]) -> SplitTensors:
    """``split`` with its categorical indices re-indexed by ``lookups`` (a new categorical
    tensor; the other tensors are shared, not copied)."""
    if all(lookup is None for lookup in lookups):
        return split
    source = split.categorical
    # one gather over the whole tensor: every column's table laid end to end, each index
    # shifted by its column's offset (column-by-column strided gathers are several times
    # slower on a row-major tensor)
    width = int(source.max()) + 1 if source.numel() else 1
    tables = [lookup if lookup is not None else torch.arange(width) for lookup in lookups]
    sizes = torch.tensor([0] + [len(t) for t in tables[:-1]], dtype=torch.int64)
    offsets = torch.cumsum(sizes, dim=0).to(source.device)
    flat = torch.cat(tables).to(source.device)
    categorical = flat[source + offsets]
    return SplitTensors(split.numeric, categorical, split.labels, split.mask, split.task_names,
                        split.weights)
