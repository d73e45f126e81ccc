"""Content-addressed image storage: full frames and defect crops, never overwritten.

An image's reference is the SHA-256 of its bytes (64 lowercase hex), so storing the same image
twice is a no-op and a reference can never name two different images. :class:`ImageStore` is
the interface the API uses; :class:`FileImageStore` keeps files under a directory. An
S3-compatible store (bucket key = reference, ``If-None-Match: *`` on put) implements the same
four methods for deployments at scale. Only the image retention deletes
(:mod:`linecheck.serving.api.services.retention`), after the records say the image expired.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from linecheck.contract import REF_PATTERN
from linecheck.errors import (
    GoneError,
    ImageStoreError,
    InvalidFieldError,
    NotFoundError,
    PayloadTooLargeError,
)

_REF_RE = re.compile(REF_PATTERN)
CONTENT_TYPES = ("image/png", "image/jpeg")
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


class ImageStoreFullError(ImageStoreError):
    """The image store has no space left (ENOSPC / quota): nothing was stored, try again later."""


class ImageExpiredError(GoneError):
    """The image was deleted by the image retention; the records that refer to it are kept (410)."""


def check_ref(ref: str, *, field: str = "ref") -> str:
    """Return ``ref`` if it is 64 lowercase hex characters (so it can never be a path)."""
    if not isinstance(ref, str) or not _REF_RE.fullmatch(ref):
        raise InvalidFieldError(field, ref, "expected a 64-character lowercase hex SHA-256 reference")
    return ref


def sniff_content_type(data: bytes) -> str | None:
    """``image/png`` or ``image/jpeg`` from the file's magic bytes, else None."""
    for magic, content_type in _MAGIC.items():
        if data.startswith(magic):
            return content_type
    return None


def image_ref(data: bytes) -> str:
    """The content address of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredImage:
    """Bytes and media type of a stored image."""

    data: bytes
    content_type: str


class ImageStore(Protocol):
    """Where image bytes live, addressed by their SHA-256."""

    def put(self, data: bytes) -> str:
        """Store ``data`` (PNG or JPEG) if not already stored; return its reference."""
        ...

    def get(self, ref: str) -> StoredImage:
        """Return the image stored under ``ref`` or raise :class:`NotFoundError`."""
        ...

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` is stored."""
        ...

    def delete(self, ref: str) -> int | None:
        """Delete the bytes of ``ref``; the bytes freed, or None when nothing was stored under it."""
        ...


#: Most pixels an uploaded image may have: decoding is how an upload is checked, and a small
#: compressed file can claim a huge picture (8192 x 8192 covers line-scan frames).
IMAGE_MAX_PIXELS = 8192 * 8192
#: JPEG start-of-frame markers (SOF0-SOF15 less DHT, JPG and DAC), which carry the image size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR or a JPEG's start-of-frame header, or None when absent."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_SOF:
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        if marker == 0xD9 or marker == 0xDA:  # end of image, or scan data before any frame header
            return None
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def _decodes(data: bytes, size: tuple[int, int]) -> bool:
    """Whether OpenCV decodes ``data``; an eighth of the size when it allows (the stream is still read)."""
    import cv2
    import numpy as np

    flag = cv2.IMREAD_REDUCED_GRAYSCALE_8 if min(size) >= 8 else cv2.IMREAD_GRAYSCALE
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error:
        return False
    return image is not None and image.size > 0


def check_image(data: bytes, *, declared: str | None, max_bytes: int) -> str:
    """Validate an upload and return its media type (declared type must match the bytes).

    The bytes must decode as the image their magic bytes announce (OpenCV), of at most
    :data:`IMAGE_MAX_PIXELS` pixels; a JPEG must also end where JPEG streams end (a truncated one
    would decode grey-filled). Anything else is a 422, so what is stored is always an image.
    """
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"image of {len(data)} bytes exceeds the limit of {max_bytes} bytes")
    if not data:
        raise InvalidFieldError("body", "<empty>", "expected PNG or JPEG image bytes")
    sniffed = sniff_content_type(data)
    if sniffed is None:
        raise InvalidFieldError("body", data[:8].hex(), "not a PNG or JPEG image (unknown magic bytes)")
    base = (declared or "").split(";")[0].strip().lower()
    if base and base != sniffed:
        raise InvalidFieldError("content-type", declared, f"the body is {sniffed}")
    size = image_size(data)
    if size is None:
        raise InvalidFieldError("body", data[:16].hex(), f"starts like {sniffed} but has no image header")
    width, height = size
    if not 0 < width * height <= IMAGE_MAX_PIXELS:
        raise InvalidFieldError(
            "body", f"{width}x{height}", f"expected an image of 1 to {IMAGE_MAX_PIXELS} pixels"
        )
    truncated = sniffed == "image/jpeg" and not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if truncated or not _decodes(data, size):
        raise InvalidFieldError("body", data[:16].hex(), f"starts like {sniffed} but does not decode")
    return sniffed


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (new or removed names in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and missing parents; returns the directories created, deepest first."""
    missing = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing


class FileImageStore:
    """Images as files ``<root>/<ref[:2]>/<ref[2:4]>/<ref>``, written once via a temp file and a hard link."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, ref: str) -> Path:
        """Where ``ref`` is (or would be) stored."""
        check_ref(ref)
        return self.root / ref[:2] / ref[2:4] / ref

    def exists(self, ref: str) -> bool:
        """Whether ``ref`` is stored."""
        return self.path(ref).is_file()

    def put(self, data: bytes) -> str:
        """Store ``data`` once; an existing file is never replaced.

        When this returns, the bytes and every directory entry leading to them are on disk
        (file and directories fsynced), so an acknowledged image survives a power cut.
        """
        ref = image_ref(data)
        final = self.path(ref)
        try:
            if final.is_file():
                # Written before, maybe by a process that died between the link and the directory's fsync.
                fsync_dir(final.parent)
                return ref
            created = _make_dirs(final.parent)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                # Atomic, and fails rather than overwrite (a concurrent writer stored the same bytes).
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, final)
            finally:
                os.unlink(tmp)
            fsync_dir(final.parent)
            for directory in created:
                fsync_dir(directory.parent)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ImageStoreFullError(
                    f"image store {self.root} is full: image {ref} ({len(data)} bytes) was not stored ({exc})"
                ) from exc
            raise ImageStoreError(f"cannot store image {ref} under {self.root}: {exc}") from exc
        return ref

    def delete(self, ref: str) -> int | None:
        """Remove the file of ``ref`` (the bytes freed, None when there was none).

        The directory is not fsynced: a deletion lost in a power cut brings the file back, which
        leaves an expired image's bytes on disk (never a record pointing at a missing file).
        """
        path = self.path(ref)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ImageStoreError(f"cannot delete image {ref} at {path}: {exc}") from exc
        return size

    def get(self, ref: str) -> StoredImage:
        """Read a stored image."""
        path = self.path(ref)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"image ref={ref!r} is not stored") from None
        except OSError as exc:
            raise ImageStoreError(f"cannot read image {ref} at {path}: {exc}") from exc
        return StoredImage(data=data, content_type=sniff_content_type(data) or "application/octet-stream")
