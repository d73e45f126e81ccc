"""``/v1/lines``: registered lines and their per-shift statistics."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import AwareDatetime

from linecheck.errors import NotFoundError
from linecheck.serving.api.deps import ContextDep, ReaderKeyDep
from linecheck.serving.api.responses import LineOut, LineStatsOut
from linecheck.serving.api.services.stats import line_stats
from linecheck.serving.store.repositories import lines as repo

router = APIRouter(prefix="/v1/lines", tags=["lines"])


@router.get("", response_model=list[LineOut])
def list_lines(_key: ReaderKeyDep, context: ContextDep) -> list[LineOut]:
    """Every registered line with its config."""
    with context.db.reader() as session:
        return [
            LineOut(
                id=row.id,
                kind=row.kind,
                name=row.name,
                config=row.config,
                stations=repo.list_stations(session, row.id),
                updated_at=row.updated_at,
                updated_by=row.updated_by,
            )
            for row in repo.list_lines(session)
        ]


@router.get("/{line_id}", response_model=LineOut)
def get_line(line_id: str, _key: ReaderKeyDep, context: ContextDep) -> LineOut:
    """One line with its config and stations."""
    with context.db.reader() as session:
        row = repo.get_line(session, line_id)
        if row is None:
            raise NotFoundError(f"line_id={line_id!r} is not a registered line")
        return LineOut(
            id=row.id,
            kind=row.kind,
            name=row.name,
            config=row.config,
            stations=repo.list_stations(session, row.id),
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )


@router.get("/{line_id}/stats", response_model=LineStatsOut)
def get_stats(
    line_id: str,
    _key: ReaderKeyDep,
    context: ContextDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> LineStatsOut:
    """Per shift: inspections, units, fail rate (failed units / units), defects per class, top locations."""
    settings = context.settings
    return line_stats(
        context.db,
        context.lines,
        line_id,
        since=since,
        until=until,
        starts=settings.shift_starts,
        zone=settings.shift_timezone,
    )
