"""What the synthetic line generators hand out: rendered images, frames and units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError
from linecheck.kinds import Kind


def _check_image(image: npt.NDArray[np.uint8], field: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise InvalidFieldError(field, f"shape={shape} dtype={dtype}", "expected HxWx3 uint8 BGR")


def _check_boxes(boxes: npt.NDArray[np.float32], class_ids: npt.NDArray[np.int64]) -> None:
    if boxes.dtype != np.float32 or boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InvalidFieldError(
            "boxes", f"shape={boxes.shape} dtype={boxes.dtype}", "expected (N, 4) float32"
        )
    if class_ids.dtype != np.int64 or class_ids.shape != (boxes.shape[0],):
        raise InvalidFieldError(
            "class_ids",
            f"shape={class_ids.shape} dtype={class_ids.dtype}",
            f"expected ({boxes.shape[0]},) int64",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Rendered:
    """One generated image with its ground truth and the defect-free image it was drawn on.

    Attributes:
        image: HxWx3 uint8 BGR image with the defects drawn.
        clean: the same image before any defect was drawn (codes and texture included).
        boxes: (N, 4) float32 ``x1, y1, x2, y2`` pixel boxes, each tightly around one drawn defect.
        class_ids: (N,) int64 indices into ``linecheck.kinds.CLASSES[kind]``.
        code_box: pixel box of the rendered traceability code (with its quiet zone), if any.

    """

    image: npt.NDArray[np.uint8]
    clean: npt.NDArray[np.uint8]
    boxes: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]
    code_box: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        _check_image(self.image, "image")
        _check_image(self.clean, "clean")
        if self.clean.shape != self.image.shape:
            raise InvalidFieldError("clean", f"shape={self.clean.shape}", f"expected {self.image.shape}")
        _check_boxes(self.boxes, self.class_ids)


@dataclass(frozen=True, kw_only=True, slots=True)
class SynthFrame:
    """One frame of a synthetic unit, with its ground truth.

    Attributes:
        image: HxWx3 uint8 BGR image.
        boxes: (N, 4) float32 ``x1, y1, x2, y2`` pixel boxes of the drawn defects.
        class_ids: (N,) int64 class ids (``linecheck.kinds.CLASSES[kind]`` order).
        index: frame index within the unit (0 for bearing and PV).
        offset_m: textile only: distance along the roll where this frame starts; 0.0 otherwise.

    """

    image: npt.NDArray[np.uint8]
    boxes: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]
    index: int = 0
    offset_m: float = 0.0

    def __post_init__(self) -> None:
        _check_image(self.image, "image")
        _check_boxes(self.boxes, self.class_ids)
        if self.index < 0:
            raise InvalidFieldError("index", self.index, "expected >= 0")
        if self.offset_m < 0:
            raise InvalidFieldError("offset_m", self.offset_m, "expected >= 0")

    @property
    def defective(self) -> bool:
        """Whether any defect is drawn in this frame."""
        return bool(self.boxes.shape[0])


@dataclass(frozen=True, kw_only=True, slots=True)
class SynthUnit:
    """One inspected unit: a textile roll (many frames), a bearing ring or a PV module (one frame).

    Attributes:
        code: the unit's traceability code (``linecheck.kinds.make_code``).
        kind: line kind.
        frames: the unit's frames in capture order.

    """

    code: str
    kind: Kind
    frames: list[SynthFrame]

    def __post_init__(self) -> None:
        if not self.frames:
            raise InvalidFieldError("frames", self.frames, "expected at least one frame")

    @property
    def defective(self) -> bool:
        """Whether any frame of the unit shows a defect."""
        return any(frame.defective for frame in self.frames)

    @property
    def defect_count(self) -> int:
        """Number of drawn defects over all frames."""
        return sum(int(frame.boxes.shape[0]) for frame in self.frames)
