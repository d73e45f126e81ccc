"""Fault: the image store's filesystem fills up (a real 1 MiB tmpfs mounted for the test)."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client import generate_latest
from rel_helpers import auth, code_for, fast_settings, inspection, metric_value, noise_png, stored_inspections

from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.messages import DefectRecord, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.sender import SenderWorker
from linecheck.messages import CodeStatus, Verdict


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at ``tmp_path/images`` (needs root / CAP_SYS_ADMIN; skipped otherwise)."""
    mount_point = tmp_path / "images"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1M,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_image_store_answers_507_counts_it_and_still_records_inspections(
    api_server, keys, tiny_disk: Path
) -> None:
    headers = {**auth(keys["textile"]), "Content-Type": "image/png"}
    stored_refs: list[str] = []
    refused: list[httpx.Response] = []
    with api_server(images_dir=tiny_disk) as base, httpx.Client(base_url=base, timeout=30) as http:
        for seed in range(12):  # ~197 KB each: the fifth or sixth no longer fits
            answer = http.post("/v1/images", content=noise_png(seed), headers=headers)
            if answer.status_code == 201:
                stored_refs.append(answer.json()["ref"])
            else:
                refused.append(answer)
        assert 2 <= len(stored_refs) < 12 and refused
        assert {r.status_code for r in refused} == {507}
        error = refused[0].json()["error"]
        assert error["type"] == "image_store_full" and "full" in error["message"]
        metrics = http.get("/metrics").text
        assert metric_value(metrics, "linecheck_image_store_errors_total", reason="full") == len(refused)
        # inspections still go in: with an image that was stored, and with one that could not be
        lost_ref = noise_png(11)
        bodies = [
            inspection("textile-01", 1, image_ref=stored_refs[0]),
            inspection("textile-01", 2, image_ref=hashlib.sha256(lost_ref).hexdigest()),
            inspection("textile-01", 3),
        ]
        for body in bodies:
            assert http.post("/v1/inspections", json=body, headers=auth(keys["textile"])).status_code == 201
        assert {i["id"] for i in stored_inspections(base, keys["viewer"])} == {b["id"] for b in bodies}
        # what was stored before the disk filled is intact, and no temp files are left behind
        for ref in stored_refs:
            got = http.get(f"/v1/images/{ref}", headers=auth(keys["viewer"]))
            assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == ref
        assert not [p for p in tiny_disk.rglob(".tmp-*")]
        # health stays green: the database is fine, only the image store is full
        assert http.get("/healthz").status_code == 200


def _failed_roll_frame(seq: int) -> InspectionResult:
    """A failed textile frame whose full image (an incompressible 256x256 PNG) the outbox keeps."""
    image = np.random.default_rng(seq).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    return InspectionResult(
        line_id="textile-01",
        station="cam1",
        code=code_for("textile-01", seq),
        code_status=CodeStatus.TRIGGER,
        captured_at=datetime.now(UTC),
        model_name="textile",
        model_version="1",
        verdict=Verdict.FAIL,
        frame_seq=seq,
        image_width=256,
        image_height=256,
        defects=(
            DefectRecord(
                class_name="hole", confidence=0.9, bbox=(10.0, 10.0, 30.0, 30.0), location={"along_m": 1.0}
            ),
        ),
        image=image,
    )


def test_inspector_posts_inspections_while_the_image_store_is_full_and_uploads_images_later(
    api_server, keys, tiny_disk: Path, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "inspector" / "outbox.sqlite")
    ids = [outbox.add(_failed_roll_frame(seq)) for seq in range(1, 11)]  # ~2 MB of frames for a 1 MiB store
    refs = {r.id: r.payload["image_ref"] for r in outbox.rows()}
    settings = fast_settings(tmp_path / "inspector", send_batch=2, image_store_full_retries=2)
    metrics = InspectorMetrics()
    metrics.watch_outbox(outbox.counts, outbox.image_backlog)
    stop = threading.Event()
    with api_server(images_dir=tiny_disk) as base:
        sender = SenderWorker(
            outbox=outbox,
            client=ApiClient(base, keys["textile"]),
            settings=settings,
            metrics=metrics,
            stop=stop,
        )
        sender.start()
        try:
            deadline = time.monotonic() + 60
            while outbox.counts()["pending"] and time.monotonic() < deadline:
                time.sleep(0.1)
            # every record reached the API although some of their frames did not fit
            assert outbox.counts() == {"pending": 0, "sent": 10, "rejected": 0}
            assert {i["id"] for i in stored_inspections(base, keys["viewer"])} == set(ids)
            backlog = outbox.image_backlog()
            assert backlog > 0 and metrics.total("images_deferred") > 0
            assert metrics.by_key("send_failures").get("image_store_full", 0) >= 2
            scrape = generate_latest(metrics.registry).decode()
            assert metric_value(scrape, "linecheck_inspector_image_backlog") == backlog
            kept = {p.stem for p in (tmp_path / "inspector" / "images").rglob("*.png")}
            assert kept and kept < set(refs.values())  # frames not uploaded yet stay on the inspector's disk

            # the operator grows the volume: the backlog drains by itself, every frame arrives intact
            subprocess.run(["mount", "-o", "remount,size=8M", str(tiny_disk)], check=True)
            deadline = time.monotonic() + 60
            while outbox.image_backlog() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert outbox.image_backlog() == 0
        finally:
            stop.set()
            sender.join(10)
        with httpx.Client(base_url=base, timeout=30) as http:
            for ref in refs.values():
                got = http.get(f"/v1/images/{ref}", headers=auth(keys["viewer"]))
                assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == ref
    outbox.close()
