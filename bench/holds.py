"""Holds on a large store: what placing, counting and listing a month's hold costs, and what a hold adds to a
unit's grade look-up, through the real API.

The store is the trace bench's (``bench/trace_db.py``: by default 1,000,000 defects over 200,000 codes on
three lines, a code every 30 s, cached under ``var/bench/``). One hold covers bearing-01 over ``--hours``
(default 744: the 31 days a hold may span); then, side by side in one run, the grade of random held bearings
and of random bearings made after the hold's period (no hold) is looked up ``--lookups`` times each,
interleaved.

    .venv/bin/python bench/holds.py                     # 1M defects / 200k codes, a 31-day hold
    .venv/bin/python bench/holds.py --defects 20000     # quick run

Last line: one JSON object (hold_units, place_ms, get_hold_ms, units_page_ms, list_ms, grade p50/p99 held and
not held, their ratio, errors).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import machine
from api_servers import api_server
from bench_model import BENCH_DIR
from timing import LatencySummary, Stopwatch, print_result
from trace_db import LINES, T0, build_sqlite, code_of, copy_store

from linecheck.serving.api.testing import create_key

LINE = "bearing-01"
#: Seconds between two codes in the trace bench's store (a code every 30 s, the lines taking turns).
CODE_EVERY_S = 30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--defects", type=int, default=1_000_000, help="defects in the store (size flag)")
    p.add_argument("--codes", type=int, default=0, help="unit codes (0: defects / 5)")
    p.add_argument("--hours", type=float, default=744.0, help="the hold's period, from the store's start")
    p.add_argument("--lookups", type=int, default=300, help="grade look-ups of each kind")
    p.add_argument("--seed", type=int, default=3)
    args = p.parse_args(argv)
    args.codes = args.codes or max(1, args.defects // 5)
    if args.hours <= 0:
        p.error(f"--hours={args.hours:g}: expected > 0")
    if args.lookups < 1:
        p.error(f"--lookups={args.lookups}: expected >= 1")
    return args


def _timed(http: httpx.Client, method: str, path: str, **kwargs: Any) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = http.request(method, path, **kwargs)
    return (time.perf_counter() - started) * 1000, response


def _median_ms(http: httpx.Client, path: str, runs: int = 5, **kwargs: Any) -> tuple[float, httpx.Response]:
    times, response = [], None
    for _ in range(runs):
        ms, response = _timed(http, "GET", path, **kwargs)
        response.raise_for_status()
        times.append(ms)
    assert response is not None
    return statistics.median(times), response


def measure(url: str, codes: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Place the hold, time its reads, and the grade look-ups with and without it."""
    reviewer = create_key(url, "reviewer", name="bench")
    viewer = create_key(url, "viewer", name="bench")
    until = T0 + timedelta(hours=args.hours)
    bearings = [i for i in range(codes) if LINES[i % len(LINES)][0] == LINE]
    held = [i for i in bearings if T0 + timedelta(seconds=CODE_EVERY_S * i) < until]
    free = [i for i in bearings if T0 + timedelta(seconds=CODE_EVERY_S * i) >= until]
    if not held or not free:
        where = "in" if not held else "after"
        raise SystemExit(f"--hours {args.hours}: the store has no bearings {where} it")
    errors: list[str] = []
    with api_server(url, workdir / "data") as (base_url, _pid):
        write = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {reviewer}"}, timeout=120)
        read = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {viewer}"}, timeout=120)
        body = {
            "line_id": LINE,
            "since": T0.isoformat(),
            "until": until.isoformat(),
            "cause": "verification",
            "reason": "bench",
        }
        place_ms, response = _timed(write, "POST", "/v1/holds", json=body)
        response.raise_for_status()
        hold = response.json()
        if hold["units"] != len(held):
            errors.append(f"hold counts {hold['units']} units, the store has {len(held)} bearings in it")
        get_ms, _ = _median_ms(read, f"/v1/holds/{hold['id']}")
        page_ms, page = _median_ms(read, f"/v1/holds/{hold['id']}/units", params={"limit": 50})
        if len(page.json()["items"]) != min(50, len(held)):
            errors.append("the units page is short")
        list_ms, _ = _median_ms(read, "/v1/holds")

        rng = random.Random(args.seed)
        latencies: dict[str, list[float]] = {"held": [], "free": []}
        for n in range(args.lookups * 2):
            which = "held" if n % 2 == 0 else "free"
            index = rng.choice(held if which == "held" else free)
            ms, response = _timed(read, "GET", f"/v1/units/{code_of(index)[0]}/grade")
            grade = response.json()
            in_hold = [h["id"] for h in grade.get("holds", [])] == [hold["id"]]
            wrong = in_hold is not (which == "held") or (in_hold and grade["may_ship"])
            if response.status_code != 200 or wrong:
                errors.append(f"{code_of(index)[0]}: {response.status_code} {grade.get('holds')}")
            if n >= 20:  # the first look-ups warm the server
                latencies[which].append(ms / 1000)
        write.close()
        read.close()
    held_lat = LatencySummary.of_seconds(latencies["held"])
    free_lat = LatencySummary.of_seconds(latencies["free"])
    print(
        f"hold of {hold['units']} units: placed in {place_ms:.0f} ms, read in {get_ms:.0f} ms, a page of its "
        f"units in {page_ms:.0f} ms, the open holds listed in {list_ms:.0f} ms"
    )
    print(f"grade of a held unit: {held_lat.text()}; of a unit in no hold: {free_lat.text()}")
    for problem in errors[:5]:
        print(f"PROBLEM: {problem}")
    return {
        "hold_units": hold["units"],
        "place_ms": place_ms,
        "get_hold_ms": get_ms,
        "units_page_ms": page_ms,
        "list_ms": list_ms,
        "grade_held_p50_ms": held_lat.p50_ms,
        "grade_held_p99_ms": held_lat.p99_ms,
        "grade_free_p50_ms": free_lat.p50_ms,
        "grade_free_p99_ms": free_lat.p99_ms,
        "grade_p50_ratio": held_lat.p50_ms / free_lat.p50_ms if free_lat.p50_ms else None,
        "errors": len(errors),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine.header())
    print(f"store: {args.defects} defects over {args.codes} codes (sqlite); hold: {LINE}, {args.hours:g} h")
    workdir = BENCH_DIR / f"holds-{os.getpid()}"
    clock = Stopwatch()
    try:
        cached = build_sqlite(BENCH_DIR / "trace-cache", args.defects, args.codes, args.seed)
        print(f"store: {cached.path} ready ({clock.elapsed():.1f} s, cached by size)")
        store = copy_store(cached, workdir / "linecheck.db")
        figures = measure(store.url, args.codes, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures.update(
        {"defects": args.defects, "codes": args.codes, "hours": args.hours, "machine": machine.describe()}
    )
    print_result(figures)
    return 0 if not figures["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
