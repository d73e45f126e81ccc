"""Pass audits: ``/v1/review/audit`` (the frames kept for audit), an audit of one, a line's escape rate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from linecheck.serving.api.audit_responses import AuditQueueOut, EscapeRateOut
from linecheck.serving.api.deps import ContextDep, ReaderKeyDep, ReviewerKeyDep
from linecheck.serving.api.responses import PassAuditOut
from linecheck.serving.api.schemas import (
    AuditIn,
    InspectionIdPath,
    LineIdPath,
    LineIdQuery,
    Offset,
    ProductQuery,
    Since,
    Until,
)
from linecheck.serving.api.services import audits as service
from linecheck.serving.store.repositories.audits import AuditFilter, AuditReason

router = APIRouter(prefix="/v1", tags=["audits"])
AuditState = Annotated[
    str, Query(pattern="^(pending|audited|all)$", description="pending: not audited yet; audited; all")
]
AuditReasonQuery = Annotated[
    AuditReason | None,
    Query(description="sample: the pass-audit samples; borderline: the near misses; unset: both"),
]


@router.get("/review/audit", response_model=AuditQueueOut)
def audit_queue(
    _key: ReaderKeyDep,
    context: ContextDep,
    line_id: LineIdQuery = None,
    product: ProductQuery = None,
    state: AuditState = "pending",
    reason: AuditReasonQuery = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> AuditQueueOut:
    """The passed frames kept for audit, newest first, with the defects drawn on them.

    A frame is kept as a pass-audit sample (`audit_sample`), a near miss (`audit_borderline`: a
    detection came within the line's `audit.borderline` of its threshold), or both; `reason` lists one
    kind. Each item has its newest audit (null: pending). The lines' challenge parts are left out;
    `product` must be one of the line's products (else 422).
    """
    flt = AuditFilter(
        state=None if state == "all" else state,
        reason=reason,
        line_id=line_id,
        product=product,
        since=since,
        until=until,
    )
    return service.audit_queue(context.db, context.lines, flt, limit=limit, offset=offset)


@router.post("/inspections/{inspection_id}/audit", response_model=PassAuditOut, status_code=201)
async def post_audit(
    inspection_id: InspectionIdPath, body: AuditIn, key: ReviewerKeyDep, context: ContextDep
) -> PassAuditOut:
    """Audit a passed frame kept for audit: `ok` (nothing missed) or `escape` (the model missed a defect).

    A sample and a near miss are audited alike. For an escape, draw the missed defect first
    (`POST /v1/inspections/{id}/defects`). **409** naming the field and value: a frame kept for audit
    neither as a sample nor as a near miss (`audit_sample`), an `escape` with no drawn defect, an `ok`
    with one (`outcome`). A re-audit is a new audit; the newest one counts.
    """
    done = await run_in_threadpool(service.record_audit, context.db, inspection_id, body, key)
    context.metrics.audits.labels(done.line_id, done.audit.outcome).inc()
    return done.audit


@router.get("/lines/{line_id}/audit", response_model=EscapeRateOut)
def get_escape_rate(
    line_id: LineIdPath,
    _key: ReaderKeyDep,
    context: ContextDep,
    since: Since = None,
    until: Until = None,
    product: ProductQuery = None,
) -> EscapeRateOut:
    """The line's pass audits in the period (default: the last 24 h, at most 31 days): the escape rate.

    `escape_rate` = escapes / audited with its 95 % Wilson interval (`low`, `high`), over the samples
    captured in the period, each by its newest audit; `pending`: samples not audited yet. The near
    misses (`audit_borderline`) are chosen by the model's scores and never enter the rate: `borderline`
    counts them apart (a frame that is both counts in the rate as a sample).
    """
    return service.line_escape_rate(
        context.db, context.lines, line_id, since=since, until=until, product=product
    )
