"""Durable local outbox: every inspection is committed to SQLite (WAL) before any send.

Rows hold the exact JSON payload of the ingest contract, so a resend is byte-for-byte the same
request under the same idempotent id. Images (full frames of failed / not-inspected /
code-unread units, JPEG crops of defects, JPEG heat maps of anomaly defects over their crops) are
written to content-addressed files next to the database before the row is committed; the payload
already carries their sha256 refs. A row is ``pending`` until the API acknowledges it (``sent``) or
refuses it for good (``rejected``, kept with the error for an operator: ``linecheck outbox
list|requeue|drop``); nothing is deleted before it is acknowledged, and acknowledged rows are
pruned after ``outbox_keep_sent_days``. A row that keeps failing on its own (the API answers 5xx
for it while it takes others) is backed off and then parked as ``rejected`` too
(:meth:`Outbox.mark_failed`), so it never holds up the rows behind it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import StoreError
from linecheck.inspect.heatmap_image import render_heatmap
from linecheck.inspect.messages import DefectRecord, InspectionResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS inspections (
    id TEXT PRIMARY KEY,
    line_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL,
    image_refs TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    sent_at REAL,
    failures INTEGER NOT NULL DEFAULT 0  -- sends that failed because of this row (see mark_failed)
);
CREATE INDEX IF NOT EXISTS ix_inspections_due ON inspections (state, next_attempt_at, created_at);
CREATE TABLE IF NOT EXISTS images (
    ref TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    path TEXT NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0  -- 0 waiting, 1 the API has it, 2 refused (file kept)
);
"""

_COLUMNS = "id, line_id, payload, image_refs, state, attempts, last_error"

#: Pixels of context kept around a defect box in its crop.
CROP_MARGIN_PX = 16


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxRow:
    """One stored inspection waiting for (or past) delivery."""

    id: str
    line_id: str
    payload: dict[str, Any]
    image_refs: tuple[str, ...]
    state: str
    attempts: int
    last_error: str | None
    #: Why the stored payload could not be read back (the row can never be sent), else None.
    payload_error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredImage:
    """A local image file waiting for upload."""

    ref: str
    media_type: str
    path: Path
    uploaded: bool


