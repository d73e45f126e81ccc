"""``POST /v1/genealogy``: link two codes."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool

from linecheck.serving.api.deps import ContextDep, LineKeyDep
from linecheck.serving.api.responses import StatusOut
from linecheck.serving.api.schemas import GenealogyIn
from linecheck.serving.api.services.records import add_genealogy

router = APIRouter(prefix="/v1/genealogy", tags=["genealogy"])


@router.post("", response_model=StatusOut, status_code=201)
async def post_genealogy(
    body: GenealogyIn, response: Response, key: LineKeyDep, context: ContextDep
) -> StatusOut:
    """``parent`` contains / is made from / packs ``child`` (201 new, 200 when already linked).

    Relations: ``contains`` (module contains cell string), ``made_from`` (part made from a raw
    material lot, fabric batch from a roll) and ``packed_in`` (the child is packed in the parent box).
    """
    created = await run_in_threadpool(add_genealogy, context.db, body, key)
    response.status_code = 201 if created else 200
    return StatusOut(status="created" if created else "duplicate")
