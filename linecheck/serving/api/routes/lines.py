"""``/v1/lines``: registered lines and their per-shift statistics."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from linecheck.contract import NAME_PATTERN
from linecheck.errors import NotFoundError
from linecheck.serving.api.deps import ContextDep, ReaderKeyDep, ReviewerKeyDep
from linecheck.serving.api.responses import GoldenOut, LineOut, LineStatsOut, RecentUnitsOut, VerificationOut
from linecheck.serving.api.schemas import GoldenIn, LineIdPath, ProductQuery, Since, Until
from linecheck.serving.api.services.exports import defects_csv
from linecheck.serving.api.services.golden import choose_golden, golden_sample
from linecheck.serving.api.services.products import product_configs
from linecheck.serving.api.services.stats import check_period, line_stats
from linecheck.serving.api.services.units import latest_units
from linecheck.serving.api.services.verification import line_verification
from linecheck.serving.store.models import Line
from linecheck.serving.store.repositories import lines as repo

router = APIRouter(prefix="/v1/lines", tags=["lines"])


@router.get("", response_model=list[LineOut])
def list_lines(_key: ReaderKeyDep, context: ContextDep) -> list[LineOut]:
    """Every registered line with its config."""
    with context.db.reader() as session:
        return [_line_out(session, row) for row in repo.list_lines(session)]


@router.get("/{line_id}", response_model=LineOut)
def get_line(line_id: LineIdPath, _key: ReaderKeyDep, context: ContextDep) -> LineOut:
    """One line with its config and stations."""
    with context.db.reader() as session:
        row = repo.get_line(session, line_id)
        if row is None:
            raise NotFoundError(f"line_id={line_id!r} is not a registered line")
        return _line_out(session, row)


def _line_out(session: Session, row: Line) -> LineOut:
    return LineOut(
        id=row.id,
        kind=row.kind,
        name=row.name,
        config=row.config,
        product_configs=product_configs(row.config),
        stations=repo.list_stations(session, row.id),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


@router.get("/{line_id}/stats", response_model=LineStatsOut)
def get_stats(
    line_id: LineIdPath,
    _key: ReaderKeyDep,
    context: ContextDep,
    since: Since = None,
    until: Until = None,
    bucket: Literal["shift", "hour"] = "shift",
    product: ProductQuery = None,
) -> LineStatsOut:
    """Per shift (or hour, up to 7 days): frames, units by verdict after review, fail rate, throughput.

    A unit's status is its grade after review (`GET /v1/units/{code}/grade`): `accepted`,
    `released` (by review), `failed` or `not_inspected`; fail rate = units not accepted / units.
    Throughput is per hour of running time (gaps between frames over `idle_gap_s` are stops).
    `totals` counts every unit once over the whole period. `product`: one of the line's products only
    (its frames, defects and units; an unknown one is a 422).
    """
    settings = context.settings
    return line_stats(
        context.db,
        context.lines,
        line_id,
        since=since,
        until=until,
        starts=settings.shift_starts,
        zone=settings.shift_timezone,
        idle_gap_s=settings.stats_idle_gap_s,
        bucket=bucket,
        product=product,
    )


@router.get("/{line_id}/golden", response_model=GoldenOut)
def get_golden(
    line_id: LineIdPath,
    station: Annotated[str, Query(pattern=NAME_PATTERN)],
    _key: ReaderKeyDep,
    context: ContextDep,
) -> GoldenOut:
    """The station's golden sample (reference good image): the one chosen, else its newest good frame."""
    return golden_sample(context.db, context.lines, line_id, station)


@router.post("/{line_id}/golden", response_model=GoldenOut, status_code=201)
def post_golden(line_id: LineIdPath, body: GoldenIn, key: ReviewerKeyDep, context: ContextDep) -> GoldenOut:
    """Choose an inspection's frame as the golden sample of its station (earlier choices are kept)."""
    return choose_golden(context.db, context.lines, line_id, body, key)


@router.get("/{line_id}/verification", response_model=VerificationOut)
def get_verification(line_id: LineIdPath, _key: ReaderKeyDep, context: ContextDep) -> VerificationOut:
    """The line's error-proofing verification (404 when its YAML lists no challenge parts).

    Were its challenge parts (a red rabbit that must fail, a master that must pass) run within the
    interval, and judged as they must be?
    """
    return line_verification(context.db, context.lines, line_id)


@router.get("/{line_id}/units", response_model=RecentUnitsOut)
def get_recent_units(
    line_id: LineIdPath,
    _key: ReaderKeyDep,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> RecentUnitsOut:
    """The units inspected last, newest first, with their verdict after review (the kiosk view)."""
    return latest_units(context.db, context.lines, line_id, limit=limit)


@router.get(
    "/{line_id}/defects.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "one row per defect"}},
)
def get_defects_csv(
    line_id: LineIdPath,
    _key: ReaderKeyDep,
    context: ContextDep,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    """Every defect of the line captured in the period (default: the last 24 h, at most 31 days) as CSV."""
    start, end = check_period(since, until)
    context.lines.require(line_id)
    name = f"defects-{line_id}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.csv"
    return StreamingResponse(
        defects_csv(context.db, context.lines, line_id, start, end),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
