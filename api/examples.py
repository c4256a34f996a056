"""One example answer per route, shown in /docs and /redoc (``example`` of each 2xx media type).

Keyed by the response schema's name; ``tests/api/test_api_examples.py`` validates every example
against its pydantic model, so an example cannot drift from what the route returns.
"""

from __future__ import annotations

from typing import Any

_CANDIDATE: dict[str, Any] = {
    "architecture": {"topology": "mmoe", "embedding_dim": 8, "activation": "relu",
                     "dropout": 0.0, "normalization": "none", "tower_units": [32],
                     "params": {"num_shared_experts": 4, "expert_units": [64],
                                "gate_kind": "softmax"}},
    "weighting": {"name": "uncertainty", "params": {}},
    "train": {"optimizer": "adam", "lr": 0.003, "batch_size": 512, "epochs": 3, "seed": 7},
}

_PROGRESS: dict[str, Any] = {"finished": 18, "failed": 1, "pruned": 5, "running": 2,
                             "budget": 30,
                             "elapsed_s": 412.5, "front_size": 4, "hypervolume": 0.0871}

_JOB: dict[str, Any] = {
    "id": 12, "name": "ctr-cvr", "status": "running", "dataset_id": 3,
    "study_name": "automtl-job12-ctr-cvr-5f0c2a91", "created_at": "2026-11-30T09:00:00Z",
    "started_at": "2026-11-30T09:00:04Z", "finished_at": None, "cancel_requested": False,
    "cancel_outcome": None,
    "error": None, "attempts": 1, "progress": _PROGRESS,
}

_TRIAL: dict[str, Any] = {
    "number": 5, "state": "complete",
    "params": {"topology": "mmoe", "weighting": "uncertainty", "mmoe/experts": 4,
               "optimizer/lr": 0.003},
    "config": _CANDIDATE,
    "valid_metrics": {"click": {"auc": 0.781, "logloss": 0.412},
                      "purchase": {"auc": 0.702, "logloss": 0.121}},
    "test_metrics": {"click": {"auc": 0.776, "logloss": 0.415},
                     "purchase": {"auc": 0.695, "logloss": 0.124}},
    "objectives": {"click": 0.781, "purchase": 0.702},
    "num_params": 48211, "latency_ms": 0.84, "train_seconds": 21.3, "total_seconds": 23.9,
    "artifact_path": "automtl-job12-ctr-cvr-5f0c2a91/trial-5", "ray_node_id": "5e1f0c",
    "error": None, "on_front": True,
    "gate_utilisation": {"click": [0.41, 0.22, 0.19, 0.18],
                         "purchase": [0.12, 0.47, 0.21, 0.20]},
    "pruned_epoch": None, "rung_values": None,
    "created_at": "2026-11-30T09:03:10Z", "finished_at": "2026-11-30T09:03:34Z",
}
# the record's names (as /pareto names them) beside the deprecated aliases above
_TRIAL.update(candidate=_TRIAL["config"], values=_TRIAL["objectives"],
              valid=_TRIAL["valid_metrics"], test=_TRIAL["test_metrics"],
              train_time_s=_TRIAL["train_seconds"], trial_time_s=_TRIAL["total_seconds"],
              artifact=_TRIAL["artifact_path"], rungs=_TRIAL["rung_values"])

_DATASET: dict[str, Any] = {
    "id": 3, "name": "clicks.parquet", "format": "parquet", "size_bytes": 18234112,
    "content_hash": "9f2c1e0b7d4a5c3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
    "rows": 500000,
    "columns": [
        {"name": "user_id", "dtype": "int64", "kind": "categorical",
         "reason": "id-like name (user_id)", "numeric": True, "distinct": 48211, "missing": 0,
         "binary": False},
        {"name": "price", "dtype": "float64", "kind": "numeric", "reason": "float values",
         "numeric": True, "distinct": 9120, "missing": 14, "binary": False},
        {"name": "click", "dtype": "int64", "kind": None, "reason": "a task's label",
         "numeric": True, "distinct": 2, "missing": 0, "binary": True},
    ],
    "created_at": "2026-11-30T08:55:00Z",
}

