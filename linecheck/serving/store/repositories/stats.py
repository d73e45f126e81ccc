"""Aggregates of a line over a time window (one shift): units, verdicts, defects by class and location."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from linecheck.serving.store.models import Defect, Inspection


@dataclass(kw_only=True)
class WindowStats:
    """What happened on a line between ``start`` (inclusive) and ``end`` (exclusive)."""

    inspections: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)
    units: int = 0
    failed_units: int = 0
    defects_by_class: dict[str, int] = field(default_factory=dict)
    top_locations: list[tuple[str, int]] = field(default_factory=list)


def window_stats(
    session: Session, line_id: str, start: datetime, end: datetime, *, top: int = 5
) -> WindowStats:
    """Aggregate one window (four indexed queries); defects rejected by a reviewer are not counted."""
    in_window = (Inspection.line_id == line_id, Inspection.captured_at >= start, Inspection.captured_at < end)
    stats = WindowStats()
    rows = session.execute(
        select(Inspection.verdict, func.count()).where(*in_window).group_by(Inspection.verdict)
    )
    stats.by_verdict = {verdict: int(n) for verdict, n in rows}
    stats.inspections = sum(stats.by_verdict.values())
    if not stats.inspections:
        return stats
    units = select(func.count(distinct(Inspection.code))).where(*in_window, Inspection.code.is_not(None))
    stats.units = int(session.scalar(units) or 0)
    stats.failed_units = int(session.scalar(units.where(Inspection.verdict == "fail")) or 0)
    defect_window = (
        Defect.line_id == line_id,
        Defect.captured_at >= start,
        Defect.captured_at < end,
        Defect.review_state != "rejected",
    )
    per_class = session.execute(
        select(Defect.final_class, func.count()).where(*defect_window).group_by(Defect.final_class)
    )
    stats.defects_by_class = {name: int(n) for name, n in per_class}
    count = func.count().label("n")
    locations = session.execute(
        select(Defect.location_key, count)
        .where(*defect_window, Defect.location_key.is_not(None))
        .group_by(Defect.location_key)
        .order_by(count.desc(), Defect.location_key)
        .limit(top)
    )
    stats.top_locations = [(str(key), int(n)) for key, n in locations]
    return stats
