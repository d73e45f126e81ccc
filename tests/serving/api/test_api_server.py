"""Through real uvicorn + httpx: idempotency under concurrent retries, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from api_payloads import textile
from sqlalchemy import func, select

from linecheck.serving.api.testing import create_key, run_api
from linecheck.serving.store.db import Database
from linecheck.serving.store.models import Defect, Inspection


def _post_together(base: str, key: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    """POST every body at the same moment, each from its own thread and connection."""
    barrier = threading.Barrier(len(bodies))

    def send(body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            barrier.wait()
            return client.post("/v1/inspections", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def _counts(url: str) -> tuple[int, int]:
    db = Database.from_url(url)
    try:
        with db.reader() as session:
            inspections = session.scalar(select(func.count()).select_from(Inspection))
            defects = session.scalar(select(func.count()).select_from(Defect))
            return int(inspections or 0), int(defects or 0)
    finally:
        db.dispose()


def test_concurrent_retries_store_once(any_db_url: str, tmp_path: Path) -> None:
    single = textile()
    batch_a = [textile(), textile(), textile()]
    batch_b = [batch_a[1], batch_a[2], textile()]
    with run_api(any_db_url, tmp_path) as base:
        key = create_key(any_db_url, "line", "textile-01")
        responses = _post_together(base, key, [single] * 6)
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 5 + [201], [r.text for r in responses]
        assert sorted(r.json()["status"] for r in responses) == ["created"] + ["duplicate"] * 5

        batches = _post_together(base, key, [{"inspections": batch_a}, {"inspections": batch_b}] * 2)
        assert all(r.status_code == 200 for r in batches), [r.text for r in batches]
        created = sum(r.json()["created"] for r in batches)
        assert created == 4  # a0, a1, a2, b2 once each, whoever won the race
    assert _counts(any_db_url) == (5, 5)


def test_concurrent_conflicting_writes_keep_the_first(any_db_url: str, tmp_path: Path) -> None:
    first = textile()
    other = {**first, "verdict": "pass", "defects": []}
    with run_api(any_db_url, tmp_path) as base:
        key = create_key(any_db_url, "line", "textile-01")
        responses = _post_together(base, key, [first, other, first, other])
        codes = sorted(r.status_code for r in responses)
        # whichever content wins, its twin is a duplicate and the other two are conflicts
        assert codes == [200, 201, 409, 409], [r.text for r in responses]
        assert _counts(any_db_url)[0] == 1
        metrics = httpx.get(f"{base}/metrics").text
        assert "linecheck_inspection_conflicts_total 2.0" in metrics
