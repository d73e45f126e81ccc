"""Image upload and download: validate, store content-addressed, record who stored it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from linecheck.serving.store.db import Database
from linecheck.serving.store.images import ImageExpiredError, ImageStore, StoredImage, check_image, check_ref
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import utcnow
from linecheck.serving.store.repositories import images as repo


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredRef:
    """Result of an upload."""

    ref: str
    content_type: str
    status: Literal["created", "duplicate"]


def store_image(
    db: Database, images: ImageStore, data: bytes, *, declared: str | None, max_bytes: int, key: KeyInfo
) -> StoredRef:
    """Store a PNG/JPEG upload (idempotent: the same bytes give the same ref, stored once).

    Bytes an image retention expired are stored again (``created``): their record is revived,
    holding its lock, and the file written once more, so a retention run deleting that file
    meanwhile either finished before (the file is written again) or sees the record revived.
    """
    content_type = check_image(data, declared=declared, max_bytes=max_bytes)
    ref = images.put(data)  # bytes first: a record never points at a missing file
    with db.writer() as session:
        created = repo.record_image(
            session, ref, content_type=content_type, size_bytes=len(data), actor=key.actor
        )
        if not created and repo.revive_image(session, ref, actor=key.actor, at=utcnow()):
            images.put(data)
            created = True
        session.commit()
    return StoredRef(ref=ref, content_type=content_type, status="created" if created else "duplicate")


def load_image(db: Database, images: ImageStore, ref: str) -> StoredImage:
    """A stored image; the ref is checked to be 64 hex first, so it can never name a path.

    Raises:
        ImageExpiredError: the image retention expired it (410), naming the setting.
        NotFoundError: nothing is stored under ``ref``.

    """
    check_ref(ref)
    with db.reader() as session:
        record = repo.get_image(session, ref)
        if record is not None and record.expired_at is not None:
            raise ImageExpiredError(
                f"image {ref} expired on {record.expired_at:%Y-%m-%d} by the image retention "
                f"({record.expired_by}): its file was deleted; the inspection and defect records are kept"
            )
    return images.get(ref)
