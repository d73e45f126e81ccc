"""Image upload and download: validate, store content-addressed, record who stored it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from linecheck.serving.store.db import Database
from linecheck.serving.store.images import ImageStore, StoredImage, check_image, check_ref
from linecheck.serving.store.keys import KeyInfo
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
    """Store a PNG/JPEG upload (idempotent: the same bytes give the same ref, stored once)."""
    content_type = check_image(data, declared=declared, max_bytes=max_bytes)
    ref = images.put(data)  # bytes first: a record never points at a missing file
    with db.writer() as session:
        created = repo.record_image(
            session, ref, content_type=content_type, size_bytes=len(data), actor=key.actor
        )
        session.commit()
    return StoredRef(ref=ref, content_type=content_type, status="created" if created else "duplicate")


def load_image(images: ImageStore, ref: str) -> StoredImage:
    """A stored image; the ref is checked to be 64 hex first, so it can never name a path."""
    return images.get(check_ref(ref))
