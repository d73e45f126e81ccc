"""Unit identity: read the traceability code from the frame, or take it from a trigger.

Frame-coded lines (bearing DataMatrix, PV module QR / DataMatrix label) are decoded with
zxing-cpp, in a known code region first when there is one (``Frame.meta["code_roi"]`` or the
reader's ``roi``) and then the whole frame, with OpenCV's QR detector as a fallback. Every
decoded text is checked against the line's ``code_pattern``. Trigger-coded lines (textile
rolls) use ``Frame.trigger_code`` or the line's current code on a :class:`TriggerBoard`.

A frame whose code cannot be obtained is ``code_unread`` (code None): it still goes on to be
inspected and recorded, with its image kept for manual handling — it is never dropped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.config import LineConfig
from linecheck.inspect.triggers import TriggerBoard
from linecheck.messages import CodeStatus, Frame

log = logging.getLogger(__name__)

#: (x1, y1, x2, y2) pixel box where the code is printed.
Roi = tuple[int, int, int, int]


@dataclass(frozen=True, kw_only=True, slots=True)
class CodeReading:
    """Outcome of identifying the unit in one frame.

    Attributes:
        code: the validated code, None when unread.
        status: read from the frame, from a trigger, or unread.
        note: why the code is unread, or which text was rejected (for logs and the record's reason).

    """

    code: str | None
    status: CodeStatus
    note: str | None = None


def _crop(image: npt.NDArray[np.uint8], roi: Roi) -> npt.NDArray[np.uint8] | None:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(0, roi[0]), max(0, roi[1]), min(w, roi[2]), min(h, roi[3])
    if x2 - x1 < 8 or y2 - y1 < 8:
        return None
    return image[y1:y2, x1:x2]


def _zxing(image: npt.NDArray[Any], **options: Any) -> list[str]:
    import zxingcpp

    formats = zxingcpp.barcode_formats_from_str("DataMatrix,QRCode")
    return [b.text for b in zxingcpp.read_barcodes(image, formats=formats, **options) if b.valid and b.text]


def decode_texts(image: npt.NDArray[np.uint8]) -> list[str]:
    """Texts of every DataMatrix / QR code found in ``image``.

    Cheapest first, each step only when the previous found nothing: zxing-cpp with its local
    binarizer, then with a global histogram threshold (low-contrast laser marks), then on a 2x
    upscale (small symbols), then OpenCV's QR detector.
    """
    import zxingcpp

    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    texts = _zxing(gray) or _zxing(gray, binarizer=zxingcpp.Binarizer.GlobalHistogram)
    if not texts and max(gray.shape) <= 2048:
        texts = _zxing(cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), try_downscale=False)
    if texts:
        return texts
    try:
        text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    except cv2.error:
        return []
    return [text] if text else []


class CodeReader:
    """Identifies the unit of each frame of one line."""

    def __init__(
        self, line: LineConfig, *, roi: Roi | None = None, board: TriggerBoard | None = None
    ) -> None:
        self.line = line
        self.roi = roi
        self.board = board
        self._pattern = re.compile(line.code_pattern)

    def _valid(self, texts: Iterable[str]) -> tuple[str | None, list[str]]:
        rejected: list[str] = []
        for text in texts:
            text = text.strip()
            if self._pattern.fullmatch(text):
                return text, rejected
            rejected.append(text)
        return None, rejected

    def _from_image(self, frame: Frame) -> tuple[str | None, list[str]]:
        rejected: list[str] = []
        roi = frame.meta.get("code_roi", self.roi)
        if roi is not None:
            crop = _crop(frame.image, tuple(int(v) for v in roi))  # type: ignore[arg-type]
            if crop is not None:
                code, bad = self._valid(decode_texts(crop))
                if code is not None:
                    return code, bad
                rejected.extend(bad)
        code, bad = self._valid(decode_texts(frame.image))
        return code, rejected + bad

    def _from_trigger(self, frame: Frame) -> tuple[str | None, list[str]]:
        candidates = [c for c in (frame.trigger_code, self.board and self.board.current(self.line.id)) if c]
        return self._valid(candidates)

    def read(self, frame: Frame) -> CodeReading:
        """Identify the unit in ``frame`` (never raises for an unreadable or invalid code)."""
        if self.line.code_source == "trigger":
            code, rejected = self._from_trigger(frame)
            if code is not None:
                return CodeReading(code=code, status=CodeStatus.TRIGGER)
            code, more = self._from_image(frame)
            if code is not None:
                return CodeReading(code=code, status=CodeStatus.READ)
            return self._unread(frame, rejected + more, "no trigger code for this frame")
        code, rejected = self._from_image(frame)
        if code is not None:
            return CodeReading(code=code, status=CodeStatus.READ)
        code, more = self._from_trigger(frame)
        if code is not None:
            return CodeReading(code=code, status=CodeStatus.TRIGGER)
        return self._unread(frame, rejected + more, "no readable code in the frame")

    def _unread(self, frame: Frame, rejected: list[str], why: str) -> CodeReading:
        if rejected:
            why = f"code(s) {rejected} do not match the line's code_pattern {self.line.code_pattern}"
        # Expected and counted (metrics, status, the API's code_unread queue): info, not a warning.
        log.info("line %s frame %d: code_unread: %s", frame.line_id, frame.seq, why)
        return CodeReading(code=None, status=CodeStatus.UNREAD, note=why)