def encode_image(image: npt.NDArray[np.uint8], media_type: str) -> bytes:
    """PNG (lossless, for full frames) or JPEG (for crops) bytes of a BGR image."""
    ext, params = (
        (".png", [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if media_type == "image/png"
        else (".jpg", [cv2.IMWRITE_JPEG_QUALITY, 92])
    )
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise StoreError(f"cannot encode image of shape {image.shape} as {media_type}")
    return buf.tobytes()


def crop_rect(
    image: npt.NDArray[np.uint8], bbox: Sequence[float], margin: int = CROP_MARGIN_PX
) -> tuple[int, int, int, int]:
    """``x1, y1, x2, y2`` of the defect box plus ``margin`` pixels, clipped to the image (at least 1x1)."""
    h, w = image.shape[:2]
    x1 = int(np.clip(np.floor(bbox[0]) - margin, 0, w - 1))
    y1 = int(np.clip(np.floor(bbox[1]) - margin, 0, h - 1))
    x2 = int(np.clip(np.ceil(bbox[2]) + margin, x1 + 1, w))
    y2 = int(np.clip(np.ceil(bbox[3]) + margin, y1 + 1, h))
    return x1, y1, x2, y2


class OutboxExtension(Protocol):
    """More rows committed with each new inspection, in its transaction (the MQTT output's queue)."""

    #: ``CREATE TABLE IF NOT EXISTS ...`` statements of the extension's tables.
    schema: str

    def on_add(self, db: sqlite3.Connection, result: InspectionResult) -> None:
        """Insert the extension's rows for ``result`` (called inside the outbox's transaction)."""
        ...


class Outbox:
    """The SQLite outbox and its image folder; safe to share between threads."""

    def __init__(self, path: Path, images_dir: Path | None = None, *, keep_sent_images: bool = False) -> None:
        self.path = Path(path)
        self.images_dir = Path(images_dir) if images_dir else self.path.parent / "images"
        self.keep_sent_images = keep_sent_images
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.images_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(inspections)")}
            if "failures" not in columns:  # an outbox written before failures were counted per row
                self._db.execute("ALTER TABLE inspections ADD COLUMN failures INTEGER NOT NULL DEFAULT 0")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"outbox {self.path}: cannot open: {exc}") from exc
        self._lock = threading.Lock()
        self.added = threading.Event()
        self._extensions: list[OutboxExtension] = []

    def extend(self, extension: OutboxExtension) -> None:
        """Commit ``extension``'s rows with every inspection added from now on (creates its tables)."""
        try:
            with self._lock:
                self._db.executescript(extension.schema)
                self._extensions.append(extension)
        except sqlite3.Error as exc:
            raise StoreError(f"outbox {self.path}: cannot add {type(extension).__name__}: {exc}") from exc

    # -- writing ------------------------------------------------------------------------------
    def _store_image(self, data: bytes, media_type: str) -> StoredImage:
        ref = hashlib.sha256(data).hexdigest()
        ext = ".png" if media_type == "image/png" else ".jpg"
        path = self.images_dir / ref[:2] / f"{ref}{ext}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(ext + ".tmp")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        return StoredImage(ref=ref, media_type=media_type, path=path, uploaded=False)

    def _defect_images(
        self, frame: npt.NDArray[np.uint8], defect: DefectRecord
    ) -> tuple[DefectRecord, list[StoredImage]]:
        """Keep the defect's JPEG crop and, for an anomaly region, its heat map over the same box."""
        x1, y1, x2, y2 = crop_rect(frame, defect.bbox)
        pixels = frame[y1:y2, x1:x2]
        crop = self._store_image(encode_image(pixels, "image/jpeg"), "image/jpeg")
        if defect.heatmap is None:
            return replace(defect, crop_ref=crop.ref), [crop]
        bx1, by1, bx2, by2 = defect.bbox
        over = render_heatmap(pixels, defect.heatmap, (bx1 - x1, by1 - y1, bx2 - x1, by2 - y1))
        heat = self._store_image(encode_image(over, "image/jpeg"), "image/jpeg")
        return replace(defect, crop_ref=crop.ref, heatmap_ref=heat.ref), [crop, heat]

    def add(self, result: InspectionResult) -> str:
        """Keep ``result``'s images and commit its payload; returns the inspection id.

        Adding the same id twice is a no-op (the first payload stays), so a replayed result
        cannot create a second, different record.
        """
        images: list[StoredImage] = []
        frame_image = result.image
        if frame_image is not None:
            defects = []
            for defect in result.defects:
                stored, kept = self._defect_images(frame_image, defect)
                images.extend(kept)
                defects.append(stored)
            result = replace(result, defects=tuple(defects))
            if result.keep_image:
                frame = self._store_image(encode_image(frame_image, "image/png"), "image/png")
                images.append(frame)
                result = replace(result, image_ref=frame.ref)
        payload = json.dumps(result.to_payload(), separators=(",", ":"), sort_keys=True)
        refs = sorted({img.ref for img in images})
        now = time.time()
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for img in images:
                        self._db.execute(
                            "INSERT OR IGNORE INTO images (ref, media_type, path) VALUES (?, ?, ?)",
                            (img.ref, img.media_type, str(img.path)),
                        )
                    added = self._db.execute(
                        "INSERT OR IGNORE INTO inspections"
                        " (id, line_id, created_at, payload, image_refs, state, next_attempt_at)"
                        " VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                        (result.id, result.line_id, now, payload, json.dumps(refs), now),
                    ).rowcount
                    if added:
                        for extension in self._extensions:
                            extension.on_add(self._db, result)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"outbox {self.path}: cannot store inspection id={result.id!r}: {exc}") from exc
        self.added.set()
        return result.id

    # -- reading ------------------------------------------------------------------------------
    def due(self, limit: int, *, now: float | None = None) -> list[OutboxRow]:
        """Pending rows whose next attempt is due, oldest first."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM inspections"
                " WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY created_at LIMIT ?",
                (now, limit),
            ).fetchall()
        return [self._row(r) for r in rows]

    def get(self, inspection_id: str) -> OutboxRow | None:
        """One row by id."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM inspections WHERE id = ?",
                (inspection_id,),
            ).fetchone()
        return self._row(row) if row else None

    def rows(self, state: str | None = None) -> list[OutboxRow]:
        """Every row (optionally of one state), oldest first."""
        query = f"SELECT {_COLUMNS} FROM inspections"
        args: tuple[Any, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            args = (state,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created_at", args).fetchall()
        return [self._row(r) for r in rows]

    @staticmethod
    def _row(r: tuple[Any, ...]) -> OutboxRow:
        payload: dict[str, Any] = {}
        refs: tuple[str, ...] = ()
        problem = None
        try:
            payload = json.loads(r[2])
            refs = tuple(json.loads(r[3]))
        except (TypeError, ValueError) as exc:  # a damaged row must not stop the rows around it
            problem = f"stored payload is not readable JSON: {exc}"
        return OutboxRow(
            id=r[0],
            line_id=r[1],
            payload=payload,
            image_refs=refs,
            state=r[4],
            attempts=r[5],
            last_error=r[6],
            payload_error=problem,
        )

    def images_to_upload(self, refs: Iterable[str]) -> list[StoredImage]:
        """The images among ``refs`` not uploaded yet."""
        wanted = sorted(set(refs))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                "SELECT ref, media_type, path, uploaded FROM images"
                f" WHERE uploaded != 1 AND ref IN ({marks})",
                wanted,
            ).fetchall()
        return [StoredImage(ref=r[0], media_type=r[1], path=Path(r[2]), uploaded=bool(r[3])) for r in rows]

    def images_pending(self, limit: int) -> list[StoredImage]:
        """Up to ``limit`` images not uploaded yet, whatever row refers to them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT ref, media_type, path, uploaded FROM images"
                " WHERE uploaded = 0 ORDER BY rowid LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredImage(ref=r[0], media_type=r[1], path=Path(r[2]), uploaded=bool(r[3])) for r in rows]

    def image_backlog(self) -> int:
        """How many local images the API does not have yet."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM images WHERE uploaded = 0").fetchone()
        return int(row[0])

    def counts(self) -> dict[str, int]:
        """Rows per state (``pending``, ``sent``, ``rejected``; absent states are 0)."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM inspections GROUP BY state").fetchall()
        out = {"pending": 0, "sent": 0, "rejected": 0}
        out.update({state: int(n) for state, n in rows})
        return out

    # -- delivery bookkeeping -----------------------------------------------------------------
    def mark_uploaded(self, ref: str) -> None:
        """The API has the image: remember it and free the local copy unless kept."""
        with self._lock:
            row = self._db.execute("SELECT path FROM images WHERE ref = ?", (ref,)).fetchone()
            self._db.execute("UPDATE images SET uploaded = 1 WHERE ref = ?", (ref,))
        if row and not self.keep_sent_images:
            Path(row[0]).unlink(missing_ok=True)

    def mark_image_refused(self, ref: str) -> None:
        """The API refused this image for good: stop the background upload, keep the file."""
        with self._lock:
            self._db.execute("UPDATE images SET uploaded = 2 WHERE ref = ?", (ref,))

    def mark_sent(self, ids: Sequence[str]) -> None:
        """The API acknowledged these inspections (created or duplicate)."""
        now = time.time()
        with self._lock:
            self._db.executemany(
                "UPDATE inspections SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ?",
                [(now, i) for i in ids],
            )

    def mark_retry(self, ids: Sequence[str], error: str, delay_s: float) -> None:
        """A send failed for a reason worth retrying: try again after ``delay_s`` seconds."""
        at = time.time() + delay_s
        with self._lock:
            self._db.executemany(
                "UPDATE inspections SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
                " WHERE id = ?",
                [(error, at, i) for i in ids],
            )

    def mark_failed(self, inspection_id: str, error: str, *, delay_s: float, park_after: int) -> int:
        """A send failed because of this row (alone it gets a 5xx): back it off, or park it.

        The row is tried again after ``delay_s`` seconds; on its ``park_after``-th such failure it is
        parked as ``rejected`` with the error, for an operator (``linecheck outbox``), so it never
        holds up the rows behind it. Returns the row's failures so far (0: no such pending row).
        """
        with self._lock:
            rows = self._db.execute(  # fetchall: the statement must finish, or it keeps the write lock
                "UPDATE inspections SET failures = failures + 1, attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = ? WHERE id = ? AND state = 'pending' RETURNING failures",
                (error, time.time() + delay_s, inspection_id),
            ).fetchall()
            if not rows:
                return 0
            failures = int(rows[0][0])
            if failures >= park_after:
                self._db.execute(
                    "UPDATE inspections SET state = 'rejected', last_error = ? WHERE id = ?",
                    (f"parked after {failures} failed sends: {error}", inspection_id),
                )
        return failures

    def failures(self, inspection_id: str) -> int:
        """Sends that failed because of this row so far."""
        with self._lock:
            row = self._db.execute(
                "SELECT failures FROM inspections WHERE id = ?", (inspection_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def mark_rejected(self, inspection_id: str, error: str) -> None:
        """The API refused this inspection for good: keep it, with the error, for an operator."""
        with self._lock:
            self._db.execute(
                "UPDATE inspections SET state = 'rejected', attempts = attempts + 1, last_error = ?"
                " WHERE id = ?",
                (error, inspection_id),
            )

    def retry_all_now(self) -> None:
        """Make every pending row due now (the API is back: no reason to wait out old backoffs)."""
        with self._lock:
            self._db.execute(
                "UPDATE inspections SET next_attempt_at = ? WHERE state = 'pending'", (time.time(),)
            )
        self.added.set()

    def requeue_rejected(self, ids: Sequence[str] | None = None) -> int:
        """Make rejected rows pending again (after fixing the cause): those of ``ids``, or every one.

        Returns how many; ids that are not rejected rows are left alone.
        """
        query = (
            "UPDATE inspections SET state = 'pending', next_attempt_at = ?, failures = 0"
            " WHERE state = 'rejected'"
        )
        now = time.time()
        with self._lock:
            if ids is None:
                count = self._db.execute(query, (now,)).rowcount
            else:
                count = self._db.executemany(query + " AND id = ?", [(now, i) for i in ids]).rowcount
        self.added.set()
        return int(count)

    def drop_rejected(self, ids: Sequence[str] | None = None) -> int:
        """Delete rejected rows for good (those of ``ids``, or every one); returns how many.

        Their local images go too, unless another row still refers to them.
        """
        where = "state = 'rejected'" + ("" if ids is None else f" AND id IN ({','.join('?' * len(ids))})")
        args = tuple(ids or ())
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    rows = self._db.execute(
                        f"SELECT image_refs FROM inspections WHERE {where}", args
                    ).fetchall()
                    self._db.execute(f"DELETE FROM inspections WHERE {where}", args)
                    orphans = self._orphan_images({ref for (refs,) in rows for ref in json.loads(refs)})
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise StoreError(f"outbox {self.path}: cannot drop rejected rows: {exc}") from exc
        for path in orphans:
            path.unlink(missing_ok=True)
        return len(rows)

    def _orphan_images(self, refs: set[str]) -> list[Path]:
        """Forget the images among ``refs`` no row refers to any more; returns their files."""
        paths = []
        for ref in sorted(refs):
            if self._db.execute(
                "SELECT 1 FROM inspections WHERE image_refs LIKE ? LIMIT 1", (f'%"{ref}"%',)
            ).fetchone():
                continue
            row = self._db.execute("SELECT path FROM images WHERE ref = ?", (ref,)).fetchone()
            self._db.execute("DELETE FROM images WHERE ref = ?", (ref,))
            if row:
                paths.append(Path(row[0]))
        return paths

    def prune_sent(self, older_than_s: float) -> int:
        """Delete acknowledged rows older than ``older_than_s`` seconds; returns how many."""
        try:
            with self._lock:
                cur = self._db.execute(
                    "DELETE FROM inspections WHERE state = 'sent' AND sent_at < ?",
                    (time.time() - older_than_s,),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"outbox {self.path}: cannot prune sent rows: {exc}") from exc
        return int(cur.rowcount)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
