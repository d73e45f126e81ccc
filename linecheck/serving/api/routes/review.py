"""Review: ``/v1/review/queue``, ``/v1/defects/{id}`` and its review, codes for unread frames."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from linecheck.serving.api.deps import ContextDep, ReaderKeyDep, ReviewerKeyDep
from linecheck.serving.api.responses import DefectOut, InspectionOut, QueueOut, ReviewerStatsOut
from linecheck.serving.api.schemas import (
    AddDefectIn,
    BulkReviewIn,
    ClassNameQuery,
    CodeAssignIn,
    CodeQuery,
    InspectionIdPath,
    LineIdQuery,
    MergeIn,
    Offset,
    ReviewIn,
    RowId,
    Since,
    UndoIn,
    Until,
)
from linecheck.serving.api.services import corrections, queries
from linecheck.serving.api.services import review as service
from linecheck.serving.api.services.reviewers import reviewer_stats
from linecheck.serving.store.repositories.reviews import QueueFilter

router = APIRouter(prefix="/v1", tags=["review"])
ReviewState = Annotated[str, Query(pattern="^(pending|confirmed|rejected|reclassified|all)$")]


@router.get("/review/queue", response_model=QueueOut)
def review_queue(
    _key: ReaderKeyDep,
    context: ContextDep,
    line_id: LineIdQuery = None,
    class_name: ClassNameQuery = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    since: Since = None,
    until: Until = None,
    state: ReviewState = "pending",
    code: Annotated[CodeQuery, Query(description="only this unit's defects")] = None,
    sort: Annotated[
        str, Query(pattern="^(newest|confidence)$", description="confidence: lowest first")
    ] = "newest",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> QueueOut:
    """Defects to review (default: not yet reviewed), newest first, filtered and paginated.

    `total` counts matches up to 10,000 (`total_exact` is false beyond); `unread_inspections`
    counts frames whose code could not be read (list them with `GET /v1/inspections?code_status=code_unread`).
    The lines' challenge parts (`verification:` in a line YAML) are left out unless `code` names one.
    """
    flt = QueueFilter(
        code=code,
        state=None if state == "all" else state,
        line_id=line_id,
        class_name=class_name,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        since=since,
        until=until,
    )
    return service.review_queue(context.db, flt, limit=limit, offset=offset, sort=sort, lines=context.lines)


@router.get("/review/stats", response_model=ReviewerStatsOut)
def get_reviewer_stats(
    _key: ReaderKeyDep,
    context: ContextDep,
    line_id: LineIdQuery = None,
    since: Since = None,
    until: Until = None,
) -> ReviewerStatsOut:
    """Decisions per reviewer in a period (default: 30 days) and agreement where two reviewed a defect."""
    return reviewer_stats(context.db, since=since, until=until, line_id=line_id)


@router.post("/defects/review", response_model=list[DefectOut], status_code=201)
async def post_bulk_review(body: BulkReviewIn, key: ReviewerKeyDep, context: ContextDep) -> list[DefectOut]:
    """The same decision on several defects (up to 500) in one transaction: all are stored or none."""
    result = await run_in_threadpool(corrections.bulk, context.db, context.lines, body, key)
    context.metrics.reviews.labels(body.decision).inc(len(result))
    return result


@router.get("/defects/{defect_id}", response_model=DefectOut)
def get_defect(defect_id: RowId, _key: ReaderKeyDep, context: ContextDep) -> DefectOut:
    """One defect and its full review history."""
    return service.get_defect(context.db, defect_id)


@router.post("/defects/{defect_id}/review", response_model=DefectOut, status_code=201)
async def post_review(
    defect_id: RowId, body: ReviewIn, key: ReviewerKeyDep, context: ContextDep
) -> DefectOut:
    """Confirm, reject or reclassify a defect; earlier decisions stay in its history."""
    result = await run_in_threadpool(service.review_defect, context.db, context.lines, defect_id, body, key)
    context.metrics.reviews.labels(body.decision).inc()
    return result


@router.post("/defects/{defect_id}/undo", response_model=DefectOut, status_code=201)
async def post_undo(defect_id: RowId, body: UndoIn, key: ReviewerKeyDep, context: ContextDep) -> DefectOut:
    """Take back the newest decision on a defect (a new review row; 409 when none is left to undo)."""
    result = await run_in_threadpool(corrections.undo, context.db, context.lines, defect_id, body, key)
    context.metrics.reviews.labels("undo").inc()
    return result


@router.post("/inspections/{inspection_id}/defects", response_model=DefectOut, status_code=201)
async def post_missed_defect(
    inspection_id: InspectionIdPath, body: AddDefectIn, key: ReviewerKeyDep, context: ContextDep
) -> DefectOut:
    """A defect the model missed, drawn by a reviewer; it counts in the grade and as a training label."""
    result = await run_in_threadpool(
        corrections.add_defect, context.db, context.lines, inspection_id, body, key
    )
    context.metrics.reviews.labels("add").inc()
    return result


@router.post("/inspections/{inspection_id}/merge", response_model=list[DefectOut], status_code=201)
async def post_merge(
    inspection_id: InspectionIdPath, body: MergeIn, key: ReviewerKeyDep, context: ContextDep
) -> list[DefectOut]:
    """Merge boxes of one frame into the first listed: it takes their union box, the others are rejected."""
    return await run_in_threadpool(corrections.merge, context.db, context.lines, inspection_id, body, key)


@router.post("/inspections/{inspection_id}/code", response_model=InspectionOut)
async def post_code(
    inspection_id: InspectionIdPath, body: CodeAssignIn, key: ReviewerKeyDep, context: ContextDep
) -> InspectionOut:
    """Give a frame whose code could not be read the code a person read (once)."""
    await run_in_threadpool(service.assign_code, context.db, context.lines, inspection_id, body.code, key)
    return queries.get_inspection(context.db, inspection_id)