#: schema name -> an example of it
EXAMPLES: dict[str, Any] = {
    "Health": {"status": "ok", "database": "postgresql"},
    "ErrorResponse": {"detail": [{"loc": ["body", "budget", "trials"], "path": "budget.trials",
                                  "msg": "10000000 is over this server's limit of 10000 "
                                         "(AUTOMTL_MAX_TRIALS)", "type": "value_error"}]},
    "JobRead": _JOB,
    "JobDetail": {**_JOB, "spec": {"name": "ctr-cvr", "dataset": {"id": "3"},
                                   "tasks": [{"name": "click"}, {"name": "purchase"}],
                                   "search_space": {"preset": "default"},
                                   "budget": {"trials": 30, "epochs": 3}},
                  "waiting_reason": None},
    "JobSubmitted": {**_JOB, "warnings": [
        "task 'purchase' has 9 positive label(s) in the valid split (of 600 labelled rows), "
        "fewer than 20: its AUC there, which ranks the trials, is too noisy to compare trials "
        "(standard error about 0.1); use more rows or a larger valid split"]},
    "JobPage": {"items": [_JOB], "limit": 50, "offset": 0, "has_more": False, "total": 1},
    "Limits": {"limits": {"max_trials": 200, "max_epochs": 1000, "max_concurrency": 64,
                          "max_time_limit_s": 604800.0, "max_synthetic_rows": 2000000,
                          "max_active_jobs": 3},
               "source": {"max_trials": "owner", "max_epochs": "server",
                          "max_concurrency": "server", "max_time_limit_s": "server",
                          "max_synthetic_rows": "server", "max_active_jobs": "owner"},
               "active_jobs": 1},
    "TrialRead": _TRIAL,
    "TrialPage": {"items": [_TRIAL], "limit": 100, "offset": 0, "has_more": True, "total": 31},
    "ParetoFront": {
        "job_id": 12, "status": "running",
        "objectives": [{"name": "click", "direction": "maximize", "metric": "auc"},
                       {"name": "purchase", "direction": "maximize", "metric": "auc"}],
        "reference_point": {"click": 0.5, "purchase": 0.5}, "hypervolume": 0.0871,
        "trials": [{"number": 5, "candidate": _CANDIDATE,
                    "values": {"click": 0.781, "purchase": 0.702},
                    "valid": _TRIAL["valid_metrics"], "test": _TRIAL["test_metrics"],
                    "num_params": 48211, "latency_ms": 0.84, "on_front": True}],
        "n_trials": 21, "n_dominated": 17, "warnings": []},
    "DatasetRead": _DATASET,
    "DatasetPage": {"items": [_DATASET], "limit": 50, "offset": 0, "has_more": False,
                    "total": 1},
    "PresetRead": {"name": "moe", "description": "Mixture-of-experts topologies only",
                   "topologies": ["mmoe", "cgc", "ple"], "weightings": ["equal", "uncertainty"],
                   "document": {"topology": {"choose": {"mmoe": {"experts": {"int": [2, 8]}}}}}},
    "SpaceValidation": {"valid": True, "topologies": ["mmoe", "star"], "weightings": ["equal"],
                        "summary": {"parameters": 3, "topologies": {"mmoe": 2, "star": 1}},
                        "needs_job_fields": {"star": ["domains"]},
                        "warnings": ["topology.choose.star: star needs 'domains' in the job "
                                     "spec; set it or leave star out (a job without it is "
                                     "refused)"]},
}

#: examples of the non-JSON answers, by media type
MEDIA_EXAMPLES: dict[str, str] = {
    "text/csv": "trial,topology,weighting,click,purchase,test_click_auc,test_purchase_auc,"
                "num_params,latency_ms\n"
                "5,mmoe,uncertainty,0.781,0.702,0.776,0.695,48211,0.84\n",
    "text/html": "<!doctype html><html>...the job's report...</html>",
}


_FASTAPI_422 = "/HTTPValidationError"


def add_examples(schema: dict[str, Any]) -> None:
    """Set ``example`` on every response media of an OpenAPI document: from :data:`EXAMPLES`
    by the referenced schema (a list of one, for an array of it); 2xx answers of other media
    types from :data:`MEDIA_EXAMPLES`. FastAPI's ``HTTPValidationError`` answers are documented
    as :class:`~automtl_api.schemas.ErrorResponse`, the shape the error handlers send."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                for media_type, media in response.get("content", {}).items():
                    if media.get("schema", {}).get("$ref", "").endswith(_FASTAPI_422):
                        # the error handlers answer FastAPI's own 422s in the one error shape
                        media["schema"] = {"$ref": "#/components/schemas/ErrorResponse"}
                    if media_type != "application/json" and not status.startswith("2"):
                        continue
                    example = _example_of(media.get("schema") or {}, media_type)
                    if example is not None:
                        media.setdefault("example", example)


def _example_of(schema: dict[str, Any], media_type: str) -> Any:
    if media_type != "application/json":
        return MEDIA_EXAMPLES.get(media_type)
    if "$ref" in schema:
        return EXAMPLES.get(schema["$ref"].rsplit("/", 1)[-1])
    items = schema.get("items", {})
    if schema.get("type") == "array" and "$ref" in items:
        one = EXAMPLES.get(items["$ref"].rsplit("/", 1)[-1])
        return None if one is None else [one]
    return None
