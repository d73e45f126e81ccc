"""Fault: a filesystem fills up (real tmpfs mounts): the image store's, the SQLite database's, PostgreSQL's.

A full disk answers 507 with a message saying which store is full, never a 500 or a connection reset;
``/healthz`` (liveness) stays 200 while ``/readyz`` says what is full, and everything acknowledged stays.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client import generate_latest
from rel_helpers import auth, code_for, fast_settings, inspection, metric_value, noise_png, stored_inspections
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.messages import DefectRecord, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.sender import SenderWorker
from linecheck.messages import CodeStatus, Verdict
from linecheck.serving.api.testing import create_key, run_api
from linecheck.serving.store.db import Database
from linecheck.serving.store.testing import (
    copy_sqlite,
    find_postgres,
    new_postgres_schema,
    temporary_postgres_database,
)


@contextmanager
def tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mount_point`` (needs root / CAP_SYS_ADMIN; skips the test otherwise)."""
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def grow(mount_point: Path, size: str) -> None:
    """The operator grows the volume."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount_point)], check=True)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at ``tmp_path/images``."""
    with tmpfs(tmp_path / "images", "1M") as mount_point:
        yield mount_point


def test_full_image_store_answers_507_counts_it_and_still_records_inspections(
    api_server, keys, tiny_disk: Path
) -> None:
    headers = {**auth(keys["textile"]), "Content-Type": "image/png"}
    stored_refs: list[str] = []
    refused: list[httpx.Response] = []
    # readiness wants 1 MiB free: the empty 1 MiB tmpfs has it, a filled one does not
    with (
        api_server(images_dir=tiny_disk, min_free_disk_mb=1) as base,
        httpx.Client(base_url=base, timeout=30) as http,
    ):
        assert http.get("/readyz").status_code == 200
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
        # alive, but not ready: the database is fine, the image store is full and says so
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        assert ready.status_code == 507
        checks = {c["name"]: c for c in ready.json()["checks"]}
        assert ready.json()["status"] == "not_ready"
        assert checks["database"]["ok"] and checks["database_disk"]["ok"]
        assert (
            not checks["image_store_disk"]["ok"]
            and "too little free space" in checks["image_store_disk"]["detail"]
        )
        grow(tiny_disk, "8M")
        assert http.get("/readyz").status_code == 200


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
            grow(tiny_disk, "8M")
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


def _fill(http: httpx.Client, key: str) -> tuple[list[str], list[httpx.Response]]:
    """Post batches until the store refused five; returns the acknowledged ids and the refusals.

    A connection reset or a timeout raises here and fails the test.
    """
    acknowledged: list[str] = []
    refused: list[httpx.Response] = []
    for n in range(5000):
        bodies = [inspection("textile-01", n, defects=3) for _ in range(5)]
        answer = http.post("/v1/inspections", json={"inspections": bodies}, headers=auth(key))
        if answer.status_code in (200, 201):
            acknowledged += [b["id"] for b in bodies]
        else:
            refused.append(answer)
            if len(refused) == 5:
                break
    return acknowledged, refused


def _full_store_answers(http: httpx.Client, base: str, keys: dict[str, str], disk: Path) -> None:
    """Fill the store, check every answer, grow the disk, check that writes go in again."""
    acknowledged, refused = _fill(http, keys["textile"])
    assert acknowledged and len(refused) == 5
    assert {r.status_code for r in refused} == {507}
    error = refused[0].json()["error"]
    assert error["type"] == "store_full" and "disk is full" in error["message"], error
    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code in (200, 507)
    # reads still work, and nothing acknowledged is missing
    assert set(acknowledged) <= {i["id"] for i in stored_inspections(base, keys["viewer"])}
    grow(disk, "64M")
    again = [inspection("textile-01", 9000 + n) for n in range(5)]
    assert http.post(
        "/v1/inspections", json={"inspections": again}, headers=auth(keys["textile"])
    ).status_code in (
        200,
        201,
    )
    assert http.get("/readyz").status_code == 200
    assert set(acknowledged) | {b["id"] for b in again} <= {
        i["id"] for i in stored_inspections(base, keys["viewer"])
    }


