"""Parameter importances of a study, computed once when a search ends and stored with it.

The report's importances panel used to fit Optuna's fANOVA forest (importing scikit-learn) on
the first GET of every report: the slowest part of a finished job's first render in a
long-lived API process. :func:`store_importances` computes them when the search ends
(:func:`automtl.search.run_search`) and keeps them as a study system attribute together with
the number of complete trials they were computed over; :func:`study_importances` returns the
stored ones while that number still holds and computes them otherwise (a running job, a study
stored before), without writing on a read.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from automtl.report.pareto import objective_label

#: study system attribute: ``{"complete_trials": n, "objectives": [labels], "importances":
#: {label: {param: importance}} or the sentence saying why there are none}``
STUDY_IMPORTANCES_ATTR = "automtl:importances"
#: fANOVA's forest: 16 trees of depth 8 took 0.9 s for a 16-trial study where Optuna's
#: default (64 trees, depth 64) took 3.6 s, per objective, with the same top parameters
FANOVA_TREES = 16
FANOVA_DEPTH = 8

Importances = dict[str, dict[str, float]] | str


def param_importances(study: Any, objectives: Sequence[Mapping[str, Any]]) -> Importances:
    """Each objective's parameter importances, ``{objective label: {param: importance}}``
    (each objective's importances sum to 1), from Optuna's fANOVA evaluator on a random
    forest (Hutter, Hoos & Leyton-Brown, ICML 2014), seeded so a report is reproducible. (Optuna
    5's default, PED-ANOVA, explains reaching *low* target values and looks only at the top
    10% of trials: for maximised AUCs it answered the wrong question.)

    Optuna evaluates the parameters every complete trial has (a conditional parameter, e.g.
    ``ple/levels``, counts only when every trial sampled it). Returns a sentence saying why
    instead when there is nothing to evaluate (fewer than two complete trials, or no parameter
    shared by all of them).
    """
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return "Importances need at least two complete trials."
    out: dict[str, dict[str, float]] = {}
    for index, objective in enumerate(objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = optuna.importance.get_param_importances(
                    study, evaluator=optuna.importance.FanovaImportanceEvaluator(
                        n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=0),
                    target=functools.partial(_objective_value, index=index))
        except (RuntimeError, ValueError) as exc:
            return f"Optuna could not evaluate importances: {exc}"
        if not result:
            return ("No searched parameter was sampled by every complete trial, so Optuna has "
                    "nothing to compare.")
        out[objective_label(dict(objective))] = {k: float(v) for k, v in result.items()}
    return out


def _objective_value(trial: Any, *, index: int) -> float:
    """Objective ``index`` of a finished trial (the target of one importance evaluation)."""
    return float(trial.values[index])


def _complete_count(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def store_importances(study: Any, objectives: Sequence[Mapping[str, Any]]) -> Importances:
    """Compute :func:`param_importances` and keep them on the study (a system attribute,
    which optuna-dashboard does not show: it draws its own); returns them."""
    from automtl.trial_record import set_study_attr

    count = _complete_count(study)
    importances = param_importances(study, objectives)
    set_study_attr(study, STUDY_IMPORTANCES_ATTR, {
        "complete_trials": count, "objectives": [objective_label(dict(o)) for o in objectives],
        "importances": importances}, show=False)
    return importances


def study_importances(study: Any, objectives: Sequence[Mapping[str, Any]]) -> Importances:
    """The importances :func:`store_importances` kept when they still describe the study (the
    same complete trials and objectives), else computed now (nothing is stored)."""
    from automtl.trial_record import study_attrs

    stored = study_attrs(study).get(STUDY_IMPORTANCES_ATTR)
    labels = [objective_label(dict(o)) for o in objectives]
    if isinstance(stored, dict) and stored.get("objectives") == labels \
            and stored.get("complete_trials") == _complete_count(study) \
            and isinstance(stored.get("importances"), dict | str):
        value = stored["importances"]
        return value if isinstance(value, str) else {
            label: {k: float(v) for k, v in values.items()} for label, values in value.items()}
    return param_importances(study, objectives)
