"""``POST /v1/genealogy``: link two codes."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from linecheck.serving.api.deps import ContextDep, LinkingKeyDep
from linecheck.serving.api.responses import StatusOut
from linecheck.serving.api.schemas import GenealogyIn
from linecheck.serving.api.services.records import add_genealogy

router = APIRouter(prefix="/v1/genealogy", tags=["genealogy"])


@router.post("", response_model=StatusOut, status_code=201)
async def post_genealogy(
    body: GenealogyIn, response: Response, key: LinkingKeyDep, context: ContextDep
) -> StatusOut:
    """``parent`` contains / is made from / packs ``child`` (201 new, 200 when already linked).

    Relations: ``contains`` (module contains cell string), ``made_from`` (part made from a raw
    material lot, fabric batch from a roll) and ``packed_in`` (the child is packed in the parent box).

    A unit belongs to the line that first inspected it. A **line** key links codes when neither
    belongs to another line and at least one belongs to its lines; a **reviewer** key also links
    codes no line owns (lots, batches, boxes), within its lines if it has any. **403** otherwise.
    **409** when the link would close a cycle (the message shows the path).
    """
    created = await run_in_threadpool(add_genealogy, context.db, body, key)
    response.status_code = 201 if created else 200
    return StatusOut(status="created" if created else "duplicate")
