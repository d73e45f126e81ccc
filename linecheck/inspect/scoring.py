"""Scoring an inspector run against known ground truth (synthetic lines, labelled replays).

A ground-truth box is found when a reported defect of the same class overlaps it with
IoU >= ``iou`` (greedy, best overlap first, each defect used once). Frames that were not
inspected are counted separately, not as misses: they went to manual QA.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from linecheck.inspect.messages import InferredFrame, InspectionResult
from linecheck.messages import Verdict

#: Default overlap for a detection to count as finding a ground-truth defect.
RECALL_IOU = 0.3


def iou_matrix(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pairwise IoU of boxes ``a`` (N, 4) and ``b`` (M, 4), ``x1 y1 x2 y2``."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def match(
    truth_boxes: npt.NDArray[np.float32],
    truth_classes: Sequence[str],
    found_boxes: npt.NDArray[np.float32],
    found_classes: Sequence[str],
    *,
    iou: float = RECALL_IOU,
) -> list[int | None]:
    """For each ground-truth box, the index of the reported defect matched to it (or None)."""
    overlaps = iou_matrix(truth_boxes, found_boxes)
    same = np.array([[t == f for f in found_classes] for t in truth_classes], bool).reshape(overlaps.shape)
    overlaps = np.where(same & (overlaps >= iou), overlaps, -1.0)
    matched: list[int | None] = [None] * len(truth_classes)
    while overlaps.size and overlaps.max() >= 0:
        t, f = np.unravel_index(int(np.argmax(overlaps)), overlaps.shape)
        matched[int(t)] = int(f)
        overlaps[t, :] = -1.0
        overlaps[:, f] = -1.0
    return matched


class RecallTracker:
    """Accumulates ground-truth recall per line and class from inspector results (thread-safe).

    Use :meth:`observe` as a service observer; frames must carry ``gt_xyxy`` and
    ``gt_class_ids`` in their meta (the synthetic source does).
    """

    def __init__(self, iou: float = RECALL_IOU) -> None:
        self.iou = iou
        self._lock = threading.Lock()
        self.truth: Counter[tuple[str, str]] = Counter()
        self.found: Counter[tuple[str, str]] = Counter()
        self.frames: Counter[tuple[str, str]] = Counter()  # (line, outcome)

    def observe(self, result: InspectionResult, inferred: InferredFrame) -> None:
        """Score one result (ignored when its frame has no ground truth)."""
        meta = inferred.coded.frame.meta
        if "gt_xyxy" not in meta:
            return
        gt_boxes = np.asarray(meta["gt_xyxy"], np.float32).reshape(-1, 4)
        names = inferred.coded.line.classes
        gt_classes = [names[int(i)] for i in np.asarray(meta["gt_class_ids"]).reshape(-1)]
        defective = bool(gt_classes)
        line = result.line_id
        with self._lock:
            if result.verdict is Verdict.NOT_INSPECTED:
                self.frames[(line, "not_inspected")] += 1
                return
            caught = result.verdict is Verdict.FAIL
            outcome = {(True, True): "true_fail", (True, False): "escape", (False, True): "false_reject"}.get(
                (defective, caught), "true_pass"
            )
            self.frames[(line, outcome)] += 1
            found_boxes = np.array([d.bbox for d in result.defects], np.float32).reshape(-1, 4)
            found_classes = [d.class_name for d in result.defects]
            for cls, hit in zip(
                gt_classes, match(gt_boxes, gt_classes, found_boxes, found_classes, iou=self.iou), strict=True
            ):
                self.truth[(line, cls)] += 1
                if hit is not None:
                    self.found[(line, cls)] += 1

    def summary(self) -> dict[str, Any]:
        """Recall overall and per line: ``{"iou", "overall", "lines": {line: {"recall", "truth", ...}}}``."""
        with self._lock:
            lines = sorted({line for line, _ in self.truth} | {line for line, _ in self.frames})
            out: dict[str, Any] = {}
            for line in lines:
                classes = sorted(cls for ln, cls in self.truth if ln == line)
                truth = sum(self.truth[(line, c)] for c in classes)
                found = sum(self.found[(line, c)] for c in classes)
                out[line] = {
                    "recall": round(found / truth, 4) if truth else None,
                    "truth": truth,
                    "found": found,
                    "classes": {
                        c: {
                            "truth": self.truth[(line, c)],
                            "found": self.found[(line, c)],
                            "recall": round(self.found[(line, c)] / self.truth[(line, c)], 4),
                        }
                        for c in classes
                    },
                    "frames": {k: v for (ln, k), v in sorted(self.frames.items()) if ln == line},
                }
            truth_all = sum(self.truth.values())
            found_all = sum(self.found.values())
            return {
                "iou": self.iou,
                "overall": {
                    "recall": round(found_all / truth_all, 4) if truth_all else None,
                    "truth": truth_all,
                    "found": found_all,
                },
                "lines": out,
            }
