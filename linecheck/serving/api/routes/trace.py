"""``/v1/trace/{code}``: everything about a code, and the same as GS1 EPCIS 2.0 JSON-LD."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from linecheck.serving.api.deps import ContextDep, ReaderKeyDep
from linecheck.serving.api.responses import TraceOut
from linecheck.serving.api.schemas import CodePath
from linecheck.serving.api.services.trace import trace_code, trace_epcis

router = APIRouter(prefix="/v1/trace", tags=["trace"])


@router.get("/{code}", response_model=TraceOut)
def get_trace(code: CodePath, _key: ReaderKeyDep, context: ContextDep) -> Response:
    """Unit, its grade after review, genealogy up and down, inspections with defects and reviews, events."""
    trace = trace_code(context.db, code, max_depth=context.settings.trace_max_depth, lines=context.lines)
    # Serialised directly: the trace is built from stored, already validated rows (the hot read path).
    return Response(trace.model_dump_json(), media_type="application/json")


@router.get(
    "/{code}/epcis",
    response_class=JSONResponse,
    responses={200: {"content": {"application/ld+json": {}}, "description": "an EPCISDocument"}},
)
def get_trace_epcis(code: CodePath, _key: ReaderKeyDep, context: ContextDep) -> Any:
    """The code's history as an EPCIS 2.0 document (ObjectEvent, AggregationEvent, TransformationEvent).

    Its inspections, review decisions, pass audits, genealogy links and process events.
    """
    document = trace_epcis(
        context.db,
        context.lines,
        code,
        max_depth=context.settings.trace_max_depth,
        base_uri=context.settings.epcis_base_uri,
    )
    return JSONResponse(document, media_type="application/ld+json")
