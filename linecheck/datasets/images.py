"""Image files in data sets: reading and checking them (which files are images: linecheck.image_files)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.datasets.issues import DatasetIssue, Severity
from linecheck.errors import DatasetError

#: Ultralytics refuses images with a side shorter than this.
MIN_IMAGE_SIDE = 10

_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
_JPEG_END = b"\xff\xd9"


def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> npt.NDArray[np.uint8]:
    """Decode ``path`` with OpenCV, raising :class:`DatasetError` naming the file when that fails."""
    if not path.is_file():
        raise DatasetError("image file not found", path=path)
    if path.stat().st_size == 0:
        raise DatasetError("image file is empty (0 bytes)", path=path)
    image = cv2.imread(str(path), flags)
    if image is None:
        raise DatasetError("image cannot be decoded (corrupt or not an image)", path=path)
    return np.asarray(image, dtype=np.uint8)


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of the image at ``path`` (decodes it, so a corrupt file raises)."""
    image = read_image(path, cv2.IMREAD_GRAYSCALE)
    return int(image.shape[1]), int(image.shape[0])


def check_image(path: Path) -> list[DatasetIssue]:
    """Problems with one image file: empty, undecodable, too small, truncated JPEG."""

    def issue(code: str, message: str, severity: Severity = Severity.ERROR) -> DatasetIssue:
        return DatasetIssue(code=code, severity=severity, path=path, message=message)

    size = path.stat().st_size
    if size == 0:
        return [issue("image.empty", "image file is empty (0 bytes)")]
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return [issue("image.unreadable", "image cannot be decoded (corrupt or not an image)")]
    found: list[DatasetIssue] = []
    height, width = image.shape[:2]
    if min(height, width) < MIN_IMAGE_SIDE:
        found.append(
            issue("image.too_small", f"image is {width}x{height} px, expected both sides >= {MIN_IMAGE_SIDE}")
        )
    if path.suffix.lower() in _JPEG_SUFFIXES:
        with path.open("rb") as handle:
            handle.seek(max(0, size - 2))
            if handle.read(2) != _JPEG_END:
                found.append(
                    issue(
                        "image.truncated",
                        "JPEG does not end with the end-of-image marker (truncated file?)",
                        Severity.WARNING,
                    )
                )
    return found
