"""Traceability codes as images: DataMatrix (laser-marked bearings) and QR (PV module labels)."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from linecheck.errors import InvalidFieldError

CodeSymbology = Literal["datamatrix", "qr"]

_FORMATS = {"datamatrix": zxingcpp.BarcodeFormat.DataMatrix, "qr": zxingcpp.BarcodeFormat.QRCode}


def code_modules(text: str, kind: CodeSymbology = "datamatrix") -> npt.NDArray[np.uint8]:
    """The symbol's module matrix without quiet zone: 0 = dark module, 255 = light, one pixel per module."""
    if kind not in _FORMATS:
        raise InvalidFieldError("kind", kind, f"expected one of {', '.join(_FORMATS)}")
    if not text:
        raise InvalidFieldError("text", text, "expected a non-empty code")
    fmt = _FORMATS[kind]
    if hasattr(zxingcpp, "create_barcode"):  # zxing-cpp >= 2.3
        image = zxingcpp.create_barcode(text, fmt).to_image(scale=1, add_quiet_zones=False)
    else:  # pragma: no cover - older zxing-cpp
        image = zxingcpp.write_barcode(fmt, text, 0, 0, quiet_zone=0)
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def render_code(
    text: str, kind: CodeSymbology = "datamatrix", size_px: int = 96, *, quiet_modules: int = 2
) -> npt.NDArray[np.uint8]:
    """Render ``text`` as a square grayscale symbol of ``size_px`` pixels (0 dark, 255 light).

    The image includes a light quiet zone of ``quiet_modules`` modules on every side; modules are
    resampled by pixel area, so their edges stay sharp when ``size_px`` is not a multiple of the
    module count. Readers need about 3 pixels per module; below 2 a symbol is drawn but unreadable.
    """
    if size_px < 8:
        raise InvalidFieldError("size_px", size_px, "expected at least 8 pixels")
    if quiet_modules < 0:
        raise InvalidFieldError("quiet_modules", quiet_modules, "expected >= 0")
    modules = code_modules(text, kind)
    q = quiet_modules
    padded = cv2.copyMakeBorder(modules, q, q, q, q, cv2.BORDER_CONSTANT, value=(255,))
    side = padded.shape[0]
    if size_px < side:
        raise InvalidFieldError("size_px", size_px, f"expected at least {side} px for {side} modules")
    big = cv2.resize(padded, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)
    return np.asarray(cv2.resize(big, (size_px, size_px), interpolation=cv2.INTER_AREA), np.uint8)


def module_count(text: str, kind: CodeSymbology = "datamatrix") -> int:
    """Number of modules across the symbol (without quiet zone)."""
    return int(code_modules(text, kind).shape[0])
