"""Fault: the API is SIGKILLed (twice) during a simulated inspector run; nothing lost, nothing duplicated."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

from rel_helpers import BlankDetector, fast_settings, stored_inspections
from sqlalchemy.engine import make_url

from linecheck.config import load_lines
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.kinds import Kind
from linecheck.serving.api.testing import create_key, free_port, run_api_process

ROOT = Path(__file__).resolve().parents[2]
UNITS = 150


def test_api_killed_and_restarted_mid_run_loses_and_duplicates_nothing(db_url: str, tmp_path: Path) -> None:
    line = load_lines(ROOT / "configs" / "lines")["bearing-01"]
    key = create_key(db_url, "line", "bearing-01", name="inspector")
    viewer = create_key(db_url, "viewer")
    port = free_port()
    data_dir = tmp_path / "api"
    svc = InspectorService(
        [line],
        detectors={"bearing": lambda: BlankDetector(Kind.BEARING)},
        settings=fast_settings(tmp_path / "inspector"),
        client=ApiClient(f"http://127.0.0.1:{port}", key),
        sources=[
            SourceSpec(
                line_id="bearing-01", station="face", uri=f"synth://bearing?seed=3&units={UNITS}&rate=15"
            )
        ],
    )
    kills = 0
    before_kill: list[int] = []

    def wait_stored(base: str, at_least: int) -> int:
        deadline = time.monotonic() + 20
        while (count := len(stored_inspections(base, viewer))) < at_least and time.monotonic() < deadline:
            time.sleep(0.1)
        return count

    try:
        for round_ in range(2):
            with run_api_process(db_url, data_dir, port=port) as (base, proc):
                if round_ == 0:
                    svc.start()
                before_kill.append(wait_stored(base, (before_kill[-1] if before_kill else 0) + 10))
                proc.kill()  # SIGKILL: no shutdown hook runs
                proc.wait(timeout=10)
                kills += 1
            time.sleep(0.5)  # the inspector notices the outage and keeps rows pending
        with run_api_process(db_url, data_dir, port=port) as (base, _proc):
            assert svc.wait_sources(60)
            assert svc.drain(30)
            assert svc.wait_delivered(60)
            stored = stored_inspections(base, viewer, line_id="bearing-01")
    finally:
        with contextlib.suppress(Exception):
            svc.stop(deliver_timeout_s=1)
    assert kills == 2
    assert 0 < before_kill[0] <= before_kill[1] < UNITS  # the kills really happened mid-run
    assert svc.metrics.by_key("send_failures").get("connection", 0) >= 1
    assert len(stored) == UNITS
    assert len({s["id"] for s in stored}) == UNITS
    assert sorted(s["code"] for s in stored) == [f"BR{i:010d}" for i in range(1, UNITS + 1)]
    with sqlite3.connect(make_url(db_url).database) as conn:  # the database itself, not only the API
        rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT id), COUNT(DISTINCT code) FROM inspections")
        assert rows.fetchone() == (UNITS, UNITS, UNITS)
    print(f"api-kill: sent={UNITS} received={len(stored)} kills={kills}")
