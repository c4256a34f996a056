"""Multi-domain jobs: one task per (task, domain value), and per-domain metrics folded back.

A recommender often trains one model for several scenarios (app home page, search page, ...).
With a job's ``domains: {column: scenario, values: [home, search]}``, every task ``t`` becomes
the tasks ``t__home`` and ``t__search``: the same label column, whose sample space is the rows
of that domain (a per-task mask, as for any task with missing labels; see
:func:`automtl.data.encode.encode_parts`). So every topology serves multi-domain data with one
tower per (task, domain), and ``star`` (Sheng et al. CIKM 2021) also reads each row's domain.

The base task ``t`` stays the job's objective: its metric is the mean over domains of the
per-domain metrics (a domain whose metric is undefined, e.g. AUC with one class, is left out),
so every domain weighs the same however few rows it has; :func:`add_domain_means` adds it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from automtl.config import DomainSpec, TaskSpec

#: separates a task's name from its domain value in a per-domain task's name
DOMAIN_SEPARATOR = "__"


def domain_task_name(task: str, value: str) -> str:
    """The name of task ``task`` restricted to domain ``value``: ``click__home``."""
    return f"{task}{DOMAIN_SEPARATOR}{value}"


def expand_tasks(tasks: Sequence[TaskSpec], domains: DomainSpec | None) -> list[TaskSpec]:
    """One task per (task, domain value), task-major (``[a__x, a__y, b__x, b__y]``); the tasks
    as they are without ``domains``, or when they already are per-domain tasks (each has its
    ``domain``, as a bundle's ``config.yaml`` stores them). An ESMM product task's factors are
    the same domain's."""
    if domains is None or (tasks and all(t.domain is not None for t in tasks)):
        return list(tasks)
    out = []
    for task in tasks:
        for value in domains.values:
            update: dict[str, object] = {"name": domain_task_name(task.name, value),
                                         "label": task.label, "domain": value}
            if task.product_of:
                update["product_of"] = [domain_task_name(f, value) for f in task.product_of]
            out.append(TaskSpec.model_validate({**task.model_dump(), **update}))
    return out


def domain_tasks_of(task: str, domains: DomainSpec) -> list[str]:
    """The per-domain task names of base task ``task``, in domain order."""
    return [domain_task_name(task, value) for value in domains.values]


def add_domain_means(metrics: Mapping[str, Mapping[str, float]], tasks: Sequence[TaskSpec],
                     domains: DomainSpec | None) -> dict[str, dict[str, float]]:
    """``metrics`` of the per-domain tasks plus, for each base task of ``tasks``, every metric
    averaged over its domains (NaN values left out; NaN when no domain has one).
    Unchanged without ``domains``."""
    out = {task: dict(values) for task, values in metrics.items()}
    if domains is None:
        return out
    for task in tasks:
        per_domain = [metrics[name] for name in domain_tasks_of(task.name, domains)
                      if name in metrics]
        if not per_domain:
            continue
        names = list(per_domain[0])
        means = {}
        for metric in names:
            values = [float(m[metric]) for m in per_domain
                      if metric in m and not math.isnan(float(m[metric]))]
            means[metric] = sum(values) / len(values) if values else math.nan
        out[task.name] = means
    return out
