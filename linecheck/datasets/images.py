"""Image files in data sets: reading and checking them (which files are images: linecheck.image_files)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.datasets.issues import DatasetIssue, Severity
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.pixel_depth import depth_problem, read_bgr8, read_deep

#: Ultralytics refuses images with a side shorter than this.
MIN_IMAGE_SIDE = 10

_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
_JPEG_END = b"\xff\xd9"


def read_image(
    path: Path, flags: int = cv2.IMREAD_COLOR, *, bit_depth: int | None = None
) -> npt.NDArray[np.uint8]:
    """Decode ``path`` with OpenCV, raising :class:`DatasetError` naming the file when that fails.

    A colour read is the HxWx3 BGR a frame holds, 16-bit files read with ``bit_depth``
    (:mod:`linecheck.pixel_depth`; None: from 16 bits, as OpenCV and Ultralytics read them).
    """
    if not path.is_file():
        raise DatasetError("image file not found", path=path)
    if path.stat().st_size == 0:
        raise DatasetError("image file is empty (0 bytes)", path=path)
    try:
        image = (
            read_bgr8(path, bit_depth=bit_depth)
            if flags == cv2.IMREAD_COLOR
            else cv2.imread(str(path), flags)
        )
    except InvalidFieldError as exc:
        raise DatasetError(f"image pixels not supported: {exc.reason} ({exc.value})", path=path) from None
    if image is None:
        raise DatasetError("image cannot be decoded (corrupt or not an image)", path=path)
    return np.asarray(image, dtype=np.uint8)


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of the image at ``path`` (decodes it, so a corrupt file raises)."""
    image = read_image(path, cv2.IMREAD_GRAYSCALE)
    return int(image.shape[1]), int(image.shape[0])


def check_image(path: Path) -> list[DatasetIssue]:
    """Problems with one image file: empty, undecodable, too small, truncated JPEG, dim 16-bit pixels."""

    def issue(code: str, message: str, severity: Severity = Severity.ERROR) -> DatasetIssue:
        return DatasetIssue(code=code, severity=severity, path=path, message=message)

    size = path.stat().st_size
    if size == 0:
        return [issue("image.empty", "image file is empty (0 bytes)")]
    image = read_deep(path)
    if image is None:
        return [issue("image.unreadable", "image cannot be decoded (corrupt or not an image)")]
    found: list[DatasetIssue] = []
    if image.dtype not in (np.uint8, np.uint16):
        found.append(issue("image.pixels", f"{image.dtype} pixels: expected 8- or 16-bit unsigned"))
    dim = depth_problem(image, None)
    if dim is not None:
        found.append(
            issue(
                "image.dim_16bit",
                f"{dim}: make an 8-bit copy with `linecheck data depth SRC DST --bit-depth N` and give the "
                "line's camera the same bit_depth",
                Severity.WARNING,
            )
        )
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
