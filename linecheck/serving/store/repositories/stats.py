"""Aggregates of a line over a time window (one shift): frames, running time, defects by class and place.

Unit verdicts (and so the fail rate) are not counted here: they are the grade after review, which
:mod:`linecheck.serving.api.services.verdicts` computes for the window's codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from linecheck.serving.store.models import Defect, Inspection
from linecheck.serving.store.repositories.base import epoch_seconds


@dataclass(kw_only=True)
class StationStats:
    """Frames and defects of one station in a window."""

    inspections: int = 0
    failed: int = 0
    not_inspected: int = 0
    defects: int = 0


@dataclass(kw_only=True)
class WindowStats:
    """What happened on a line between ``start`` (inclusive) and ``end`` (exclusive).

    ``running_s`` is the time the line was running: the sum of the gaps between consecutive
    frames that are no longer than ``idle_gap_s`` (a longer gap is a stop, not production).
    """

    inspections: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)
    first_at: datetime | None = None
    last_at: datetime | None = None
    running_s: float = 0.0
    defects_by_class: dict[str, int] = field(default_factory=dict)
    top_locations: list[tuple[str, int]] = field(default_factory=list)
    stations: dict[str, StationStats] = field(default_factory=dict)


def window_stats(
    session: Session,
    line_id: str,
    start: datetime,
    end: datetime,
    *,
    idle_gap_s: float,
    top: int = 5,
    exclude_codes: Sequence[str] = (),
    product: str | None = None,
) -> WindowStats:
    """Aggregate one window (indexed queries); defects rejected by a reviewer are not counted.

    ``exclude_codes``: units left out of every figure (a line's challenge parts: not production).
    ``product``: only the frames judged as this product, and their defects (None: every frame).
    """
    in_window: tuple[ColumnElement[bool], ...] = (
        Inspection.line_id == line_id,
        Inspection.captured_at >= start,
        Inspection.captured_at < end,
    )
    # which defects count: those of the product's frames, not those of challenge parts.
    defect_terms: tuple[ColumnElement[bool], ...] = ()
    if product is not None:
        in_window += (Inspection.product == product,)
        of_product = select(Inspection.id).where(*in_window)
        defect_terms += (Defect.inspection_id.in_(of_product),)
    if exclude_codes:
        in_window += (or_(Inspection.code.is_(None), Inspection.code.not_in(list(exclude_codes))),)
        challenged = select(Inspection.id).where(
            Inspection.line_id == line_id,
            Inspection.captured_at >= start,
            Inspection.captured_at < end,
            Inspection.code.in_(list(exclude_codes)),
        )
        defect_terms += (Defect.inspection_id.not_in(challenged),)
    stats = WindowStats()
    rows = session.execute(
        select(Inspection.station, Inspection.verdict, func.count())
        .where(*in_window)
        .group_by(Inspection.station, Inspection.verdict)
    )
    for station, verdict, n in rows:
        stats.by_verdict[verdict] = stats.by_verdict.get(verdict, 0) + int(n)
        per = stats.stations.setdefault(station, StationStats())
        per.inspections += int(n)
        per.failed += int(n) if verdict == "fail" else 0
        per.not_inspected += int(n) if verdict == "not_inspected" else 0
    stats.inspections = sum(stats.by_verdict.values())
    if not stats.inspections:
        return stats
    stats.first_at, stats.last_at = session.execute(
        select(func.min(Inspection.captured_at), func.max(Inspection.captured_at)).where(*in_window)
    ).one()
    at = epoch_seconds(Inspection.captured_at)
    gaps = (
        select((at - func.lag(at).over(order_by=(Inspection.captured_at, Inspection.id))).label("gap"))
        .where(*in_window)
        .subquery()
    )
    running = select(func.sum(case((gaps.c.gap <= idle_gap_s, gaps.c.gap), else_=0.0)))
    stats.running_s = round(float(session.scalar(running) or 0.0), 3)  # julianday: ~10 µs precision
    per_station = session.execute(
        select(Inspection.station, func.count())
        .select_from(Defect)
        .join(Inspection, Inspection.id == Defect.inspection_id)
        .where(
            Defect.line_id == line_id,
            Defect.captured_at >= start,
            Defect.captured_at < end,
            Defect.review_state != "rejected",
            *defect_terms,
        )
        .group_by(Inspection.station)
    )
    for station, n in per_station:
        stats.stations.setdefault(station, StationStats()).defects = int(n)
    defect_window = (
        Defect.line_id == line_id,
        Defect.captured_at >= start,
        Defect.captured_at < end,
        Defect.review_state != "rejected",
        *defect_terms,
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
