"""``/v1/inspections``: ingest (single or batch, idempotent), listing and one inspection."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from linecheck.messages import CodeStatus, Verdict
from linecheck.serving.api.bodies import read_body
from linecheck.serving.api.deps import ContextDep, LineKeyDep, ReaderKeyDep
from linecheck.serving.api.responses import IngestBatchOut, IngestResultOut, InspectionOut, InspectionPageOut
from linecheck.serving.api.schemas import (
    CodeQuery,
    InspectionIdPath,
    LineIdQuery,
    Offset,
    ProductQuery,
    Since,
    TriggerIdQuery,
    Until,
)
from linecheck.serving.api.services import queries
from linecheck.serving.api.services.ingest import parse_ingest_body
from linecheck.serving.store.repositories.inspections import InspectionFilter

router = APIRouter(prefix="/v1/inspections", tags=["inspections"])

INGEST_DOC = """Store one inspection, or a batch `{"inspections": [...]}` of up to `max_batch` (500).

* Idempotent on the client-generated `id`: a retry with the same content answers `duplicate`
  and writes nothing; the same id with different content answers **409**.
* Single: **201** `{"id", "status": "created"}` or **200** `{"id", "status": "duplicate"}`.
* Batch: **200** `{"results": [{"id", "status"}...], "created", "duplicates"}`. A batch is
  atomic: if any item is invalid (**422**) or conflicts (**409**) nothing is stored, and the
  error body's `errors` names every bad item (`inspections[3].defects[1].bbox`).
* Validation errors: **422** `{"error": {"type", "field", "value", "message"}, "errors": [...]}`.
"""


@router.post(
    "",
    status_code=201,
    description=INGEST_DOC,
    response_model=IngestResultOut | IngestBatchOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestBody"}}},
        }
    },
)
async def post_inspections(request: Request, response: Response, key: LineKeyDep, context: ContextDep) -> Any:
    """Ingest inspections."""
    body = await read_body(request, context.settings.max_body_bytes)
    parsed = parse_ingest_body(body, max_batch=context.settings.max_batch)
    outcomes = await run_in_threadpool(context.ingest.ingest, parsed.items, key, batch=parsed.batch)
    results = [IngestResultOut(id=o.id, status=o.status) for o in outcomes]
    if not parsed.batch:
        response.status_code = 201 if results[0].status == "created" else 200
        return results[0]
    response.status_code = 200
    created = sum(r.status == "created" for r in results)
    return IngestBatchOut(results=results, created=created, duplicates=len(results) - created)


@router.get("", response_model=InspectionPageOut)
def list_inspections(
    _key: ReaderKeyDep,
    context: ContextDep,
    line_id: LineIdQuery = None,
    code: CodeQuery = None,
    code_status: CodeStatus | None = Query(None, description="code_unread: frames waiting for a code"),
    verdict: Verdict | None = None,
    trigger_id: TriggerIdQuery = None,
    product: ProductQuery = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> InspectionPageOut:
    """List inspections, newest first; `code_status=code_unread` lists frames still without a code.

    `line_id` + `trigger_id` finds the record of the unit a PLC triggered (its MeasId). `product`: the
    inspections judged as that product (one of the line's `products:`; an unknown one is a 422).
    """
    flt = InspectionFilter(
        line_id=line_id,
        code=code,
        code_status=code_status,
        verdict=verdict,
        trigger_id=trigger_id,
        product=product,
        since=since,
        until=until,
    )
    return queries.list_inspections(context.db, context.lines, flt, limit=limit, offset=offset)


@router.get("/{inspection_id}", response_model=InspectionOut)
def get_inspection(inspection_id: InspectionIdPath, _key: ReaderKeyDep, context: ContextDep) -> InspectionOut:
    """One inspection with its defects and their reviews."""
    return queries.get_inspection(context.db, inspection_id)
