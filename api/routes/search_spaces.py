"""``/search-spaces``: the built-in presets, and validation of a search-space document."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from automtl_api.deps import OwnerDep, SettingsDep
from automtl_api.errors import ApiError
from automtl_api.schemas import BODY_ERRORS, ErrorResponse, PresetRead, SpaceValidation
from automtl_api.spec_limits import hostile_input_errors

router = APIRouter(prefix="/search-spaces", tags=["search spaces"],
                   responses={401: {"model": ErrorResponse}})


@router.get("/presets", response_model=list[PresetRead], summary="The built-in presets")
def list_presets(owner: OwnerDep) -> list[PresetRead]:
    """Every built-in preset with its document; use one as ``search_space: {preset: NAME}``."""
    import search_spaces

    out = []
    for name in search_spaces.presets():
        space = search_spaces.load_preset(name)
        out.append(PresetRead(name=name, description=space.description,
                              topologies=space.topologies, weightings=space.weightings,
                              document=space.document))
    return out


@router.post("/validate", response_model=SpaceValidation, summary="Validate a search space",
             responses={**BODY_ERRORS, 422: {"model": ErrorResponse,
                              "description": "every problem of the document with its path"}})
def validate_space(
    owner: OwnerDep, settings: SettingsDep,
    document: Annotated[dict[str, Any], Body(
        description="a search-space document (the DSL) or {preset: NAME}",
        examples=[{"topology": {"choose": {"mmoe": {"experts": {"int": [2, 8]}}}}}])],
    tasks: Annotated[list[str] | None, Query(
        description="the job's task names, to check fixed loss weights against")] = None,
) -> SpaceValidation:
    """Validate a search space the way a job's ``search_space`` is validated. With no job
    here, a document naming a topology that needs a job field (``star``: ``domains``,
    ``aitm``: ``sequence``) is valid, and the answer's ``warnings`` says a job without that
    field is refused (a preset leaves such a topology out instead, so it gets no warning;
    ``needs_job_fields`` lists them in both cases)."""
    import search_spaces

    bounds = hostile_input_errors(document, max_depth=settings.max_json_depth,
                                  max_items=settings.max_list_items,
                                  max_string=settings.max_string_chars)
    if bounds:
        raise ApiError.invalid(bounds)
    try:
        space = search_spaces.load(document)
        if tasks:
            space.check_tasks(tasks)
    except search_spaces.SearchSpaceError as exc:
        raise ApiError.invalid(exc.errors) from None
    summary = space.summary()
    return SpaceValidation(valid=True, topologies=space.topologies, weightings=space.weightings,
                           summary=summary.to_dict(), needs_job_fields=summary.needs_job_fields,
                           warnings=space.job_field_warnings())
