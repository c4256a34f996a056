"""One trial field list (issue 13 item 3): every place a trial's record is written out (the
study read-back, the front, the report, the trial CSV, the export, the worker's SQL row, the
storage model and the REST trial) exposes exactly the fields of
:data:`automtl.trial_record.TRIAL_FIELDS`, under its names (the service's columns under the
list's ``column`` names)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from automtl.export.sources import EXPORT_FIELDS, TrialRecord, export_record, job_source
from automtl.jobspec import load_job_spec
from automtl.report.html import report_trials
from automtl.report.pareto import (
    METRIC_FIELDS,
    TRIAL_CSV_FIELDS,
    front_rows,
    pareto_front,
    trial_rows,
)
from automtl.trial_record import (
    ATTR_CANDIDATE,
    ATTR_INFEASIBLE,
    ATTR_PARAMS,
    ATTR_TEST,
    ATTR_TRIAL_TIME,
    ATTR_VALID,
    ROW_TIMESTAMPS,
    TRIAL_COLUMNS,
    TRIAL_FIELD_NAMES,
    TRIAL_FIELDS,
    TrialOutcome,
    outcome_from_row,
    outcome_from_trial,
    record_dict,
    row_columns,
)

SPEC = {"name": "rec", "dataset": {"builtin": "synthetic", "rows": 200},
        "tasks": [{"name": "t1", "label": "y1"}, {"name": "t2", "label": "y2"}]}
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _study() -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "maximize"])
    for number, (values, state) in enumerate([([0.8, 0.6], TrialState.COMPLETE),
                                              ([0.6, 0.5], TrialState.COMPLETE),
                                              (None, TrialState.PRUNED)]):
        attrs: dict[str, Any] = {
            ATTR_CANDIDATE: {"architecture": {"topology": "mmoe"},
                             "weighting": {"name": "equal"}},
            ATTR_PARAMS: 100 + number, ATTR_TRIAL_TIME: 2.5,
            ATTR_VALID: {"t1": {"auc": 0.8}}, ATTR_TEST: {"t1": {"auc": 0.7}}}
        if state == TrialState.PRUNED:
            attrs[ATTR_INFEASIBLE] = "params 100 > params_max 10"
        study.add_trial(create_trial(
            state=state, values=values, params={"x": 0.1 * number},
            distributions={"x": FloatDistribution(0.0, 1.0)}, user_attrs=attrs))
    return study


def test_the_list_names_each_field_once_and_the_outcome_has_exactly_them():
    assert len(set(TRIAL_FIELD_NAMES)) == len(TRIAL_FIELDS)
    assert len(set(TRIAL_COLUMNS)) == len(TRIAL_COLUMNS)
    attrs = [f.attr for f in TRIAL_FIELDS if f.attr is not None]
    assert len(set(attrs)) == len(attrs) and all(a.startswith("automtl:") for a in attrs)
    assert tuple(f.name for f in dataclasses.fields(TrialOutcome)) == TRIAL_FIELD_NAMES


def test_the_front_and_the_report_give_each_trial_exactly_the_list():
    study = _study()
    spec = load_job_spec(SPEC)
    front = pareto_front(study, spec)
    assert [t["number"] for t in front["trials"]] == [0]
    assert all(tuple(t) == TRIAL_FIELD_NAMES for t in front["trials"])
    assert front["trials"][0]["num_params"] == 100 and front["trials"][0]["on_front"] is True
    assert front["trials"][0]["params"] == {"x": 0.0}  # what Optuna sampled, not the count
    trials = report_trials(study, list(spec.objectives))
    assert all(tuple(t) == TRIAL_FIELD_NAMES for t in trials)
    assert [t["on_front"] for t in trials] == [True, False, False]
    assert trials[2]["infeasible"] == "params 100 > params_max 10"


def test_the_csvs_name_record_columns_as_the_list_does():
    study = _study()
    spec = load_job_spec(SPEC)
    rows = trial_rows(study, spec)
    derived = {"trial", "topology", "weighting", "t1", "t2", "param:x"}
    # the record's per-task metric fields, each metric a <field>_<task>_<metric> column
    assert set(METRIC_FIELDS) < set(TRIAL_FIELD_NAMES)
    metrics = {"valid_t1_auc", "test_t1_auc"}
    assert set(rows[0]) == derived | set(TRIAL_CSV_FIELDS) | metrics
    assert set(TRIAL_CSV_FIELDS) < set(TRIAL_FIELD_NAMES)
    assert (rows[1]["num_params"], rows[1]["on_front"], rows[1]["trial_time_s"]) == \
        (101, False, 2.5)
    front = front_rows(pareto_front(study, spec))
    record_columns = set(front[0]) - {"trial", "topology", "weighting", "t1", "t2"} - metrics
    assert record_columns == {"num_params", "latency_ms"} < set(TRIAL_FIELD_NAMES)


def test_the_worker_row_the_storage_model_and_the_rest_trial_hold_the_list_s_columns():
    from automtl_api.schemas import TrialRead
    from automtl_api.worker import outcome_fields
    from automtl_storage.models import Trial
    from automtl_storage.repositories.trials import TrialFields

    columns = set(TRIAL_COLUMNS)
    stored = {c.name for c in Trial.__table__.columns} - {"id", "job_id"}
    assert stored == columns | set(ROW_TIMESTAMPS)
    # /trials sends the record's names and the columns as their deprecated aliases
    record = {f.name for f in TRIAL_FIELDS if f.column is not None}
    assert set(TrialRead.model_fields) == columns | record | set(ROW_TIMESTAMPS)
    # the number is the upsert's key and the front membership its own update
    assert set(TrialFields.__annotations__) == columns - {"number"} | set(ROW_TIMESTAMPS)
    outcome = outcome_from_trial(_study().trials[0], ["t1", "t2"], front={0})
    written = outcome_fields(outcome)
    assert set(written) == columns - {"number", "on_front"} | {"finished_at"}
    assert set(row_columns(outcome)) == columns - {"number", "on_front"}


def test_a_row_reads_back_as_the_same_record_and_the_export_sees_its_part():
    outcome = outcome_from_trial(_study().trials[2], ["t1", "t2"])
    row = SimpleNamespace(number=2, on_front=False, id=7, **row_columns(outcome))
    back = outcome_from_row(row)
    assert back.state == "PRUNED" and back.error == "params 100 > params_max 10"
    stored = {f.name for f in TRIAL_FIELDS if f.column is not None}
    for name in stored - {"error", "trial_time_s"}:
        assert getattr(back, name) == getattr(outcome, name), name
    assert back.trial_time_s == 2.5
    assert tuple(f.name for f in dataclasses.fields(TrialRecord)) == (*EXPORT_FIELDS,
                                                                       "row_id")
    assert set(EXPORT_FIELDS) < set(TRIAL_FIELD_NAMES)
    record = export_record(back, row_id=7)
    assert (record.number, record.state, record.num_params, record.row_id) == \
        (2, "pruned", 102, 7)
    source = job_source(1, "rec", SPEC, [row])
    assert source.trials == [record]


def test_record_dict_is_json_ready_and_keeps_the_duration():
    study = _study()
    trial = study.trials[0]
    frozen = create_trial(state=TrialState.COMPLETE, values=trial.values, params=trial.params,
                          distributions=trial.distributions, user_attrs=trial.user_attrs)
    frozen.datetime_start, frozen.datetime_complete = START, START + timedelta(seconds=3)
    record = record_dict(outcome_from_trial(frozen, ["t1", "t2"]))
    assert record["duration_s"] == 3.0 and record["values"] == {"t1": 0.8, "t2": 0.6}
    import json

    assert json.loads(json.dumps(record)) == record


def test_wide_attributes_are_shown_short_and_read_back_in_full():
    """optuna-dashboard shows user attributes (issue 21): a dict is flattened per leaf, long
    text and lists are cut to MAX_SHOWN_CHARS; the full value stays a system attribute that
    :func:`stored_attrs` reads, as it reads a study stored before (all user attributes)."""
    from automtl.trial_record import (
        MAX_SHOWN_CHARS,
        set_study_attr,
        set_trial_attr,
        shown_attrs,
        stored_attrs,
        study_attrs,
    )

    candidate = {"architecture": {"topology": "mmoe", "expert_units": [64, 32],
                                  "towers": [{"units": [8]}, {"units": [4]}]},
                 "weighting": {"name": "equal"}}
    assert shown_attrs("c", candidate) == {
        "c.architecture.topology": "mmoe", "c.architecture.expert_units": "[64, 32]",
        "c.architecture.towers.0.units": "[8]", "c.architecture.towers.1.units": "[4]",
        "c.weighting.name": "equal"}
    long = "x" * 500
    assert shown_attrs("e", long) == {"e": "x" * (MAX_SHOWN_CHARS - 1) + "\u2026"}
    assert shown_attrs("n", 3) == {"n": 3}
    study = optuna.create_study(directions=["maximize", "maximize"])
    trial = study.ask()
    set_trial_attr(trial, ATTR_CANDIDATE, candidate)
    set_trial_attr(trial, "automtl:error", long)
    set_trial_attr(trial, ATTR_PARAMS, 12)
    set_study_attr(study, "automtl:spec", {"name": "j", "tasks": [{"name": "t1"}]})
    study.tell(trial, [0.5, 0.5])
    frozen = study.trials[0]
    assert ATTR_CANDIDATE not in frozen.user_attrs
    assert frozen.user_attrs["automtl:candidate.architecture.topology"] == "mmoe"
    assert len(frozen.user_attrs["automtl:error"]) == MAX_SHOWN_CHARS
    attrs = stored_attrs(frozen)
    assert attrs[ATTR_CANDIDATE] == candidate and attrs["automtl:error"] == long
    assert attrs[ATTR_PARAMS] == 12
    assert study.user_attrs == {"automtl:spec.name": "j", "automtl:spec.tasks.0.name": "t1"}
    assert study_attrs(study)["automtl:spec"] == {"name": "j", "tasks": [{"name": "t1"}]}
    old = _study().trials[0]  # written before: the candidate a user attribute
    assert outcome_from_trial(old, ["t1", "t2"]).candidate == old.user_attrs[ATTR_CANDIDATE]


def test_the_datas_warnings_stored_with_the_study_reach_the_front_and_the_report():
    """New-user pass item 5: a rare class in a measured split is said in the front (REST
    /pareto) and on the report page, not only at submit."""
    from automtl.report.html import build_report_html
    from automtl.trial_record import STUDY_DATA_WARNINGS_ATTR, set_study_attr

    study = _study()
    spec = load_job_spec(SPEC)
    assert pareto_front(study, spec)["warnings"] == []
    warning = "task 't2' has 9 positive label(s) in the valid split (of 600 labelled rows)"
    set_study_attr(study, STUDY_DATA_WARNINGS_ATTR, [warning])
    front = pareto_front(study, spec)
    assert front["warnings"] == [warning]
    page = build_report_html(front, [], tasks=[{"name": "t1", "metric": "auc",
                                                "direction": "maximize"}])
    assert "Warning: task &#x27;t2&#x27; has 9 positive label(s)" in page or \
        "Warning: task 't2' has 9 positive label(s)" in page
