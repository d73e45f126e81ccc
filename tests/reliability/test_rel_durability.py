"""Acknowledged means on disk: the API's SQLite commits with fsync, images and their folders are fsynced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rel_helpers import noise_png

from linecheck.serving.api.context import ApiContext
from linecheck.serving.api.metrics import ApiMetrics
from linecheck.serving.api.settings import ApiSettings
from linecheck.serving.store.images import FileImageStore


def test_api_sqlite_store_commits_with_synchronous_full(db_url: str, tmp_path: Path) -> None:
    # NORMAL in WAL mode skips the fsync at commit: a power cut can roll back what was acknowledged
    context = ApiContext.build(ApiSettings(database_url=db_url, data_dir=tmp_path), ApiMetrics())
    try:
        with context.db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        context.close()


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path ``os.fsync`` is called on from now on, in call order."""
    calls: list[Path] = []
    real = os.fsync

    def spy(fd: int) -> None:
        calls.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return calls


def test_stored_image_and_every_new_directory_entry_are_fsynced(tmp_path: Path, fsynced: list[Path]) -> None:
    root = tmp_path / "images"
    store = FileImageStore(root)
    ref = store.put(noise_png(1, side=16))
    final = store.path(ref)
    # the bytes (through the temp file that became the final name), then the entries that name them:
    # the file in its directory, and the two new fan-out directories in theirs
    assert fsynced[0].parent == final.parent and fsynced[0].name.startswith(".tmp-")
    assert set(fsynced[1:]) >= {final.parent, final.parent.parent, root}

    # a second image in the same fan-out directory: the file and its directory entry again
    fsynced.clear()
    other = store.put(noise_png(2, side=16))
    assert store.path(other).parent in fsynced[1:]


def test_storing_an_existing_image_again_fsyncs_its_directory(tmp_path: Path, fsynced: list[Path]) -> None:
    # a writer that died between the link and the directory's fsync left a name that may not survive
    # a power cut: the retry that finds it makes it durable before acknowledging
    store = FileImageStore(tmp_path / "images")
    data = noise_png(3, side=16)
    ref = store.put(data)
    fsynced.clear()
    assert store.put(data) == ref
    assert fsynced == [store.path(ref).parent]
