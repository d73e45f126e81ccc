"""Per-cell classification: a classifier run on every cell of the product (a PV module's cells).

:class:`CellClassifier` wraps a model trained on cell images (a ``classify`` model answers one
whole-input box per class above its confidence) with a function that gives each frame's cell
boxes (the line kind's geometry: found in the frame, or the line YAML's). The cells of every frame
of a call go to the model in one call (one Triton request batch, split by the served batch size);
each answer is shifted into frame pixels and clipped to its cell, so a defective cell becomes a
detection whose box is that cell, and the line's geometry locates it at that cell.
:class:`CellClassifier` implements :class:`~linecheck.model.detector.Detector`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from linecheck.errors import InferenceError, InvalidFieldError
from linecheck.messages import Detections
from linecheck.model.detector import Detector, DetectorWrapper

Image = npt.NDArray[np.uint8]
#: ``x1, y1, x2, y2`` of a cell in frame pixels.
Cell = tuple[int, int, int, int]
#: The cells of one frame, row by row.
CellsOf = Callable[[Image], Sequence[Cell]]


def in_cell(found: Detections, cell: Cell) -> Detections:
    """``found`` (in crop pixels) moved into frame pixels and clipped to ``cell``."""
    x1, y1, x2, y2 = cell
    xyxy = found.xyxy + np.array([x1, y1, x1, y1], np.float32)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], x1, x2)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], y1, y2)
    return Detections(
        xyxy=xyxy.astype(np.float32),
        confidence=found.confidence,
        class_id=found.class_id,
        class_names=found.class_names,
    )


def _checked(cells: Sequence[Cell], image: Image) -> list[Cell]:
    height, width = int(image.shape[0]), int(image.shape[1])
    out = []
    for cell in cells:
        x1, y1, x2, y2 = (int(v) for v in cell)
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise InvalidFieldError("cell", list(cell), f"expected a box inside the {width}x{height} frame")
        out.append((x1, y1, x2, y2))
    return out


class CellClassifier(DetectorWrapper):
    """Run ``inner`` on the crop of every cell of each frame; its answers become boxes on the cells."""

    def __init__(self, inner: Detector, cells: CellsOf) -> None:
        """Wrap ``inner``; ``cells`` gives the cell boxes of a frame."""
        super().__init__(inner)
        self._cells = cells

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Detections per frame, one box per cell and class the model answered, from one inner call.

        Raises:
            InvalidFieldError: a cell box does not lie inside its frame.
            InferenceError: the model answered another number of crops than it was sent.

        """
        crops: list[Image] = []
        spans: list[tuple[int, list[Cell]]] = []
        for image in images:
            cells = _checked(self._cells(image), image)
            spans.append((len(crops), cells))
            crops.extend(np.ascontiguousarray(image[y1:y2, x1:x2]) for x1, y1, x2, y2 in cells)
        found = self._inner.detect(crops) if crops else []
        if len(found) != len(crops):
            raise InferenceError(
                f"model {self.model_name!r} returned {len(found)} results for {len(crops)} cells"
            )
        out = []
        for start, cells in spans:
            answers = found[start : start + len(cells)]
            parts = [in_cell(d, cell) for d, cell in zip(answers, cells, strict=True)]
            out.append(_joined(parts, self.class_names))
        return out


def _joined(parts: Sequence[Detections], names: tuple[str, ...]) -> Detections:
    if not parts:
        return Detections.empty(names)
    return Detections(
        xyxy=np.concatenate([p.xyxy for p in parts]).astype(np.float32).reshape(-1, 4),
        confidence=np.concatenate([p.confidence for p in parts]).astype(np.float32),
        class_id=np.concatenate([p.class_id for p in parts]).astype(np.int64),
        class_names=names,
    )
