"""Per-shift (or hourly) statistics of a line: units and their verdicts, fail rate, throughput, defects."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.serving.api.responses import LineStatsOut, PeriodTotalsOut, ShiftStatsOut, StationStatsOut
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.verdicts import UNIT_STATUSES, UnitVerdict, verdicts_for_codes
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories.stats import window_stats
from linecheck.serving.store.repositories.units import codes_in_window

MAX_PERIOD = timedelta(days=31)


def check_period(
    since: datetime | None,
    until: datetime | None,
    *,
    default: timedelta = timedelta(hours=24),
    longest: timedelta = MAX_PERIOD,
) -> tuple[datetime, datetime]:
    """[since, until) of a statistics query or export (default: the last 24 h), at most 31 days."""
    until = until or datetime.now(UTC)
    since = since or until - default
    if since >= until:
        raise InvalidFieldError("since", since.isoformat(), f"must be before until={until.isoformat()}")
    if until - since > longest:
        raise InvalidFieldError("since", since.isoformat(), f"period longer than {longest.days} days")
    return since, until


MAX_HOURLY_PERIOD = timedelta(days=7)


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


def hour_windows(since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """Split [since, until) at every full UTC hour (the p-chart's subgroups)."""
    first = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    cuts = [since.astimezone(UTC)]
    at = first
    while at < until:
        cuts.append(at)
        at += timedelta(hours=1)
    cuts.append(until.astimezone(UTC))
    return list(pairwise(cuts))


def _per_hour(count: int, running_s: float) -> float | None:
    return count * 3600.0 / running_s if running_s > 0 else None


def _status_counts(codes: list[str], verdicts: dict[str, UnitVerdict]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(UNIT_STATUSES, 0)
    for code in codes:
        verdict = verdicts.get(code)
        counts[verdict.status if verdict is not None else "not_inspected"] += 1
    return counts


def _failed(counts: dict[str, int]) -> int:
    return counts["failed"] + counts["not_inspected"]


def line_stats(
    db: Database,
    lines: LineRegistry,
    line_id: str,
    *,
    since: datetime | None,
    until: datetime | None,
    starts: list[time],
    zone: str,
    idle_gap_s: float = 300.0,
    bucket: Literal["shift", "hour"] = "shift",
    product: str | None = None,
) -> LineStatsOut:
    """Statistics of ``line_id`` per shift (or hour) between ``since`` and ``until`` (default: the last 24 h).

    Unit verdicts (and the fail rate) are :func:`~linecheck.serving.api.services.verdicts.unit_verdict`,
    the same as the grade endpoint and the trace; throughput is per hour of running time. The line's
    challenge parts (``verification:``) are not production: no figure counts them. With ``product``
    (one of the line's products, else :class:`InvalidFieldError` naming ``product``), only the frames
    judged as that product, their defects and their units count.
    """
    line = lines.require(line_id)
    line.for_product(product)  # a product the line does not make: 422 naming `product`
    challenge = line.verification.codes if line.verification else []
    since, until = check_period(since, until)
    if bucket == "hour" and until - since > MAX_HOURLY_PERIOD:
        raise InvalidFieldError(
            "since", since.isoformat(), f"hourly statistics cover at most {MAX_HOURLY_PERIOD.days} days"
        )
    windows = shift_windows(since, until, starts, zone) if bucket == "shift" else hour_windows(since, until)
    shifts: list[ShiftStatsOut] = []
    all_codes: set[str] = set()
    running = 0.0
    with db.reader() as session:
        per_window = []
        for start, end in windows:
            stats = window_stats(
                session, line_id, start, end, idle_gap_s=idle_gap_s, exclude_codes=challenge, product=product
            )
            codes = (
                codes_in_window(session, line_id, start, end, exclude=challenge, product=product)
                if stats.inspections
                else []
            )
            all_codes.update(codes)
            per_window.append((start, end, stats, codes))
        verdicts = verdicts_for_codes(session, lines, sorted(all_codes))
    for start, end, stats, codes in per_window:
        counts = _status_counts(codes, verdicts)
        failed = _failed(counts)
        running += stats.running_s
        shifts.append(
            ShiftStatsOut(
                shift=shift_name(start, starts, zone),
                shift_start=start,
                shift_end=end,
                inspections=stats.inspections,
                by_verdict=stats.by_verdict,
                units=len(codes),
                units_by_status=counts,
                failed_units=failed,
                fail_rate=failed / len(codes) if codes else None,
                first_at=stats.first_at,
                last_at=stats.last_at,
                running_s=round(stats.running_s, 3),
                frames_per_hour=_per_hour(stats.inspections, stats.running_s),
                units_per_hour=_per_hour(len(codes), stats.running_s),
                defects_by_class=stats.defects_by_class,
                top_locations=[{"location": key, "defects": n} for key, n in stats.top_locations],
                stations=[
                    StationStatsOut(
                        station=name,
                        inspections=st.inspections,
                        failed=st.failed,
                        not_inspected=st.not_inspected,
                        defects=st.defects,
                    )
                    for name, st in sorted(stats.stations.items())
                ],
            )
        )
    counts = _status_counts(sorted(all_codes), verdicts)
    by_class: dict[str, int] = {}
    for shift in shifts:
        for name, n in shift.defects_by_class.items():
            by_class[name] = by_class.get(name, 0) + n
    inspections = sum(s.inspections for s in shifts)
    totals = PeriodTotalsOut(
        inspections=inspections,
        not_inspected=sum(s.by_verdict.get("not_inspected", 0) for s in shifts),
        units=len(all_codes),
        units_by_status=counts,
        failed_units=_failed(counts),
        fail_rate=_failed(counts) / len(all_codes) if all_codes else None,
        running_s=round(running, 3),
        frames_per_hour=_per_hour(inspections, running),
        units_per_hour=_per_hour(len(all_codes), running),
        defects=sum(by_class.values()),
        defects_by_class=dict(sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0]))),
    )
    return LineStatsOut(
        line_id=line_id,
        product=product,
        since=since,
        until=until,
        bucket=bucket,
        idle_gap_s=idle_gap_s,
        totals=totals,
        shifts=shifts,
    )
