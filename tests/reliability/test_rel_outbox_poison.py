"""Poison outbox rows: parked with their reason, never holding up the rows behind them (real API).

A real HTTP proxy sits between the sender and the real API: it answers 500 to any POST of
inspections that carries the poison id (as an API bug triggered by one payload would) and can play
an outage (everything 503, or 500 while ``/readyz`` says not ready); the rest goes through.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from rel_helpers import fast_settings, inspection, metric_value, stored_inspections
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.sender import SenderWorker


@dataclass
class Faults:
    """What the proxy breaks: one inspection id (500), or everything (``outage``: 503 / 500)."""

    poison: set[str] = field(default_factory=set)
    outage: int | None = None  # 503: answered to every call; 500: to inspections, with /readyz 503
    seen: list[str] = field(default_factory=list)


class FaultyProxy:
    """A real HTTP proxy in front of the API that answers 5xx as :class:`Faults` says."""

    def __init__(self, upstream: str, faults: Faults) -> None:
        self.faults = faults
        client = httpx.Client(base_url=upstream, timeout=30)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str) -> None:
                body = json.dumps({"error": {"type": "internal_error", "message": message}}).encode()
                self._answer(status, body, {"Content-Type": "application/json"})

            def _forward(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outage = proxy.faults.outage
                if self.path.startswith("/v1/inspections") and method == "POST":
                    proxy.faults.seen.append(body.decode(errors="replace"))
                    if outage is not None:
                        return self._error(outage, "the API is down")
                    if any(poison in body.decode(errors="replace") for poison in proxy.faults.poison):
                        return self._error(500, "internal error: this payload trips a bug")
                elif outage is not None and (outage == 503 or self.path == "/readyz"):
                    return self._error(503, "not ready")
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                answer = client.request(method, self.path, content=body, headers=headers)
                keep = {
                    k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "retry-after")
                }
                self._answer(answer.status_code, answer.content, keep)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._client = client
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._client.close()


def _enqueue(
    outbox_path: Path, payload: dict[str, Any], *, created_at: float, text: str | None = None
) -> str:
    """Commit a row as an inspector would (``json.dumps`` writes NaN as a bare ``NaN``), or ``text``."""
    with sqlite3.connect(outbox_path) as db:
        db.execute(
            "INSERT INTO inspections (id, line_id, created_at, payload, image_refs, state, next_attempt_at)"
            " VALUES (?, ?, ?, ?, '[]', 'pending', ?)",
            (payload["id"], payload["line_id"], created_at, text or json.dumps(payload), created_at),
        )
    return str(payload["id"])


@dataclass
class Rig:
    outbox: Outbox
    sender: SenderWorker
    metrics: InspectorMetrics
    faults: Faults
    base: str


@pytest.fixture
def rig(api_server, keys, tmp_path: Path) -> Iterator[Rig]:
    """A real API behind a faulty proxy, an outbox and a sender (parks after 3 lone 5xx), not started."""
    outbox = Outbox(tmp_path / "inspector" / "outbox.sqlite")
    metrics = InspectorMetrics()
    metrics.watch_outbox(outbox.counts, outbox.image_backlog)
    faults = Faults()
    stop = threading.Event()
    with api_server() as base:
        proxy = FaultyProxy(base, faults)
        sender = SenderWorker(
            outbox=outbox,
            client=ApiClient(proxy.base, keys["textile"]),
            settings=fast_settings(tmp_path / "inspector", outbox_park_after=3),
            metrics=metrics,
            stop=stop,
        )
        try:
            yield Rig(outbox=outbox, sender=sender, metrics=metrics, faults=faults, base=base)
        finally:
            stop.set()
            sender.join(10)
            proxy.close()
    outbox.close()


def _wait(condition: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_poison_rows_are_parked_with_their_reason_and_the_rows_behind_them_all_get_sent(
    rig: Rig, keys: dict[str, str]
) -> None:
    path = rig.outbox.path
    now = time.time()
    unsendable = inspection("textile-01", 1)
    unsendable["latency_ms"] = float("nan")  # an older inspector stored a non-finite number
    poison = inspection("textile-01", 2)
    rig.faults.poison.add(poison["id"])
    damaged = inspection("textile-01", 99)
    first = [
        _enqueue(path, unsendable, created_at=now - 11),
        _enqueue(path, poison, created_at=now - 10),
        _enqueue(path, damaged, created_at=now - 9, text=json.dumps(damaged)[:40]),  # a torn write
    ]
    healthy = [_enqueue(path, inspection("textile-01", 3 + n), created_at=now - 8 + n) for n in range(6)]
    rig.sender.start()

    _wait(lambda: rig.outbox.counts() == {"pending": 0, "sent": 6, "rejected": 3})
    assert {i["id"] for i in stored_inspections(rig.base, keys["viewer"])} == set(healthy)
    rows = {r.id: r for r in rig.outbox.rows("rejected")}
    assert set(rows) == set(first)
    assert rows[first[0]].last_error is not None and "parked" in rows[first[0]].last_error
    assert "JSON" in rows[first[0]].last_error
    assert "parked: stored payload is not readable JSON" in str(rows[first[2]].last_error)
    poisoned = rows[first[1]]
    assert poisoned.last_error is not None and poisoned.last_error.startswith("parked after 3 failed sends")
    assert "HTTP 500" in poisoned.last_error and "trips a bug" in poisoned.last_error
    # retried with backoff before it was parked: 3 sends of its own, not one per poll
    assert sum(first[1] in body for body in rig.faults.seen) <= 3 + 2  # + the batches it was part of

    # rows added later go straight through; the parked ones stay put
    later = [_enqueue(path, inspection("textile-01", 20 + n), created_at=time.time()) for n in range(3)]
    rig.sender.wake()
    _wait(lambda: rig.outbox.counts()["sent"] == 9)
    assert set(later) <= {i["id"] for i in stored_inspections(rig.base, keys["viewer"])}

    # visible in metrics and in `linecheck outbox list`
    scrape = generate_latest(rig.metrics.registry).decode()
    assert metric_value(scrape, "linecheck_inspector_outbox_parked_total", reason="server_error") == 1
    assert metric_value(scrape, "linecheck_inspector_outbox_parked_total", reason="unsendable") == 2
    assert metric_value(scrape, "linecheck_inspector_outbox_backlog", state="rejected") == 3
    listed = CliRunner().invoke(app, ["outbox", "list", "--format", "json", "--outbox", str(path)])
    assert listed.exit_code == 0, listed.output
    assert {r["id"]: r["last_error"][:6] for r in json.loads(listed.output)} == dict.fromkeys(first, "parked")

    # once the API is fixed, the operator requeues the parked 5xx row and it goes in
    rig.faults.poison.clear()
    requeued = CliRunner().invoke(app, ["outbox", "requeue", first[1], "--outbox", str(path)])
    assert requeued.exit_code == 0, requeued.output
    _wait(lambda: rig.outbox.counts()["sent"] == 10)


@pytest.mark.parametrize("outage", [503, 500], ids=["503-everywhere", "500-and-not-ready"])
def test_an_api_outage_is_waited_out_and_never_blamed_on_the_rows(
    rig: Rig, keys: dict[str, str], outage: int
) -> None:
    rig.faults.outage = outage
    ids = [_enqueue(rig.outbox.path, inspection("textile-01", n), created_at=time.time()) for n in range(5)]
    rig.sender.start()
    _wait(lambda: len(rig.faults.seen) >= 8)  # several rounds of failed sends
    assert rig.outbox.counts() == {"pending": 5, "sent": 0, "rejected": 0}
    assert all(rig.outbox.failures(i) == 0 for i in ids)
    rig.faults.outage = None
    _wait(lambda: rig.outbox.counts() == {"pending": 0, "sent": 5, "rejected": 0})
    assert set(ids) <= {i["id"] for i in stored_inspections(rig.base, keys["viewer"])}
