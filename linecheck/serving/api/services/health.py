"""Liveness and readiness of one API process.

``/healthz`` only says the process answers. ``/readyz`` says whether it can do its job: the
database takes a write (a real, committed one: a full disk or a read-only database fails it), the
image store takes a file, and the filesystems of the SQLite database and of the image store have
more free space than ``min_free_disk_mb``. A lack of space answers **507**, anything else that is
not ready **503**, each check with a message saying what failed.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from linecheck.errors import LinecheckError, StoreFullError
from linecheck.serving.store.db import Database
from linecheck.serving.store.images import FileImageStore, ImageStore
from linecheck.serving.store.models import utcnow
from linecheck.serving.store.repositories.probe import touch_probe

_MIB = 1024 * 1024
_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class CheckOut(BaseModel):
    """One readiness check: ``ok``, and what was found (or what failed)."""

    name: str
    ok: bool
    detail: str


class ReadyOut(BaseModel):
    """``ready`` when every check passed, else ``not_ready``."""

    status: str
    checks: list[CheckOut]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Result:
    check: CheckOut
    full: bool = False  # the failure is a lack of space


def _ok(name: str, detail: str) -> _Result:
    return _Result(check=CheckOut(name=name, ok=True, detail=detail))


def _failed(name: str, detail: str, *, full: bool) -> _Result:
    return _Result(check=CheckOut(name=name, ok=False, detail=detail), full=full)


def check_database(db: Database) -> _Result:
    """Commit a write to the probe row."""
    try:
        with db.writer() as session:
            touch_probe(session, by=f"{socket.gethostname()}:{os.getpid()}", at=utcnow())
            session.commit()
    except StoreFullError as exc:
        return _failed("database", str(exc), full=True)
    except LinecheckError as exc:
        return _failed("database", str(exc), full=False)
    return _ok("database", f"{db.dialect}: a write was committed")


def check_image_store(root: Path) -> _Result:
    """Write, fsync and remove a small file in the image store's root."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".readyz-") as probe:
            probe.write(b"readyz")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        full = exc.errno in _FULL_ERRNOS
        what = "is full" if full else "is not writable"
        return _failed("image_store", f"image store {root} {what}: {exc}", full=full)
    return _ok("image_store", f"{root}: a file was written")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(name: str, path: Path, min_free_mb: int) -> _Result:
    """Free space of the filesystem holding ``path`` against the threshold."""
    try:
        free = shutil.disk_usage(_existing(path)).free
    except OSError as exc:
        return _failed(name, f"cannot read the free space of {path}: {exc}", full=False)
    detail = f"{free / _MIB:.0f} MiB free at {path} (threshold {min_free_mb} MiB)"
    if free < min_free_mb * _MIB:
        return _failed(name, f"too little free space: {detail}", full=True)
    return _ok(name, detail)


def readiness(db: Database, images: ImageStore, *, min_free_mb: int) -> tuple[int, ReadyOut]:
    """HTTP status (200, 503 or 507) and the checks behind it."""
    results = [check_database(db)]
    if isinstance(images, FileImageStore):
        results.append(check_image_store(images.root))
    if min_free_mb > 0:
        if db.dialect == "sqlite" and db.engine.url.database:
            results.append(check_free_space("database_disk", Path(db.engine.url.database), min_free_mb))
        if isinstance(images, FileImageStore):
            results.append(check_free_space("image_store_disk", images.root, min_free_mb))
    failed = [r for r in results if not r.check.ok]
    status = 200 if not failed else 507 if any(r.full for r in failed) else 503
    return status, ReadyOut(status="not_ready" if failed else "ready", checks=[r.check for r in results])
