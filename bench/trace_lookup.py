"""Trace look-up latency: ``GET /v1/trace/{code}`` through the real API on a large store.

The store (default 1,000,000 defects over 200,000 codes on three lines, with inspections, a
box per ten codes and a process event per code) is bulk-inserted straight into the store's
tables and cached under ``var/bench/`` by size; each run works on a copy of it. The API runs
as ``linecheck serve api`` in its own process; ``--clients`` clients look up random codes
and every answer is checked (HTTP 200, the code, and exactly the code's number of defects).

    .venv/bin/python bench/trace_lookup.py                      # 1M defects / 200k codes
    .venv/bin/python bench/trace_lookup.py --defects 20000      # quick run (codes = defects / 5)

Last line: one JSON object (p50_ms, p99_ms, lookups_per_s, errors, defects, codes, ...).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import machine
from api_servers import api_server, postgres_database
from bench_model import BENCH_DIR
from timing import LatencySummary, Stopwatch, print_result
from trace_db import TraceStore, build_sqlite, copy_store, fill_database

from linecheck.serving.api.testing import create_key

TARGET_P99_MS = 20.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--defects", type=int, default=1_000_000, help="defects in the store (size flag)")
    p.add_argument("--codes", type=int, default=0, help="unit codes (0: defects / 5)")
    p.add_argument("--lookups", type=int, default=2000, help="timed look-ups")
    p.add_argument("--clients", type=int, default=1, help="concurrent clients")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite store")
    args = p.parse_args(argv)
    args.codes = args.codes or max(1, args.defects // 5)
    for name in ("defects", "lookups", "clients"):
        if getattr(args, name) < 1:
            p.error(f"--{name}={getattr(args, name)}: expected >= 1")
    return args


class Results:
    """Latencies and problems collected by the client threads."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()


def _check(store: TraceStore, index: int, response: httpx.Response) -> str | None:
    code = store.codes[index]
    if response.status_code != 200:
        return f"{code}: HTTP {response.status_code} {response.text[:200]}"
    body = response.json()
    found = sum(len(i["defects"]) for i in body["inspections"])
    expected = int(store.defect_counts[index])
    if body["code"] != code or found != expected:
        return f"{code}: answered code {body['code']} with {found} defects, expected {expected}"
    return None


def _client(base_url: str, key: str, store: TraceStore, picks: list[int], results: Results) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0) as http:
        for index in picks:
            started = time.perf_counter()
            try:
                response = http.get(f"/v1/trace/{store.codes[index]}")
            except httpx.HTTPError as exc:
                with results.lock:
                    results.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            took = time.perf_counter() - started
            problem = _check(store, index, response)
            with results.lock:
                results.latencies.append(took)
                if problem:
                    results.errors.append(problem)


def look_up(
    base_url: str, key: str, store: TraceStore, picks: list[int], clients: int
) -> tuple[Results, float]:
    """Spread ``picks`` over ``clients`` threads; returns the results and the wall time."""
    results = Results()
    shares = [picks[i::clients] for i in range(clients)]
    threads = [
        threading.Thread(target=_client, args=(base_url, key, store, share, results), daemon=True)
        for share in shares
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def measure(store: TraceStore, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start the API on ``store``, warm up, time ``--lookups`` random look-ups."""
    key = create_key(store.url, "viewer", name="bench")
    rng = random.Random(args.seed)
    codes = len(store.codes)
    warm = [rng.randrange(codes) for _ in range(min(200, args.lookups))]
    picks = [rng.randrange(codes) for _ in range(args.lookups)]
    with api_server(store.url, workdir / "data") as (base_url, _pid):
        look_up(base_url, key, store, warm, 1)
        results, seconds = look_up(base_url, key, store, picks, args.clients)
    latency = LatencySummary.of_seconds(results.latencies)
    defects = [int(store.defect_counts[i]) for i in picks]
    print(
        f"{args.db}: {len(results.latencies)} look-ups of random codes ({args.clients} client(s)), "
        f"{len(results.latencies) / seconds:.0f}/s, latency {latency.text()}; "
        f"defects per code: mean {sum(defects) / len(defects):.1f}, max {max(defects)}"
    )
    for problem in results.errors[:5]:
        print(f"PROBLEM: {problem}")
    return {
        "p50_ms": latency.p50_ms,
        "p99_ms": latency.p99_ms,
        "max_ms": latency.max_ms,
        "lookups": len(results.latencies),
        "lookups_per_s": len(results.latencies) / seconds,
        "errors": len(results.errors),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine.header())
    print(f"store: {args.defects} defects over {args.codes} codes ({args.db})")
    workdir = BENCH_DIR / f"trace-lookup-{os.getpid()}"
    clock = Stopwatch()
    try:
        if args.db == "sqlite":
            cached = build_sqlite(
                BENCH_DIR / "trace-cache", args.defects, args.codes, args.seed, rebuild=args.rebuild
            )
            print(f"store: {cached.path} ready ({clock.elapsed():.1f} s, cached by size)")
            store = copy_store(cached, workdir / "linecheck.db")
            figures = measure(store, args, workdir)
        else:
            with postgres_database() as url:
                if url is None:
                    print("postgresql: no server; nothing measured")
                    print_result({"p50_ms": None, "p99_ms": None, "errors": 0, "skipped": True})
                    return 0
                store = fill_database(url, args.defects, args.codes, args.seed)
                print(f"store: built in a fresh PostgreSQL database ({clock.elapsed():.1f} s)")
                figures = measure(store, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    met = args.db == "sqlite" and figures["p99_ms"] < TARGET_P99_MS and not figures["errors"]
    if args.db == "sqlite":
        print(f"target (p99 < {TARGET_P99_MS:.0f} ms on SQLite, no errors): {'met' if met else 'NOT met'}")
    figures.update(
        {
            "defects": args.defects,
            "codes": args.codes,
            "db": args.db,
            "clients": args.clients,
            "machine": machine.describe(),
        }
    )
    print_result(figures)
    return 0 if not figures["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
