"""Tiling for wide and high-resolution frames (line-scan fabric 4096 x 256, large camera frames).

A frame is cut into overlapping ``tile`` x ``tile`` squares at native resolution (no downscaling:
a 0.5 mm defect stays 0.5 mm), the tiles of all frames go to the inner detector in one call, boxes
are shifted back into frame pixels and merged across tiles:

* pieces of one defect cut by a tile's inner edge are **stitched** into one box (a broken yarn across
  the whole width is one defect, not one per tile): a box reaching an edge its tile shares with a
  neighbour joins every same-class box of another tile that overlaps it and runs on past that edge;
* then class-aware NMS removes the copies of a defect seen whole by two overlapping tiles.

On Triton the inner call goes out in requests of at most the served ``max_batch_size`` images
(sent concurrently): a frame's tiles travel in one request when they fit (the gpu flavour's 32 holds
the 19 tiles of a 4096 x 256 frame; the embedded default of 4 sends them as 5 concurrent requests).

The tile size is the line's (``tile:`` of a model entry) or, when the line leaves it unset, the
model card's training tile (:attr:`~linecheck.model.card.ModelCard.native_tile`, served with the
model as ``linecheck.tile``). :class:`TiledDetector` implements :class:`~linecheck.model.detector.Detector`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError
from linecheck.messages import Detections
from linecheck.model.detector import Detector, DetectorWrapper
from linecheck.model.heatmaps import join_heatmaps
from linecheck.model.processing import nms

#: Offset per class id that keeps boxes of different classes apart in the merge.
_CLASS_OFFSET = 1 << 20


@runtime_checkable
class NativeTiled(Protocol):
    """A detector that knows the tile size its model was trained on (0: whole frames)."""

    @property
    def native_tile(self) -> int:
        """Training tile in pixels from the model card (0 when it was trained on whole frames)."""
        ...


def native_tile(detector: Detector) -> int:
    """The tile size ``detector``'s model was trained on, 0 when unknown or whole frames."""
    return max(0, int(detector.native_tile)) if isinstance(detector, NativeTiled) else 0


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


def _cut_sides(
    xyxy: npt.NDArray[np.float32], extents: npt.NDArray[np.float32], frame: tuple[int, int], tol: float
) -> npt.NDArray[np.bool_]:
    """``(N, 4)``: box reaches its tile's left / top / right / bottom edge, an edge inside the frame."""
    width, height = frame
    inner = np.stack(
        [extents[:, 0] > 0, extents[:, 1] > 0, extents[:, 2] < width, extents[:, 3] < height], axis=1
    )
    return np.asarray(inner & (np.abs(xyxy - extents) <= tol), np.bool_)