def test_full_sqlite_disk_answers_507_never_a_reset_and_readyz_says_so(
    rel_template: Path, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "db", "3M") as disk:
        url = copy_sqlite(rel_template, disk / "linecheck.db")
        keys = {"textile": create_key(url, "line", "textile-01"), "viewer": create_key(url, "viewer")}
        with (
            run_api(url, tmp_path / "api", settings={"min_free_disk_mb": 1}) as base,
            httpx.Client(base_url=base, timeout=30) as http,
        ):
            assert http.get("/readyz").status_code == 200
            acknowledged, refused = _fill(http, keys["textile"])
            assert acknowledged and {r.status_code for r in refused} == {507}
            error = refused[0].json()["error"]
            assert error["type"] == "store_full" and "disk is full" in error["message"], error
            # alive, not ready, and the readiness answer says it is the database's disk
            assert http.get("/healthz").status_code == 200
            ready = http.get("/readyz")
            assert ready.status_code == 507
            failing = {c["name"]: c["detail"] for c in ready.json()["checks"] if not c["ok"]}
            assert set(failing) & {"database", "database_disk"} and "image_store" not in failing, failing
            assert set(acknowledged) <= {i["id"] for i in stored_inspections(base, keys["viewer"])}
            grow(disk, "64M")
            assert http.get("/readyz").status_code == 200
            more = [inspection("textile-01", 9000 + n) for n in range(5)]
            answer = http.post("/v1/inspections", json={"inspections": more}, headers=auth(keys["textile"]))
            assert answer.status_code in (200, 201)
            assert set(acknowledged) | {b["id"] for b in more} <= {
                i["id"] for i in stored_inspections(base, keys["viewer"])
            }
        db = Database.from_url(url)
        try:
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        finally:
            db.dispose()


def _schema_of(url: str) -> str:
    options = str(make_url(url).query["options"])
    return options.removeprefix("-csearch_path=").split()[0]


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL server (skipped when none is reachable)."""
    server, why = find_postgres()
    if server is None:
        pytest.skip(f"no PostgreSQL server reachable: {why}")
    with temporary_postgres_database(server, prefix="linecheck_rel") as url:
        yield url


@pytest.mark.postgres
def test_full_postgres_tablespace_answers_507_never_a_500(pg_database: str, tmp_path: Path) -> None:
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no local postgres user: the server's disk cannot be filled from here")
    name = f"lc_tiny_{uuid.uuid4().hex[:8]}"
    location = Path(tempfile.gettempdir()) / name  # postgres must reach it (pytest's tmp dirs are 0700)
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    try:
        with tmpfs(location, "4M"):
            os.chown(location, owner.pw_uid, owner.pw_gid)
            location.chmod(0o700)
            try:
                with admin.connect() as conn:
                    conn.execute(text(f"CREATE TABLESPACE {name} LOCATION '{location}'"))
            except DBAPIError as exc:
                pytest.skip(f"cannot create a tablespace on a local tmpfs (remote server?): {exc.orig}")
            schema_url = new_postgres_schema(pg_database)
            schema = _schema_of(schema_url)
            url = (
                make_url(schema_url)
                .update_query_dict({"options": f"-csearch_path={schema} -cdefault_tablespace={name}"})
                .render_as_string(hide_password=False)
            )
            try:
                keys = {"textile": create_key(url, "line", "textile-01"), "viewer": create_key(url, "viewer")}
                with run_api(url, tmp_path / "api") as base, httpx.Client(base_url=base, timeout=30) as http:
                    _full_store_answers(http, base, keys, location)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                    conn.execute(text(f"DROP TABLESPACE IF EXISTS {name}"))
    finally:
        admin.dispose()
