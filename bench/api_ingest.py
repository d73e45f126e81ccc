"""Sustained inspection ingest through the real API (uvicorn in its own process).

Concurrent clients POST pre-serialised inspection events (0-5 defects each, three lines) to
``/v1/inspections`` in batches of ``--batch`` (the inspector's sender default) or one by one
(``--batch 1``). A share of the requests is sent a second time (``--resend``), as a sender does
after a lost acknowledgement: those must answer ``duplicate`` and store nothing. Afterwards the
database itself is counted: inspections, defects and units must equal what was sent, once.
Runs on SQLite, then on PostgreSQL when a local server answers (a uniquely named database is
created for the run and dropped).

    .venv/bin/python bench/api_ingest.py --events 20000
    .venv/bin/python bench/api_ingest.py --events 300 --db sqlite       # smoke run

Last line: one JSON object with events/s, defects/s, p50/p99 request latency, errors and
duplicates per database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import machine
from api_servers import api_server, postgres_database, sqlite_database
from bench_model import BENCH_DIR
from cputime import tree_cpu_seconds
from ingest_payloads import Request, requests, unit_codes
from sqlalchemy import func, select
from timing import LatencySummary, print_result

from linecheck.inspect.settings import InspectorSettings
from linecheck.serving.api.testing import create_key
from linecheck.serving.store.db import Database
from linecheck.serving.store.models import Defect, Inspection, Unit

TARGET_DEFECTS_PER_S = 2000.0
LINE_IDS = ["textile-01", "pv-01", "bearing-01"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=20000, help="inspection events to send (size flag)")
    p.add_argument("--batch", type=int, default=InspectorSettings().send_batch, help="events per POST")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (connections)")
    p.add_argument("--resend", type=float, default=0.02, help="share of requests sent twice")
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)
    for name in ("events", "batch", "clients", "workers"):
        if getattr(args, name) < 1:
            p.error(f"--{name}={getattr(args, name)}: expected >= 1")
    if not 0 <= args.resend <= 1:
        p.error(f"--resend={args.resend}: expected a share in [0, 1]")
    return args


class Tally:
    """What the clients saw."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.created = 0
        self.duplicates = 0
        self.errors: list[str] = []


def _statuses(request: Request, response: httpx.Response) -> tuple[int, int]:
    """(created, duplicate) answers in one response."""
    body = response.json()
    if "results" in body:
        return int(body["created"]), int(body["duplicates"])
    return (1, 0) if body.get("status") == "created" else (0, 1)


async def _client(
    http: httpx.AsyncClient, queue: asyncio.Queue[Request], tally: Tally, resends: set[int]
) -> None:
    while True:
        try:
            request = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        started = time.perf_counter()
        try:
            response = await http.post("/v1/inspections", content=request.body)
        except httpx.HTTPError as exc:
            tally.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        tally.latencies.append(time.perf_counter() - started)
        if response.status_code not in (200, 201):
            tally.errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
            continue
        created, duplicates = _statuses(request, response)
        tally.created += created
        tally.duplicates += duplicates
        if id(request) in resends:  # its answer was "lost": the sender posts the same body again
            resends.discard(id(request))
            queue.put_nowait(
                Request(body=request.body, events=request.events, defects=request.defects, resend=True)
            )


async def _load(
    base_url: str, key: str, plan: list[Request], resend: set[int], clients: int
) -> tuple[Tally, float]:
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in plan:
        queue.put_nowait(request)
    # Requests picked for a resend go again once their first answer came back (a lost ack, retried).
    resends = {id(plan[i]) for i in resend}
    tally = Tally()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60.0, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(_client(http, queue, tally, resends) for _ in range(clients)))
        return tally, time.perf_counter() - started


def _resends(plan: list[Request], share: float, seed: int) -> set[int]:
    count = round(len(plan) * share)
    return set(random.Random(seed).sample(range(len(plan)), count)) if count else set()


def _db_counts(database_url: str) -> dict[str, int]:
    db = Database.from_url(database_url)
    try:
        with db.reader() as session:
            return {
                "inspections": int(session.scalar(select(func.count()).select_from(Inspection)) or 0),
                "defects": int(session.scalar(select(func.count()).select_from(Defect)) or 0),
                "units": int(session.scalar(select(func.count()).select_from(Unit)) or 0),
            }
    finally:
        db.dispose()


