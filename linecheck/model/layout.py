"""The output layouts a registered detection graph can declare."""

from __future__ import annotations

from typing import Literal

#: ``raw``: (B, 4 + nc, A) YOLOv8/11 head output, cx cy w h in input pixels then class scores.
#: ``nms``: (B, max_det, 6) rows of x1 y1 x2 y2 score class, NMS done in the graph.
#: ``classify``: (B, 1, nc) image-level probability of each (defect) class; a class above its
#: threshold becomes one whole-image detection (see ``linecheck.model.image_outputs``).
#: ``anomaly``: (B, h, w) anomaly map over the input, already in confidence units: 0.5 is the
#: threshold calibrated on good images; regions above it become ``anomaly`` detections.
OutputLayout = Literal["raw", "nms", "classify", "anomaly"]

#: Every layout, in the order the contract check lists them.
OUTPUT_LAYOUTS: tuple[OutputLayout, ...] = ("raw", "nms", "classify", "anomaly")
