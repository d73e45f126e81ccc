"""Fault: Triton is SIGKILLed mid-run (a dedicated server, not the shared one), then restarted on its ports.

Frames that cannot be inferred become ``not_inspected`` (never ``pass``); inspection resumes by
itself once the server is back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rel_helpers import fast_settings, stored_inspections

from linecheck.config import load_lines
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.detectors import triton_factories
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.serving.api.testing import create_key
from linecheck.serving.triton.embedded import EmbeddedTriton, free_port

pytestmark = pytest.mark.triton
ROOT = Path(__file__).resolve().parents[2]
FRAMES = 80  # four 10 m rolls of 0.5 m frames


def _server(repository: Path, ports: dict[str, int], log: Path) -> EmbeddedTriton:
    return EmbeddedTriton(repository, ["textile"], log_file=log, stop_timeout_s=5, **ports)


def test_triton_killed_units_become_not_inspected_and_inspection_resumes(
    triton_repository: Path, api_server, keys, db_url, tmp_path: Path
) -> None:
    line = load_lines(ROOT / "configs" / "lines")["textile-01"]
    ports = {"grpc_port": free_port(), "http_port": free_port(), "metrics_port": free_port()}
    key = create_key(db_url, "line", "textile-01")
    seen: list = []
    marks: dict[str, datetime] = {}
    first = _server(triton_repository, ports, tmp_path / "triton-1.log").start()
    second: EmbeddedTriton | None = None
    with api_server() as base:
        svc = InspectorService(
            [line],
            detectors=triton_factories([line], url=f"127.0.0.1:{ports['grpc_port']}", timeout_s=5),
            settings=fast_settings(tmp_path / "inspector", infer_timeout_s=5, deadline_s=30),
            client=ApiClient(base, key),
            sources=[
                SourceSpec(line_id="textile-01", station="cam1", uri="synth://textile?seed=4&units=4&rate=10")
            ],
            observers=[lambda result, _inferred: seen.append(result)],
        )
        svc.start()
        try:
            deadline = time.monotonic() + 60
            while sum(r.verdict.value != "not_inspected" for r in seen) < 8 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert first.pid is not None
            os.killpg(first.pid, signal.SIGKILL)  # the whole server group, no goodbye
            marks["killed"] = datetime.now(UTC)
            first.stop()
            while sum(r.verdict.value == "not_inspected" for r in seen) < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            marks["restarting"] = datetime.now(UTC)
            second = _server(triton_repository, ports, tmp_path / "triton-2.log").start()
            assert svc.wait_sources(90)
            assert svc.drain(60) and svc.wait_delivered(60)
        finally:
            with contextlib.suppress(Exception):
                svc.stop()
            first.stop()
            if second is not None:
                second.stop()
        stored = {s["id"]: s for s in stored_inspections(base, keys["viewer"], line_id="textile-01")}
    verdicts = [r.verdict.value for r in seen]
    assert len(seen) == FRAMES == len(stored)
    failed = [r for r in seen if r.verdict.value == "not_inspected"]
    assert len(failed) >= 5 and all(r.reason and r.model_version is None for r in failed)
    # while the server was down (after the kill, before the restart) nothing passed
    outage = [r for r in seen if marks["killed"] < r.captured_at < marks["restarting"]]
    assert outage and all(r.verdict.value == "not_inspected" for r in outage)
    # and the API holds them as not_inspected, routed to manual QA
    assert all(stored[r.id]["verdict"] == "not_inspected" for r in failed)
    # recovery: inspection resumed after the restart without touching the inspector
    assert verdicts[-1] != "not_inspected"
    print(f"triton-kill: frames={len(seen)} not_inspected={len(failed)} stored={len(stored)}")
