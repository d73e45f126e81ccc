"""Per-shift statistics of a line: units, fail rate, defects per class, top defect locations."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.serving.api.responses import LineStatsOut, ShiftStatsOut
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories.stats import window_stats

MAX_PERIOD = timedelta(days=31)


def _zone(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"shift_timezone={zone!r}: not a known IANA time zone") from exc


def shift_name(at: datetime, starts: list[time], zone: str) -> str:
    """The local start time (``HH:MM``) of the shift running at ``at``."""
    local = at.astimezone(_zone(zone)).time().replace(tzinfo=None)
    current = [s for s in sorted(starts) if s <= local]
    return (current[-1] if current else max(starts)).strftime("%H:%M")


def shift_windows(
    since: datetime, until: datetime, starts: list[time], zone: str
) -> list[tuple[datetime, datetime]]:
    """Split [since, until) at every shift start (local times in ``zone``); UTC bounds, clipped."""
    tz = _zone(zone)
    first: date = since.astimezone(tz).date() - timedelta(days=1)
    last: date = until.astimezone(tz).date() + timedelta(days=1)
    bounds: list[datetime] = []
    day = first
    while day <= last:
        bounds.extend(datetime.combine(day, start, tzinfo=tz).astimezone(UTC) for start in starts)
        day += timedelta(days=1)
    cuts = sorted({since.astimezone(UTC), until.astimezone(UTC), *(b for b in bounds if since < b < until)})
    return list(pairwise(cuts))


def line_stats(
    db: Database,
    lines: LineRegistry,
    line_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    starts: list[time],
    zone: str,
) -> LineStatsOut:
    """Statistics of ``line_id`` per shift between ``since`` and ``until`` (default: the last 24 h)."""
    lines.require(line_id)
    until = until or datetime.now(UTC)
    since = since or until - timedelta(hours=24)
    if since >= until:
        raise InvalidFieldError("since", since.isoformat(), f"must be before until={until.isoformat()}")
    if until - since > MAX_PERIOD:
        raise InvalidFieldError("since", since.isoformat(), f"period longer than {MAX_PERIOD.days} days")
    shifts: list[ShiftStatsOut] = []
    with db.reader() as session:
        for start, end in shift_windows(since, until, starts, zone):
            stats = window_stats(session, line_id, start, end)
            shifts.append(
                ShiftStatsOut(
                    shift=shift_name(start, starts, zone),
                    shift_start=start,
                    shift_end=end,
                    inspections=stats.inspections,
                    by_verdict=stats.by_verdict,
                    units=stats.units,
                    failed_units=stats.failed_units,
                    fail_rate=stats.failed_units / stats.units if stats.units else None,
                    defects_by_class=stats.defects_by_class,
                    top_locations=[{"location": key, "defects": n} for key, n in stats.top_locations],
                )
            )
    return LineStatsOut(line_id=line_id, since=since, until=until, shifts=shifts)
