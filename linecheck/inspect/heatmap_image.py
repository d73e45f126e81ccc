"""The heat map image of an anomaly defect: its part of the anomaly map in colour, over its crop.

The image has the crop's box (the defect box plus the outbox's margin, clipped to the frame), so a
reviewer switches between the two and sees the same pixels. The map is blended over the defect box
only; the margin stays the crop as it is. Colours are absolute, not stretched per defect: a map
level of 0 is blue, 1 red and the calibrated threshold (0.5) green, so defects compare by colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError

#: OpenCV colour map of the levels (JET: blue low, green at the threshold, red high).
HEATMAP_COLORMAP = cv2.COLORMAP_JET
#: Weight of the colours over the crop inside the defect box.
HEATMAP_ALPHA = 0.45


def render_heatmap(
    crop: npt.NDArray[np.uint8], heat: npt.NDArray[np.float32], box: Sequence[float]
) -> npt.NDArray[np.uint8]:
    """``crop`` (HxWx3 BGR) with ``heat`` blended over ``box`` (``x1, y1, x2, y2`` in crop pixels).

    ``heat`` spans ``box`` evenly (see :mod:`linecheck.model.heatmaps`) in confidence units; levels
    outside [0, 1] (or not finite) are clipped. ``box`` is clipped to the crop, at least 1x1 pixel.
    """
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3 or min(crop.shape[:2]) < 1:
        raise InvalidFieldError("crop", f"shape={crop.shape} dtype={crop.dtype}", "expected HxWx3 uint8 BGR")
    if heat.ndim != 2 or min(heat.shape) < 1:
        raise InvalidFieldError("heat", f"shape={heat.shape}", "expected a non-empty (h, w) map")
    height, width = crop.shape[:2]
    x1 = int(np.clip(np.floor(box[0]), 0, width - 1))
    y1 = int(np.clip(np.floor(box[1]), 0, height - 1))
    x2 = int(np.clip(np.ceil(box[2]), x1 + 1, width))
    y2 = int(np.clip(np.ceil(box[3]), y1 + 1, height))
    levels = np.clip(np.nan_to_num(np.asarray(heat, np.float32), nan=0.0), 0.0, 1.0)
    cells = np.round(levels * 255.0).astype(np.uint8)
    spread = cv2.resize(cells, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap(spread, HEATMAP_COLORMAP)
    out = crop.copy()
    out[y1:y2, x1:x2] = cv2.addWeighted(crop[y1:y2, x1:x2], 1.0 - HEATMAP_ALPHA, colours, HEATMAP_ALPHA, 0.0)
    return out
