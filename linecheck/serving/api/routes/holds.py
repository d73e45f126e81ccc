"""Holds (containment of suspect units): place, list, a hold's units, release."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from linecheck.serving.api.deps import ContextDep, ReaderKeyDep, ReviewerKeyDep
from linecheck.serving.api.hold_responses import (
    HoldContainersOut,
    HoldOut,
    HoldPageOut,
    HoldReleaseOut,
    HoldUnitPageOut,
)
from linecheck.serving.api.responses import HoldUnitState
from linecheck.serving.api.schemas import ROW_ID_MAX, HoldCause, HoldIn, HoldReleaseIn, LineIdQuery, Offset
from linecheck.serving.api.services import holds as service
from linecheck.serving.store.repositories.holds import HoldFilter

router = APIRouter(prefix="/v1/holds", tags=["holds"])
HoldIdPath = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
Limit = Annotated[int, Query(ge=1, le=500)]
HoldState = Annotated[
    str, Query(pattern="^(open|released|all)$", description="open: not released as a whole; released; all")
]


@router.post("", response_model=HoldOut, status_code=201)
async def post_hold(body: HoldIn, key: ReviewerKeyDep, context: ContextDep) -> HoldOut:
    """Hold the units a line (a product of it) made in a suspect period: they may not ship.

    The units are those with an inspection on `line_id` captured in [`since`, `until`) (default
    `until`: now), the line's challenge parts left out. Each leaves the hold when it is inspected
    again after the hold was placed (its grade then decides) or a person releases it
    (`POST /v1/holds/{id}/release`). **422** naming the field: an unknown line, a product the line does
    not make, `since` not before `until`, `until` in the future, a period over 31 days, an empty `reason`.
    """
    hold = await run_in_threadpool(service.place_hold, context.db, context.lines, body, key)
    context.metrics.holds.labels(hold.line_id, hold.cause).inc()
    return hold


@router.get("", response_model=HoldPageOut)
def get_holds(
    _key: ReaderKeyDep,
    context: ContextDep,
    line_id: LineIdQuery = None,
    state: HoldState = "open",
    cause: Annotated[HoldCause | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HoldPageOut:
    """Holds, newest first (default: the open ones), with how many units are held, re-inspected, released."""
    flt = HoldFilter(line_id=line_id, state=None if state == "all" else state, cause=cause)
    return service.list_holds(context.db, context.lines, flt, limit=limit, offset=offset)


@router.get("/{hold_id}", response_model=HoldOut)
def get_hold(hold_id: HoldIdPath, _key: ReaderKeyDep, context: ContextDep) -> HoldOut:
    """One hold and its units' counts."""
    return service.get_hold(context.db, context.lines, hold_id)


@router.get("/{hold_id}/units", response_model=HoldUnitPageOut)
def get_hold_units(
    hold_id: HoldIdPath,
    _key: ReaderKeyDep,
    context: ContextDep,
    state: Annotated[
        HoldUnitState | None, Query(description="held, reinspected or released; unset: all")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HoldUnitPageOut:
    """A hold's units, newest first: where each stands, and whether it may ship (its grade and the hold)."""
    return service.hold_units(context.db, context.lines, hold_id, state=state, limit=limit, offset=offset)


@router.get("/{hold_id}/containers", response_model=HoldContainersOut)
def get_hold_containers(hold_id: HoldIdPath, _key: ReaderKeyDep, context: ContextDep) -> HoldContainersOut:
    """Where the hold's still-held units went: what to pull back and sort.

    The boxes, pallets and products holding them (genealogy up, every relation, 4 levels), most held units
    first, each with up to five of them.
    """
    return service.hold_containers(context.db, context.lines, hold_id)


@router.post("/{hold_id}/release", response_model=HoldReleaseOut, status_code=201)
async def post_release(
    hold_id: HoldIdPath, body: HoldReleaseIn, key: ReviewerKeyDep, context: ContextDep
) -> HoldReleaseOut:
    """Release the whole hold (no `code`) or one unit of it, with the reason (`comment`).

    **409** naming the field: the hold was already released as a whole (`hold_id`), the unit is not in
    the hold or was released already (`code`).
    """
    return await run_in_threadpool(service.release, context.db, context.lines, hold_id, body, key)
