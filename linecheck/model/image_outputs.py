"""Decoding of the two non-box output layouts into detections, shared by every runtime.

* ``classify`` ``(1, nc)``: image-level probability of each defect class (the good class is not
  an output: it is what is left). A class scoring above ``DecodeOptions.conf`` becomes one
  detection whose box is the whole image (the letterboxed input, mapped back like any box), so
  the inspector, the line thresholds and the QA metrics treat a classifier like a detector.
* ``anomaly`` ``(h, w)``: anomaly map over the ``imgsz`` input in confidence units (the graph
  divides the patch distance ``s`` by the calibrated threshold ``t`` as ``s / (s + t)``, so
  0.5 is the threshold). Connected regions of cells above :data:`ANOMALY_LEVEL` become
  detections of class ``anomaly``: box around the region, confidence its highest cell, and the
  cells under the box kept with it (the region's heat map, shown to reviewers with its crop).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import ModelContractError

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

#: The single class of an anomaly model.
ANOMALY_CLASS = "anomaly"
#: Map level of the calibrated threshold (``s / (s + t)`` at ``s == t``).
ANOMALY_LEVEL = 0.5


def decode_classify(
    output: FloatArray, num_classes: int, *, imgsz: int, conf: float
) -> tuple[FloatArray, FloatArray, IntArray]:
    """One whole-input box per class whose probability is above ``conf``, best first."""
    if output.ndim != 2 or output.shape != (1, num_classes):
        raise ModelContractError(
            f"classify output for one image has shape {output.shape}; expected (1, {num_classes})"
        )
    scores = output[0].astype(np.float32)
    keep = np.flatnonzero(scores > conf)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    xyxy = np.tile(np.array([0, 0, imgsz, imgsz], np.float32), (keep.size, 1))
    return xyxy, scores[keep], keep.astype(np.int64)


def anomaly_regions(
    amap: FloatArray, *, imgsz: int, level: float = ANOMALY_LEVEL, max_det: int = 300
) -> tuple[FloatArray, FloatArray, tuple[FloatArray, ...]]:
    """Connected regions of ``amap`` above ``level``, best first.

    Returns each region's box (input pixels), its peak score and its part of the map: the cells
    under its box (a copy, every cell of the box, another region's included), which span the
    box evenly.
    """
    if amap.ndim != 2 or min(amap.shape) < 1:
        raise ModelContractError(f"anomaly output for one image has shape {amap.shape}; expected (h, w)")
    mask = (amap > level).astype(np.uint8)
    if not mask.any():
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), ()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    sy, sx = imgsz / amap.shape[0], imgsz / amap.shape[1]
    boxes: list[list[float]] = []
    scores: list[float] = []
    maps: list[FloatArray] = []
    for region in range(1, count):
        x, y, w, h = (int(v) for v in stats[region, :4])
        boxes.append([x * sx, y * sy, (x + w) * sx, (y + h) * sy])
        scores.append(float(amap[labels == region].max()))
        maps.append(np.array(amap[y : y + h, x : x + w], np.float32))
    order = np.argsort(-np.asarray(scores), kind="stable")[:max_det]
    return (
        np.asarray(boxes, np.float32)[order],
        np.asarray(scores, np.float32)[order],
        tuple(maps[i] for i in order.tolist()),
    )


def decode_anomaly(
    output: FloatArray, num_classes: int, *, imgsz: int, conf: float, max_det: int
) -> tuple[FloatArray, FloatArray, IntArray, tuple[FloatArray, ...]]:
    """Regions of one image's anomaly map as ``anomaly`` detections (class id 0) with their maps."""
    if num_classes != 1:
        raise ModelContractError(
            f"an anomaly model has one class ({ANOMALY_CLASS!r}); the card lists {num_classes}"
        )
    boxes, scores, maps = anomaly_regions(output, imgsz=imgsz, max_det=max_det)
    keep = scores > conf
    kept = tuple(m for m, k in zip(maps, keep.tolist(), strict=True) if k)
    return boxes[keep], scores[keep], np.zeros(int(keep.sum()), np.int64), kept
