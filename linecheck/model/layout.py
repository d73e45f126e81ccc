"""The output layouts a registered detection graph can declare."""

from __future__ import annotations

from typing import Literal

#: ``raw``: (B, 4 + nc, A) YOLOv8/11 head output, cx cy w h in input pixels then class scores.
#: ``nms``: (B, max_det, 6) rows of x1 y1 x2 y2 score class, NMS done in the graph.
OutputLayout = Literal["raw", "nms"]
