"""Image-level QA metrics of a pass / reject decision: escape and false-reject rates, F1, AUROC.

``labels``: 1 for a defective image, 0 for a good one. ``scores``: the model's defect score
(highest defect-class probability, or the anomaly map's peak in confidence units). An image is
rejected when its score reaches ``threshold`` (the line threshold; 0.5 for a calibrated anomaly
model), as the inspector decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError


def auroc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float | None:
    """Area under the ROC curve (ties counted half); None when one class is absent."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if not pos.size or not neg.size:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def decision_metrics(scores: Sequence[float], labels: Sequence[int], threshold: float) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (defective positive), escape / false-reject rates, AUROC."""
    if len(scores) != len(labels):
        raise InvalidFieldError("labels", len(labels), f"expected one per score ({len(scores)})")
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    rejected = s >= threshold
    tp = int((rejected & y).sum())
    fp = int((rejected & ~y).sum())
    fn = int((~rejected & y).sum())
    tn = int((~rejected & ~y).sum())
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    area = auroc(s, y)
    return {
        "threshold": threshold,
        "images": int(y.size),
        "defective_units": int(y.sum()),
        "good_units": int((~y).sum()),
        "accuracy": _ratio(tp + tn, int(y.size)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "escape_rate": _ratio(fn, tp + fn),
        "false_reject_rate": _ratio(fp, fp + tn),
        "auroc": None if area is None else round(area, 4),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def best_f1(scores: Sequence[float], labels: Sequence[int]) -> dict[str, float | None]:
    """The highest F1 over every threshold and the threshold giving it (for orientation only)."""
    best: tuple[float, float | None] = (0.0, None)
    for threshold in sorted(set(float(v) for v in scores)):
        f1 = decision_metrics(scores, labels, threshold)["f1"] or 0.0
        if f1 > best[0]:
            best = (f1, threshold)
    return {"f1": round(best[0], 4), "threshold": best[1]}
