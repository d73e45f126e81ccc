"""Anomaly heat maps carried with detections: each spans its detection's box evenly.

A map is a ``(h, w)`` float32 array in confidence units (0.5 is the calibrated threshold, see
:mod:`linecheck.model.image_outputs`); cell ``(r, c)`` covers the ``r``-th of ``h`` rows and the
``c``-th of ``w`` columns of the box, whatever the box's size in pixels. When pieces of one region
cut by tile edges are joined into one box, their maps are joined here into one map over that box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError

FloatArray = npt.NDArray[np.float32]

#: Most cells along one side of a joined map (a region across a whole 4096 px web stays small).
JOINED_MAX_CELLS = 512


def join_heatmaps(
    boxes: npt.NDArray[np.float32], maps: Sequence[FloatArray | None], box: Sequence[float]
) -> FloatArray | None:
    """One map over ``box`` from ``maps`` over ``boxes`` (pieces of one region, all inside ``box``).

    The joined map has the finest cell size of the pieces (at most :data:`JOINED_MAX_CELLS` a side);
    where pieces overlap it keeps the higher value, where none lies it is 0. Pieces without a map
    are skipped; None when no piece has one. A single piece whose box is ``box`` is returned as is.
    """
    pieces = [
        (b, m)
        for b, m in zip(np.asarray(boxes, np.float32).reshape(-1, 4), maps, strict=True)
        if m is not None
    ]
    if not pieces:
        return None
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise InvalidFieldError("box", [x1, y1, x2, y2], "expected x1 < x2 and y1 < y2")
    if len(pieces) == 1 and np.allclose(pieces[0][0], [x1, y1, x2, y2]):
        return pieces[0][1]
    cell_w = min(max(float(b[2] - b[0]), 1e-3) / m.shape[1] for b, m in pieces)
    cell_h = min(max(float(b[3] - b[1]), 1e-3) / m.shape[0] for b, m in pieces)
    cols = min(JOINED_MAX_CELLS, max(1, math.ceil((x2 - x1) / cell_w - 1e-6)))
    rows = min(JOINED_MAX_CELLS, max(1, math.ceil((y2 - y1) / cell_h - 1e-6)))
    sx, sy = cols / (x2 - x1), rows / (y2 - y1)
    joined = np.zeros((rows, cols), np.float32)
    for b, m in pieces:
        c0 = min(cols - 1, max(0, round((float(b[0]) - x1) * sx)))
        r0 = min(rows - 1, max(0, round((float(b[1]) - y1) * sy)))
        c1 = min(cols, max(c0 + 1, round((float(b[2]) - x1) * sx)))
        r1 = min(rows, max(r0 + 1, round((float(b[3]) - y1) * sy)))
        part = cv2.resize(m, (c1 - c0, r1 - r0), interpolation=cv2.INTER_NEAREST)
        np.maximum(joined[r0:r1, c0:c1], part.reshape(r1 - r0, c1 - c0), out=joined[r0:r1, c0:c1])
    return joined
