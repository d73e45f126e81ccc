"""Tiling for wide and high-resolution frames (line-scan fabric 4096 x 256, large camera frames).

A frame is cut into overlapping ``tile`` x ``tile`` squares at native resolution (no downscaling:
a 0.5 mm defect stays 0.5 mm), the tiles of all frames go to the inner detector in one call (one
Triton request batch), boxes are shifted back into frame pixels and merged by class-aware NMS
across tiles. :class:`TiledDetector` implements :class:`~linecheck.model.detector.Detector`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError
from linecheck.messages import Detections
from linecheck.model.detector import Detector
from linecheck.model.processing import nms

#: Offset per class id that keeps boxes of different classes apart in the merge.
_CLASS_OFFSET = 1 << 20


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def tile_origins(width: int, height: int, tile: int, *, overlap: int) -> list[tuple[int, int]]:
    """Top-left corners ``(x, y)`` of tiles covering a ``width`` x ``height`` frame, row by row.

    Neighbouring tiles share at least ``overlap`` pixels; the last tile of a row / column is
    aligned to the frame's edge. A side shorter than ``tile`` gets one tile (cut short).
    """
    if tile < 1:
        raise InvalidFieldError("tile", tile, "expected >= 1 pixel")
    if not 0 <= overlap < tile:
        raise InvalidFieldError("overlap", overlap, f"expected 0 <= overlap < tile ({tile})")
    step = tile - overlap
    return [(x, y) for y in _starts(height, tile, step) for x in _starts(width, tile, step)]


def merge_tiles(
    parts: Sequence[Detections], origins: Sequence[tuple[int, int]], *, iou: float, max_det: int = 300
) -> Detections:
    """Shift each tile's detections by its origin and merge them with class-aware NMS (maps kept)."""
    names = parts[0].class_names
    boxes = [d.xyxy + np.array([x, y, x, y], np.float32) for d, (x, y) in zip(parts, origins, strict=True)]
    xyxy = np.concatenate(boxes).astype(np.float32)
    scores = np.concatenate([d.confidence for d in parts]).astype(np.float32)
    classes = np.concatenate([d.class_id for d in parts]).astype(np.int64)
    if not len(scores):
        return Detections.empty(names)
    keep = nms(xyxy + classes.astype(np.float32)[:, None] * _CLASS_OFFSET, scores, iou, max_det)
    heatmaps = [heat for d in parts for heat in d.heatmaps]
    return Detections(
        xyxy=xyxy[keep],
        confidence=scores[keep],
        class_id=classes[keep],
        class_names=names,
        heatmaps=tuple(heatmaps[i] for i in keep.tolist()),
    )


class TiledDetector:
    """Run ``inner`` on native-resolution tiles of each frame and merge the results per frame."""

    def __init__(self, inner: Detector, *, tile: int, overlap: int = 32, iou: float = 0.45) -> None:
        """Wrap ``inner``; frames no larger than ``tile`` go through it whole."""
        tile_origins(tile, tile, tile, overlap=overlap)  # validates tile and overlap
        self._inner = inner
        self._tile = tile
        self._overlap = overlap
        self._iou = iou

    @property
    def class_names(self) -> tuple[str, ...]:
        """The inner model's class list."""
        return self._inner.class_names

    @property
    def model_name(self) -> str:
        """The inner model's name."""
        return self._inner.model_name

    @property
    def model_version(self) -> str:
        """The inner model's version."""
        return self._inner.model_version

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Detections per frame, in frame pixels, from one inner call over every tile."""
        tiles: list[npt.NDArray[np.uint8]] = []
        spans: list[tuple[int, list[tuple[int, int]]]] = []
        for image in images:
            origins = tile_origins(
                int(image.shape[1]), int(image.shape[0]), self._tile, overlap=self._overlap
            )
            spans.append((len(tiles), origins))
            tiles.extend(image[y : y + self._tile, x : x + self._tile] for x, y in origins)
        found = self._inner.detect(tiles)
        return [
            merge_tiles(found[start : start + len(origins)], origins, iou=self._iou)
            for start, origins in spans
        ]

    def close(self) -> None:
        """Close the inner detector."""
        self._inner.close()
