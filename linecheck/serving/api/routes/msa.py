"""Attribute MSA of a line's station: its challenge parts over a period, or a posted study."""

from __future__ import annotations

from fastapi import APIRouter

from linecheck.serving.api.deps import ContextDep, ReaderKeyDep
from linecheck.serving.api.msa_responses import MsaOut
from linecheck.serving.api.schemas import LineIdPath, MsaStudyIn, Since, Until
from linecheck.serving.api.services import msa as service

router = APIRouter(prefix="/v1", tags=["msa"])


@router.get("/lines/{line_id}/msa", response_model=MsaOut)
def get_line_msa(
    line_id: LineIdPath, _key: ReaderKeyDep, context: ContextDep, since: Since = None, until: Until = None
) -> MsaOut:
    """The attribute study of the line's challenge parts over the period (default: the last 30 days).

    Each inspection of a part is a trial, decided as the machine decided it: effectiveness, miss rate and
    false alarm rate (with their 95 % Wilson intervals), repeatability, Cohen's kappa, and AIAG's verdict
    (acceptable, marginal, unacceptable, or insufficient). 404 when the line lists no challenge parts.
    """
    return service.line_msa(context.db, context.lines, line_id, since=since, until=until)


@router.post("/msa", response_model=MsaOut)
def post_msa(body: MsaStudyIn, _key: ReaderKeyDep, context: ContextDep) -> MsaOut:
    """The attribute study of the posted reference parts (code and true state) run on a line in a period.

    Nothing is stored: the trials are the stored inspections of those codes on the line in the period.
    422 naming the field: an unknown line, a code listed twice, `since` not before `until`, over 366 days.
    """
    return service.study_msa(context.db, context.lines, body)
