"""``POST /v1/units/{code}/events``: process events (received ... shipped) of a code."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from linecheck.serving.api.deps import ContextDep, LineKeyDep
from linecheck.serving.api.responses import StatusOut
from linecheck.serving.api.schemas import CodePath, ProcessEventIn
from linecheck.serving.api.services.records import add_event

router = APIRouter(prefix="/v1/units", tags=["units"])


@router.post("/{code}/events", response_model=StatusOut, status_code=201)
async def post_event(
    code: CodePath, body: ProcessEventIn, response: Response, key: LineKeyDep, context: ContextDep
) -> StatusOut:
    """Record received / processed / assembled / packed / shipped for a code (201 new, 200 repeat).

    The code need not have been inspected (a raw-material lot, a shipping box); a repeat of the
    same (code, type, at) is recognised and not stored twice.
    """
    created = await run_in_threadpool(add_event, context.db, context.lines, code, body, key)
    response.status_code = 201 if created else 200
    return StatusOut(status="created" if created else "duplicate")
