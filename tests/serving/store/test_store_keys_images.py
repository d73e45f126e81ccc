"""API keys hashed at rest; the content-addressed image store."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from linecheck.errors import AuthenticationError, ImageStoreError, InvalidFieldError, NotFoundError
from linecheck.serving.store.db import Database
from linecheck.serving.store.images import FileImageStore, check_image, check_ref
from linecheck.serving.store.keys import create_key, list_keys, parse_key, revoke_key, verify_key
from linecheck.serving.store.models import ApiKey

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 32
#: Real encoded images: an upload is checked by decoding it, not by its first bytes.
REAL_PNG = cv2.imencode(".png", np.full((8, 8, 3), 90, np.uint8))[1].tobytes()
REAL_JPEG = cv2.imencode(".jpg", np.full((8, 8, 3), 90, np.uint8))[1].tobytes()


@pytest.mark.parametrize(
    ("role", "lines"),
    [("line", ["textile-01"]), ("line", ["textile-01", "pv-01"]), ("reviewer", []), ("viewer", [])],
)
def test_key_round_trip_and_hash_at_rest(db: Database, role: str, lines: list[str]) -> None:
    key = create_key(db, role, lines, name="cam PC")
    key_id, secret = parse_key(key)
    with db.reader() as session:
        row = session.get(ApiKey, key_id)
        assert row is not None
        assert secret not in (row.secret_hash, row.id, row.name)
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        info = verify_key(session, key)
    assert (info.id, info.role, list(info.lines), info.name) == (key_id, role, lines, "cam PC")
    assert info.actor == f"key:{key_id}"


def test_wrong_secret_and_revoked_keys_fail(db: Database) -> None:
    key = create_key(db, "viewer")
    key_id, _ = parse_key(key)
    forged = f"lc_{key_id}_{'x' * 43}"
    with db.writer() as session:
        with pytest.raises(AuthenticationError, match=key_id):
            verify_key(session, forged)
        revoke_key(session, key_id)
        session.commit()
    with db.reader() as session, pytest.raises(AuthenticationError, match="revoked"):
        verify_key(session, key)
    with db.writer() as session, pytest.raises(NotFoundError, match="nope"):
        revoke_key(session, "nope")
    with db.reader() as session:
        listing = list_keys(session)
    assert [(k.info.id, k.revoked_at is not None) for k in listing] == [(key_id, True)]


@pytest.mark.parametrize(
    ("role", "lines", "field"),
    [("admin", [], "role"), ("line", [], "line"), ("line", ["Bad Line"], "line")],
)
def test_bad_key_requests(db: Database, role: str, lines: list[str], field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        create_key(db, role, lines)
    assert info.value.field == field
    with db.reader() as session:
        assert session.scalars(select(ApiKey)).all() == []


@pytest.mark.parametrize("key", ["", "lc_abc", "lc_zzzzzzzzzzzz_" + "a" * 43, "Bearer lc_"])
def test_malformed_keys(key: str) -> None:
    with pytest.raises(AuthenticationError, match="malformed"):
        parse_key(key)


def test_image_store_is_content_addressed_and_write_once(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path / "images")
    ref = store.put(PNG)
    assert ref == hashlib.sha256(PNG).hexdigest()
    path = store.path(ref)
    assert path == tmp_path / "images" / ref[:2] / ref[2:4] / ref
    stamp = path.stat().st_mtime_ns
    assert store.put(PNG) == ref
    assert path.stat().st_mtime_ns == stamp
    got = store.get(ref)
    assert (got.data, got.content_type) == (PNG, "image/png")
    assert store.get(store.put(JPEG)).content_type == "image/jpeg"
    assert not list(path.parent.glob(".tmp-*"))
    with pytest.raises(NotFoundError):
        store.get("0" * 64)


def test_concurrent_puts_of_the_same_bytes(tmp_path: Path) -> None:
    store = FileImageStore(tmp_path)
    refs: list[str] = []
    barrier = threading.Barrier(8)

    def put() -> None:
        barrier.wait()
        refs.append(store.put(JPEG))

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(refs) == 8 and len(set(refs)) == 1
    assert store.get(refs[0]).data == JPEG


def test_unwritable_store_names_the_problem(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ImageStoreError, match="cannot store image"):
        FileImageStore(blocker).put(PNG)


@pytest.mark.parametrize("ref", ["../../etc/passwd", "A" * 64, "0" * 65, "", "g" * 64])
def test_refs_can_never_be_paths(ref: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        check_ref(ref)
    assert info.value.field == "ref"


@pytest.mark.parametrize(
    ("data", "declared", "result"),
    [
        (REAL_PNG, "image/png", "image/png"),
        (REAL_PNG, None, "image/png"),
        (REAL_JPEG, "image/jpeg; charset=binary", "image/jpeg"),
        (REAL_PNG, "image/jpeg", "content-type"),
        (PNG, "image/png", "body"),  # PNG magic bytes, no image behind them
        (JPEG, "image/jpeg", "body"),
        (b"GIF89a", "image/gif", "body"),
        (b"", "image/png", "body"),
    ],
)
def test_check_image(data: bytes, declared: str | None, result: str) -> None:
    if result.startswith("image/"):
        assert check_image(data, declared=declared, max_bytes=1000) == result
    else:
        with pytest.raises(InvalidFieldError) as info:
            check_image(data, declared=declared, max_bytes=1000)
        assert info.value.field == result
