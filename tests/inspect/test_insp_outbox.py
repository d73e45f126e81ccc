"""The durable outbox and its sender, against the real API (uvicorn on SQLite)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from insp_helpers import LiveApi, wait_until
from insp_helpers import bearing_result as result

from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.sender import SenderWorker
from linecheck.inspect.settings import InspectorSettings


def test_add_commits_payload_and_images_before_any_send(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    passed = outbox.add(result(seq=1))
    failed = outbox.add(result(seq=2, defects=2))
    unread = outbox.add(result(None, seq=3))
    outbox.close()

    reopened = Outbox(tmp_path / "outbox.sqlite")  # a crash here loses nothing
    rows = {r.id: r for r in reopened.due(100)}
    assert set(rows) == {passed, failed, unread} and all(r.state == "pending" for r in rows.values())
    assert rows[passed].payload["image_ref"] is None and rows[passed].image_refs == ()
    fail = rows[failed].payload
    assert fail["image_ref"] is not None and len(fail["defects"]) == 2
    assert all(d["crop_ref"] for d in fail["defects"])
    assert set(rows[failed].image_refs) == {fail["image_ref"], *(d["crop_ref"] for d in fail["defects"])}
    assert rows[unread].payload["code"] is None and rows[unread].payload["image_ref"] is not None
    for image in reopened.images_to_upload(rows[failed].image_refs):
        data = image.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == image.ref  # content-addressed, as the API stores them
        assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is not None
    db = sqlite3.connect(tmp_path / "outbox.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened.close()


def test_adding_the_same_id_twice_keeps_the_first(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    first = result(seq=1)
    outbox.add(first)
    outbox.add(result(seq=9, id=first.id))
    rows = outbox.rows()
    assert len(rows) == 1 and rows[0].payload["frame_seq"] == 1


def test_retry_bookkeeping(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    ids = [outbox.add(result(seq=i)) for i in range(3)]
    outbox.mark_retry(ids[:2], "connection refused", delay_s=60)
    assert [r.id for r in outbox.due(10)] == ids[2:]
    outbox.mark_sent(ids[2:])
    outbox.mark_rejected(ids[0], "422: bad")
    assert outbox.counts() == {"pending": 1, "sent": 1, "rejected": 1}
    assert outbox.get(ids[0]).last_error == "422: bad"  # type: ignore[union-attr]
    outbox.retry_all_now()
    assert [r.id for r in outbox.due(10)] == [ids[1]]
    assert outbox.requeue_rejected() == 1 and outbox.counts()["pending"] == 2


def _sender(
    outbox: Outbox, api_url: str, key: str, settings: InspectorSettings
) -> tuple[SenderWorker, threading.Event]:
    stop = threading.Event()
    worker = SenderWorker(
        outbox=outbox,
        client=ApiClient(api_url, key),
        settings=settings,
        metrics=InspectorMetrics(),
        stop=stop,
    )
    return worker, stop


def test_sender_delivers_images_then_inspections(
    live_api: LiveApi, settings: InspectorSettings, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    s = settings.model_copy(update={"send_batch": 4})
    ids = [outbox.add(result(f"BR{i:010d}", seq=i, defects=i % 3)) for i in range(1, 10)]
    ids.append(outbox.add(result(None, seq=10)))
    worker, stop = _sender(outbox, live_api.url, live_api.line_key, s)
    worker.start()
    assert wait_until(lambda: outbox.counts()["pending"] == 0)
    stop.set()
    worker.join(5)
    assert outbox.counts() == {"pending": 0, "sent": 10, "rejected": 0}
    stored = {i["id"]: i for i in live_api.inspections()}
    assert set(stored) == set(ids)
    sent = {r.id: r.payload for r in outbox.rows()}
    for inspection_id, payload in sent.items():
        assert stored[inspection_id]["verdict"] == payload["verdict"]
        refs = [payload["image_ref"], *(d["crop_ref"] for d in payload["defects"])]
        for ref in filter(None, refs):
            got = live_api.get(f"/v1/images/{ref}")
            assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == ref
    assert not list((tmp_path / "images").rglob("*.png"))  # local copies freed once the API has them
    assert worker.metrics.total("sent") == 10


def test_refused_inspections_are_kept_as_rejected_not_retried(
    live_api: LiveApi, settings: InspectorSettings, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    good = outbox.add(result("BR0000000001", seq=1))
    bad_code = outbox.add(result("BR12", seq=2))  # does not match bearing-01's code pattern -> 422
    other = Outbox(tmp_path / "other.sqlite")  # another inspector reusing an id with other content -> 409
    first = result("BR0000000003", seq=3)
    other.add(first)
    worker0, _stop0 = _sender(other, live_api.url, live_api.line_key, settings)
    assert worker0.send_once() == 1
    clash = outbox.add(result("BR0000000003", seq=4, id=first.id))
    worker, _ = _sender(outbox, live_api.url, live_api.line_key, settings)
    assert worker.send_once() == 3
    assert outbox.counts() == {"pending": 0, "sent": 1, "rejected": 2}
    assert outbox.get(good).state == "sent"  # type: ignore[union-attr]
    rejected_code = outbox.get(bad_code)
    assert rejected_code is not None and rejected_code.state == "rejected"
    assert "code" in (rejected_code.last_error or "") and "BR12" in (rejected_code.last_error or "")
    assert "conflict" in (outbox.get(clash).last_error or "")  # type: ignore[union-attr]
    assert worker.send_once() == 0  # rejected rows are not retried
    assert worker.metrics.total("rejected") == 2


@pytest.mark.parametrize("key", ["lc_000000000000_" + "x" * 43, ""])
def test_bad_key_is_retried_not_rejected(
    live_api: LiveApi, settings: InspectorSettings, tmp_path: Path, key: str
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.add(result(seq=1))
    worker, _ = _sender(outbox, live_api.url, key, settings)
    assert worker.send_once() == 0
    assert outbox.counts()["pending"] == 1
    assert worker.last_error is not None and "API key" in worker.last_error
    assert worker.metrics.by_key("send_failures") == {"auth": 1}


def test_api_down_keeps_rows_pending_with_backoff(settings: InspectorSettings, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.add(result(seq=1))
    worker, _ = _sender(outbox, "http://127.0.0.1:9", "k", settings)
    assert worker.send_once() == 0
    row = outbox.rows()[0]
    assert row.state == "pending" and row.attempts == 1 and "ConnectError" in (row.last_error or "")
    assert outbox.due(10) == []  # backed off
    assert worker.metrics.by_key("send_failures") == {"connection": 1}


def test_sender_prunes_acknowledged_rows_past_retention_at_start_then_hourly(
    settings: InspectorSettings, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    old, recent, rejected = (outbox.add(result(seq=i)) for i in range(3))
    outbox.mark_sent([old, recent])
    outbox.mark_rejected(rejected, "422: bad")
    with sqlite3.connect(tmp_path / "o.sqlite") as db:  # acknowledged eight days ago
        db.execute("UPDATE inspections SET sent_at = sent_at - 8 * 86400 WHERE id IN (?, ?)", (old, rejected))
    worker, _ = _sender(
        outbox, "http://127.0.0.1:9", "k", settings.model_copy(update={"outbox_keep_sent_days": 7})
    )
    assert worker.prune_due() == 1
    assert {r.id for r in outbox.rows()} == {recent, rejected}  # rejected rows wait for an operator
    with sqlite3.connect(tmp_path / "o.sqlite") as db:
        db.execute("UPDATE inspections SET sent_at = sent_at - 8 * 86400 WHERE id = ?", (recent,))
    assert worker.prune_due() == 0  # not due again within the hour
    worker._next_prune = 0.0
    assert worker.prune_due() == 1 and [r.id for r in outbox.rows()] == [rejected]
