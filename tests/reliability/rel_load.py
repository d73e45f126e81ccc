"""A bounded load of concurrent line clients against a real API, shared by the load test and bench/soak.py.

Each client has its own line key and posts single inspections (0-2 defects) as fast as the API
answers, for a fixed time; every ``resend_every``-th request re-sends an earlier inspection, as a
sender does after a lost acknowledgement (it must answer ``duplicate``). Afterwards the database
is counted, so "lost" and "duplicated" are measured, not assumed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from rel_helpers import LINES, auth, inspection
from sqlalchemy import func, select

from linecheck.serving.store.db import Database
from linecheck.serving.store.models import Inspection


@dataclass
class LoadTally:
    """What the clients sent and what came back."""

    sent: set[str] = field(default_factory=set)  # unique inspection ids acknowledged or not
    created: set[str] = field(default_factory=set)
    resent: int = 0
    duplicate_answers: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)  # by exception type, each retried
    latencies_ms: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def _client(
    http: httpx.AsyncClient,
    key: str,
    line_id: str,
    number: int,
    until: float,
    resend_every: int,
    tally: LoadTally,
) -> None:
    mine: list[dict[str, Any]] = []
    n = 0
    while time.monotonic() < until:
        n += 1
        if resend_every and mine and n % resend_every == 0:
            body, resend = mine[n % len(mine)], True
        else:
            body, resend = inspection(line_id, number * 1_000_000 + n, defects=n % 3), False
        start = time.perf_counter()
        answer = None
        for _attempt in range(3):  # a client resends after a transport error, as the inspector's sender does
            try:
                answer = await http.post("/v1/inspections", json=body, headers=auth(key))
                break
            except httpx.TransportError as exc:
                tally.transport_errors[type(exc).__name__] += 1
        if answer is None:
            tally.sent.add(body["id"])  # never acknowledged: counted as sent, so a loss would show
            continue
        tally.latencies_ms.append((time.perf_counter() - start) * 1000)
        tally.statuses[answer.status_code] += 1
        if resend:
            tally.resent += 1
            tally.duplicate_answers += answer.status_code == 200 and answer.json()["status"] == "duplicate"
            continue
        tally.sent.add(body["id"])
        if answer.status_code == 201 or (
            answer.status_code == 200 and answer.json()["status"] == "duplicate"
        ):
            # 200 duplicate for a new body: an earlier attempt was stored but its answer was lost
            tally.created.add(body["id"])
            mine.append(body)


async def _run(base_url: str, keys: list[tuple[str, str]], seconds: float, resend_every: int) -> LoadTally:
    tally = LoadTally()
    limits = httpx.Limits(max_connections=len(keys), max_keepalive_connections=len(keys))
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(_client(http, key, line, i, until, resend_every, tally) for i, (key, line) in enumerate(keys))
        )
    return tally


def line_keys(create: Any, clients: int) -> list[tuple[str, str]]:
    """``clients`` (key, line) pairs spread over the three lines; ``create(line_id)`` makes a key."""
    lines = list(LINES)
    return [(create(lines[i % len(lines)]), lines[i % len(lines)]) for i in range(clients)]


def run_load(
    base_url: str, database_url: str, keys: list[tuple[str, str]], *, seconds: float, resend_every: int = 10
) -> dict[str, Any]:
    """Drive the load and count the database afterwards; returns the figures."""
    started = time.monotonic()
    tally = asyncio.run(_run(base_url, keys, seconds, resend_every))
    elapsed = time.monotonic() - started
    db = Database.from_url(database_url)
    try:
        with db.reader() as session:
            rows = int(session.scalar(select(func.count()).select_from(Inspection)) or 0)
            distinct = int(session.scalar(select(func.count(func.distinct(Inspection.id)))) or 0)
            stored_ids = set(session.scalars(select(Inspection.id)))
    finally:
        db.dispose()
    requests = sum(tally.statuses.values())
    return {
        "clients": len(keys),
        "seconds": round(elapsed, 2),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1) if elapsed else 0.0,
        "events_sent": len(tally.sent),
        "events_created": len(tally.created),
        "events_received": len(stored_ids & tally.sent),
        "events_lost": len(tally.created - stored_ids),
        "events_duplicated": rows - distinct,
        "unexpected_rows": len(stored_ids - tally.sent),
        "resent": tally.resent,
        "resent_answered_duplicate": tally.duplicate_answers,
        "status_5xx": sum(c for s, c in tally.statuses.items() if s >= 500),
        "statuses": {str(s): c for s, c in sorted(tally.statuses.items())},
        "transport_errors": sum(tally.transport_errors.values()),
        "transport_errors_by_type": dict(tally.transport_errors),
        "p50_ms": round(percentile(tally.latencies_ms, 50), 1),
        "p99_ms": round(percentile(tally.latencies_ms, 99), 1),
    }
