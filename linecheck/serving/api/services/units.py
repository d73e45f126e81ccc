"""The newest units of a line with their verdicts after review (the line-side kiosk)."""

from __future__ import annotations

from linecheck.serving.api.responses import RecentUnitsOut, UnitSummaryOut
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.verdicts import verdicts_for_codes
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories.units import recent_units


def latest_units(db: Database, lines: LineRegistry, line_id: str, *, limit: int) -> RecentUnitsOut:
    """The ``limit`` units of ``line_id`` inspected last, newest first, each with its verdict."""
    lines.require(line_id)
    with db.reader() as session:
        recent = recent_units(session, line_id, limit=limit)
        verdicts = verdicts_for_codes(session, lines, [code for code, _ in recent])
    items = [
        UnitSummaryOut(
            code=code,
            last_at=at,
            product=verdict.product,
            status=verdict.status,
            grade=verdict.grade.label,
            accepted=verdict.accepted,
            inspected_grade=verdict.inspected_grade.label,
            frames=verdict.frames,
            defects_counted=verdict.defects_counted,
            defects_pending=verdict.defects_pending,
        )
        for code, at in recent
        if (verdict := verdicts.get(code)) is not None
    ]
    accepted = sum(item.accepted for item in items)
    return RecentUnitsOut(line_id=line_id, items=items, accepted=accepted, failed=len(items) - accepted)