def run_one(name: str, database_url: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The whole benchmark on one database: warm-up, timed load, database counts."""
    key = create_key(database_url, "line", LINE_IDS, name="bench")
    warm = requests(3 * args.batch, args.batch, seed=args.seed + 1000)
    plan = requests(args.events, args.batch, seed=args.seed)
    resend = _resends(plan, args.resend, args.seed)
    sent_events = sum(r.events for r in plan) + sum(r.events for r in warm)
    sent_defects = sum(r.defects for r in plan) + sum(r.defects for r in warm)
    with api_server(database_url, workdir / "data", workers=args.workers) as (base_url, pid):
        asyncio.run(_load(base_url, key, warm, set(), args.clients))
        cpu0 = tree_cpu_seconds(pid)
        client_cpu0 = time.process_time()
        tally, seconds = asyncio.run(_load(base_url, key, plan, resend, args.clients))
        server_cpu = tree_cpu_seconds(pid) - cpu0
        client_cpu = time.process_time() - client_cpu0
    counts = _db_counts(database_url)
    events = sum(r.events for r in plan)
    defects = sum(r.defects for r in plan)
    resent_events = sum(plan[i].events for i in resend)
    latency = LatencySummary.of_seconds(tally.latencies)
    problems = []
    if counts["inspections"] != sent_events:
        problems.append(f"inspections stored {counts['inspections']} != sent {sent_events}")
    if counts["defects"] != sent_defects:
        problems.append(f"defects stored {counts['defects']} != sent {sent_defects}")
    expected_units = unit_codes(args.events)
    if counts["units"] < expected_units:
        problems.append(f"units stored {counts['units']} < codes sent {expected_units}")
    if tally.created != events:
        problems.append(f"'created' answers {tally.created} != events sent {events}")
    if tally.duplicates != resent_events:
        problems.append(f"'duplicate' answers {tally.duplicates} != events resent {resent_events}")
    result = {
        "events_per_s": events / seconds,
        "defects_per_s": defects / seconds,
        "requests_per_s": len(tally.latencies) / seconds,
        "p50_ms": latency.p50_ms,
        "p99_ms": latency.p99_ms,
        "errors": len(tally.errors),
        "duplicates": max(0, counts["inspections"] - sent_events),
        "lost": max(0, sent_events - counts["inspections"]),
        "duplicate_answers": tally.duplicates,
        "resent_events": resent_events,
        "db_counts": counts,
        "consistent": not problems,
        "seconds": seconds,
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
    }
    print(
        f"{name:10s} {result['events_per_s']:8.0f} events/s {result['defects_per_s']:8.0f} defects/s  "
        f"request latency {latency.text()}  errors {len(tally.errors)}  "
        f"server CPU {server_cpu:.1f} s, client CPU {client_cpu:.1f} s over {seconds:.1f} s"
    )
    print(
        f"{name:10s} database: {json.dumps(counts)}; "
        f"duplicate answers {tally.duplicates} for {resent_events} events resent"
    )
    for problem in problems + tally.errors[:5]:
        print(f"{name:10s} PROBLEM: {problem}")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine.header())
    print(
        f"plan: {args.events} events in POSTs of {args.batch}, {args.clients} concurrent clients, "
        f"{args.resend:.0%} of requests resent, uvicorn workers={args.workers}"
    )
    workdir = BENCH_DIR / f"api-ingest-{os.getpid()}"
    results: dict[str, Any] = {}
    try:
        if args.db in ("sqlite", "both"):
            with sqlite_database(workdir / "sqlite") as url:
                results["sqlite"] = run_one("sqlite", url, args, workdir / "sqlite")
        if args.db in ("postgres", "both"):
            with postgres_database() as url:
                if url is not None:
                    results["postgresql"] = run_one("postgresql", url, args, workdir / "postgres")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sqlite = results.get("sqlite")
    if sqlite is not None:
        met = (
            sqlite["defects_per_s"] >= TARGET_DEFECTS_PER_S and not sqlite["errors"] and sqlite["consistent"]
        )
        print(
            f"target (SQLite >= {TARGET_DEFECTS_PER_S:.0f} defects/s, no errors, no duplicates): "
            f"{'met' if met else 'NOT met'}"
        )
    figures: dict[str, Any] = {}
    for name, result in results.items():
        prefix = "sqlite" if name == "sqlite" else "postgres"
        for key in ("events_per_s", "defects_per_s", "p50_ms", "p99_ms", "errors", "duplicates", "lost"):
            figures[f"{prefix}_{key}"] = result[key]
    figures.update(
        {
            "events": args.events,
            "batch": args.batch,
            "clients": args.clients,
            "workers": args.workers,
            "details": results,
            "machine": machine.describe(),
        }
    )
    print_result(figures)
    return 0 if all(r["consistent"] and not r["errors"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
