"""Typed messages passed between pipeline stages: one type per hop.

``Frame`` (source -> code reader -> batcher) -> ``Detections`` (detector -> kind logic)
-> ``InspectionResult`` (kind logic -> outbox -> API). Third-party result objects
(Ultralytics ``Results``, Triton ``InferResult``) never leave the adapter that received them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError


class Verdict(StrEnum):
    """Outcome of inspecting one unit (or one frame of a unit)."""

    PASS = "pass"
    FAIL = "fail"
    NOT_INSPECTED = "not_inspected"


class CodeStatus(StrEnum):
    """How the unit's traceability code was obtained."""

    READ = "read"  # decoded from the frame (QR / DataMatrix)
    TRIGGER = "trigger"  # supplied by an external trigger (PLC, file, HTTP hook)
    UNREAD = "code_unread"  # could not be read: image kept for manual handling


@dataclass(frozen=True, kw_only=True, slots=True)
class Frame:
    """One camera frame.

    Attributes:
        line_id: line the camera belongs to.
        station: camera / station name on that line.
        seq: monotonically increasing frame number per (line, station).
        captured_at: capture time (timezone-aware).
        image: HxWx3 uint8 BGR image.
        trigger_code: traceability code supplied by an external trigger, if any.
        meta: source-specific extras (e.g. ``roll_offset_m`` for textile, ground truth in synthetic runs).

    """

    line_id: str
    station: str
    seq: int
    captured_at: datetime
    image: npt.NDArray[np.uint8]
    trigger_code: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            shape = getattr(img, "shape", None)
            dtype = getattr(img, "dtype", type(img).__name__)
            raise InvalidFieldError("image", f"shape={shape} dtype={dtype}", "expected HxWx3 uint8 BGR")
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise InvalidFieldError("image", f"shape={img.shape}", "expected a non-empty image")
        if self.seq < 0:
            raise InvalidFieldError("seq", self.seq, "expected >= 0")
        if self.captured_at.tzinfo is None:
            raise InvalidFieldError("captured_at", self.captured_at, "expected a timezone-aware datetime")

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])


def _is_heatmap(heat: object) -> bool:
    return (
        isinstance(heat, np.ndarray) and heat.dtype == np.float32 and heat.ndim == 2 and min(heat.shape) > 0
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Detections:
    """Detections for one image, boxes in that image's pixel coordinates.

    Attributes:
        xyxy: (N, 4) float32 boxes ``x1, y1, x2, y2``.
        confidence: (N,) float32 scores in [0, 1].
        class_id: (N,) int64 indices into ``class_names``.
        class_names: the model's class list.
        heatmaps: per detection, the anomaly map under its box (``(h, w)`` float32 in confidence
            units, cells spread evenly over the box) or None; an anomaly model's regions carry
            one, detector and classifier detections none. Left out: None for every detection.

    """

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int64]
    class_names: tuple[str, ...]
    heatmaps: tuple[npt.NDArray[np.float32] | None, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0] if self.xyxy.ndim == 2 else -1
        if self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise InvalidFieldError("xyxy", f"shape={self.xyxy.shape}", "expected (N, 4)")
        if self.confidence.shape != (n,):
            raise InvalidFieldError("confidence", f"shape={self.confidence.shape}", f"expected ({n},)")
        if self.class_id.shape != (n,):
            raise InvalidFieldError("class_id", f"shape={self.class_id.shape}", f"expected ({n},)")
        if n and (self.class_id.min() < 0 or self.class_id.max() >= len(self.class_names)):
            raise InvalidFieldError(
                "class_id", self.class_id.tolist(), f"expected ids in [0, {len(self.class_names)})"
            )
        heatmaps = tuple(self.heatmaps) or (None,) * n
        object.__setattr__(self, "heatmaps", heatmaps)
        if len(heatmaps) != n:
            raise InvalidFieldError("heatmaps", f"{len(heatmaps)} maps", f"expected {n} (None where none)")
        for i, heat in enumerate(heatmaps):
            if heat is not None and not _is_heatmap(heat):
                shape = getattr(heat, "shape", None)
                dtype = getattr(heat, "dtype", type(heat).__name__)
                raise InvalidFieldError(
                    f"heatmaps[{i}]",
                    f"shape={shape} dtype={dtype}",
                    "expected a non-empty (h, w) float32 map",
                )

    @classmethod
    def empty(cls, class_names: Sequence[str]) -> Detections:
        """Return detections with no boxes."""
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros((0,), np.float32),
            class_id=np.zeros((0,), np.int64),
            class_names=tuple(class_names),
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def names(self) -> list[str]:
        """Class name of each detection."""
        return [self.class_names[i] for i in self.class_id.tolist()]

    def filter(self, mask: npt.NDArray[np.bool_]) -> Detections:
        """Return the detections where ``mask`` is true."""
        return Detections(
            xyxy=self.xyxy[mask],
            confidence=self.confidence[mask],
            class_id=self.class_id[mask],
            class_names=self.class_names,
            heatmaps=tuple(h for h, keep in zip(self.heatmaps, mask.tolist(), strict=True) if keep),
        )
