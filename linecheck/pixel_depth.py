"""Pixel depth: 10-, 12- and 16-bit frames and image files as the 8-bit BGR every model reads.

Line-scan and EL cameras deliver Mono10 / Mono12 / Mono16 frames, usually stored in a 16-bit PNG
or TIFF with the values at the low end (a 12-bit frame holds 0..4095). OpenCV's plain read scales
every 16-bit image by 1/256, which turns such a frame nearly black (4095 -> 15 of 255). The rule
every part agrees on lives here: a frame of ``bit_depth`` bits is scaled so that
its top 8 bits are kept (``value >> (bit_depth - 8)``, the way a camera turns Mono12 into Mono8;
values above ``2**bit_depth - 1`` are clipped to 255). Without a bit depth a 16-bit image is read
from 16 bits (``value >> 8``), exactly what OpenCV and Ultralytics do with the same file, so a
model trained on unconverted files and a line reading them agree to the pixel.

:func:`depth_problem` says when a frame does not fit the bit depth it is read with (a 12-bit
frame read as 16-bit, or a 16-bit one read as 12-bit), so the data check and the frame sources
can say so instead of feeding a black or a saturated image to a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError

#: Bit depths a camera or a set can be read with.
BIT_DEPTH_MIN, BIT_DEPTH_MAX = 8, 16
#: Depths cameras deliver (GenICam Mono8 .. Mono16): what :func:`depth_problem` suggests.
CAMERA_DEPTHS = (8, 10, 12, 14, 16)
#: A 16-bit image whose values fit in this many bits reads at most 15 of 255 from 16 bits.
DIM_BITS = 12


def check_bit_depth(value: object, field: str = "bit_depth") -> int | None:
    """``value`` as a bit depth (None: none given), or :class:`InvalidFieldError` naming ``field``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidFieldError(
            field, value, f"expected an integer bit depth {BIT_DEPTH_MIN}..{BIT_DEPTH_MAX}"
        )
    if not BIT_DEPTH_MIN <= int(value) <= BIT_DEPTH_MAX:
        raise InvalidFieldError(field, value, f"expected a bit depth {BIT_DEPTH_MIN}..{BIT_DEPTH_MAX}")
    return int(value)


def _pixels(image: object, field: str) -> npt.NDArray[Any]:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or 0 in image.shape[:2]:
        shape = getattr(image, "shape", None)
        raise InvalidFieldError(field, f"shape={shape}", "expected a non-empty HxW or HxWxC image")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise InvalidFieldError(field, f"shape={image.shape}", "expected 1, 3 or 4 channels")
    if image.dtype not in (np.uint8, np.uint16):
        raise InvalidFieldError(field, f"dtype={image.dtype}", "expected 8- or 16-bit unsigned pixels")
    return image


def to_8bit(
    image: npt.NDArray[Any], *, bit_depth: int | None = None, field: str = "image"
) -> npt.NDArray[np.uint8]:
    """``image`` (8- or 16-bit, any channel count) as 8-bit with the same channels.

    8-bit pixels are returned as they are; 16-bit ones keep the top 8 of ``bit_depth`` bits
    (16 when None), values above ``2**bit_depth - 1`` clipped to 255.
    """
    pixels = _pixels(image, field)
    depth = check_bit_depth(bit_depth) or BIT_DEPTH_MAX
    if pixels.dtype == np.uint8:
        return np.asarray(pixels, dtype=np.uint8)
    return np.minimum(pixels >> (depth - 8), 255).astype(np.uint8)


def to_bgr8(
    image: npt.NDArray[Any], *, bit_depth: int | None = None, field: str = "image"
) -> npt.NDArray[np.uint8]:
    """``image`` as the HxWx3 uint8 BGR a frame holds (grey replicated, alpha dropped)."""
    pixels = to_8bit(image, bit_depth=bit_depth, field=field)
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels == 1:
        return np.ascontiguousarray(cv2.cvtColor(pixels.reshape(pixels.shape[:2]), cv2.COLOR_GRAY2BGR))
    if channels == 4:
        return np.ascontiguousarray(cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR))
    return np.ascontiguousarray(pixels)


def read_deep(path: Path) -> npt.NDArray[Any] | None:
    """The image file at ``path`` as decoded, 16-bit kept, in BGR order; None when it cannot be decoded."""
    image = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image)


def read_bgr8(path: Path, *, bit_depth: int | None = None) -> npt.NDArray[np.uint8] | None:
    """The image file at ``path`` as HxWx3 uint8 BGR, read with ``bit_depth``; None when undecodable.

    Raises:
        InvalidFieldError: the file decodes to pixels that are neither 8- nor 16-bit (a float TIFF).

    """
    image = read_deep(path)
    return None if image is None else to_bgr8(image, bit_depth=bit_depth, field=str(path))


def used_bits(image: npt.NDArray[Any]) -> int:
    """How many bits the largest value of ``image`` needs (0 for an all-black image)."""
    return int(np.max(image)).bit_length() if image.size else 0


def suggested_depth(bits: int) -> int:
    """The smallest camera depth that holds values of ``bits`` bits."""
    return next((d for d in CAMERA_DEPTHS if d >= bits), BIT_DEPTH_MAX)


def depth_problem(image: npt.NDArray[Any], bit_depth: int | None) -> str | None:
    """Why ``image`` read with ``bit_depth`` would mislead a model, or None when it reads well.

    Two mistakes are caught on 16-bit pixels: no bit depth given for values that fit in
    :data:`DIM_BITS` bits (the 8-bit image is nearly black), and a bit depth smaller than the
    values need (they are clipped to white).
    """
    if image.dtype != np.uint16:
        return None
    bits, top = used_bits(image), int(np.max(image))
    if bit_depth is None and 0 < bits <= DIM_BITS:
        return (
            f"16-bit pixels whose values use {bits} of 16 bits (max {top}): read without a bit depth "
            f"they are nearly black (max {top >> 8} of 255); give the bit depth, e.g. {suggested_depth(bits)}"
        )
    if bit_depth is not None and top > (1 << bit_depth) - 1:
        clipped = int(np.count_nonzero(image > (1 << bit_depth) - 1))
        return (
            f"16-bit pixels up to {top} read with bit depth {bit_depth} (max {(1 << bit_depth) - 1}): "
            f"{clipped} value(s) clipped to white; the values need bit depth {suggested_depth(bits)}"
        )
    return None