def stitch_groups(
    xyxy: npt.NDArray[np.float32],
    classes: npt.NDArray[np.int64],
    owner: npt.NDArray[np.int64],
    extents: npt.NDArray[np.float32],
    frame: tuple[int, int],
    *,
    tol: float,
) -> list[list[int]]:
    """Indices of the boxes that are pieces of one defect cut by tile edges, grouped (singletons too).

    Box ``i`` (from tile ``owner[i]``, whose frame rectangle is ``extents[owner[i]]``) and box ``j``
    of another tile join when they have the same class, overlap, and ``i`` reaches an inner edge of
    its tile that ``j`` runs on past (by more than ``tol`` pixels). Joining is transitive.
    """
    n = len(xyxy)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    cut = _cut_sides(xyxy, extents[owner], frame, tol)
    for i in np.flatnonzero(cut.any(axis=1)).tolist():
        box = xyxy[i]
        overlap_x = np.minimum(box[2], xyxy[:, 2]) - np.maximum(box[0], xyxy[:, 0])
        overlap_y = np.minimum(box[3], xyxy[:, 3]) - np.maximum(box[1], xyxy[:, 1])
        beyond = np.zeros(n, np.bool_)
        for side, sign in enumerate((-1.0, -1.0, 1.0, 1.0)):
            if cut[i, side]:
                beyond |= sign * (xyxy[:, side] - box[side]) > tol
        partners = (owner != owner[i]) & (classes == classes[i]) & (overlap_x > 0) & (overlap_y > 0) & beyond
        for j in np.flatnonzero(partners).tolist():
            parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def merge_tiles(
    parts: Sequence[Detections],
    origins: Sequence[tuple[int, int]],
    *,
    iou: float,
    max_det: int = 300,
    tile: int | None = None,
    frame: tuple[int, int] | None = None,
) -> Detections:
    """Shift each tile's detections by its origin, stitch cut pieces and merge copies by class-aware NMS.

    ``tile`` and ``frame`` (``width, height``) locate the tiles' inner edges; without them no piece
    is stitched (copies are still merged). Heat maps stay with their boxes; a stitched box gets its
    pieces' maps joined (:func:`~linecheck.model.heatmaps.join_heatmaps`).
    """
    names = parts[0].class_names
    boxes = [d.xyxy + np.array([x, y, x, y], np.float32) for d, (x, y) in zip(parts, origins, strict=True)]
    xyxy = np.concatenate(boxes).astype(np.float32)
    scores = np.concatenate([d.confidence for d in parts]).astype(np.float32)
    classes = np.concatenate([d.class_id for d in parts]).astype(np.int64)
    heatmaps: list[npt.NDArray[np.float32] | None] = [heat for d in parts for heat in d.heatmaps]
    if not len(scores):
        return Detections.empty(names)
    if tile is not None and frame is not None:
        owner = np.repeat(np.arange(len(parts)), [len(d) for d in parts]).astype(np.int64)
        corners = np.asarray(origins, np.float32).reshape(-1, 2)
        extents = np.concatenate([corners, np.minimum(corners + tile, np.array(frame, np.float32))], axis=1)
        groups = stitch_groups(xyxy, classes, owner, extents, frame, tol=max(2.0, tile / 64))
        pieces = xyxy
        xyxy = np.array(
            [[*pieces[g, :2].min(axis=0), *pieces[g, 2:].max(axis=0)] for g in groups], np.float32
        ).reshape(-1, 4)
        heatmaps = [
            join_heatmaps(pieces[g], [heatmaps[i] for i in g], box) if len(g) > 1 else heatmaps[g[0]]
            for g, box in zip(groups, xyxy.tolist(), strict=True)
        ]
        scores = np.array([scores[g].max() for g in groups], np.float32)
        classes = np.array([classes[g[0]] for g in groups], np.int64)
    keep = nms(xyxy + classes.astype(np.float32)[:, None] * _CLASS_OFFSET, scores, iou, max_det)
    return Detections(
        xyxy=xyxy[keep],
        confidence=scores[keep],
        class_id=classes[keep],
        class_names=names,
        heatmaps=tuple(heatmaps[i] for i in keep.tolist()),
    )


class TiledDetector(DetectorWrapper):
    """Run ``inner`` on native-resolution tiles of each frame and merge the results per frame."""

    def __init__(self, inner: Detector, *, tile: int, overlap: int = 32, iou: float = 0.45) -> None:
        """Wrap ``inner``; frames no larger than ``tile`` go through it whole."""
        tile_origins(tile, tile, tile, overlap=overlap)  # validates tile and overlap
        super().__init__(inner)
        self._tile = tile
        self._overlap = overlap
        self._iou = iou

    @property
    def tile(self) -> int:
        """Tile side in pixels."""
        return self._tile

    @property
    def overlap(self) -> int:
        """Pixels shared by neighbouring tiles."""
        return self._overlap

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Detections per frame, in frame pixels, from one inner call over every tile."""
        tiles: list[npt.NDArray[np.uint8]] = []
        spans: list[tuple[int, list[tuple[int, int]], tuple[int, int]]] = []
        for image in images:
            size = (int(image.shape[1]), int(image.shape[0]))
            origins = tile_origins(*size, self._tile, overlap=self._overlap)
            spans.append((len(tiles), origins, size))
            tiles.extend(image[y : y + self._tile, x : x + self._tile] for x, y in origins)
        found = self._inner.detect(tiles)
        return [
            merge_tiles(
                found[start : start + len(origins)], origins, iou=self._iou, tile=self._tile, frame=size
            )
            for start, origins, size in spans
        ]
