"""Unit-level QA metrics: escape rate and false-reject rate at per-class thresholds.

A unit is one image here (a bearing face, a PV module, one textile frame). A unit is
*rejected* when any detection's confidence reaches its class threshold. An *escape* is a
unit with at least one labelled defect that is not rejected; a *false reject* is a
defect-free unit that is rejected. Pure functions over :class:`~linecheck.messages.Detections`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError
from linecheck.messages import Detections


def threshold_vector(class_names: Sequence[str], thresholds: Mapping[str, float]) -> npt.NDArray[np.float32]:
    """Per-class-id thresholds; every class must have one, each in [0, 1]."""
    missing = [name for name in class_names if name not in thresholds]
    if missing:
        raise InvalidFieldError("thresholds", dict(thresholds), f"missing classes {missing}")
    for name, value in thresholds.items():
        if not 0.0 <= value <= 1.0:
            raise InvalidFieldError(f"thresholds.{name}", value, "expected a value in [0, 1]")
    return np.array([thresholds[name] for name in class_names], dtype=np.float32)


def passing(detections: Detections, thresholds: npt.NDArray[np.float32]) -> Detections:
    """Detections whose confidence reaches their class's threshold."""
    if len(thresholds) != len(detections.class_names):
        raise InvalidFieldError(
            "thresholds", len(thresholds), f"expected one per class ({len(detections.class_names)})"
        )
    return detections.filter(detections.confidence >= thresholds[detections.class_id])


@dataclass(frozen=True, kw_only=True)
class UnitMetrics:
    """Counts and rates over a set of units.

    Attributes:
        units: units evaluated.
        defective_units: units with at least one labelled defect.
        good_units: units without labelled defects.
        escapes: defective units that were passed.
        false_rejects: good units that were rejected.
        escape_rate: ``escapes / defective_units`` (0 when there are none).
        false_reject_rate: ``false_rejects / good_units`` (0 when there are none).
        class_recall: per class, the share of units holding that class where a detection of the
            same class passed its threshold (``None`` when no unit holds it).
        thresholds: the per-class thresholds used.

    """

    units: int
    defective_units: int
    good_units: int
    escapes: int
    false_rejects: int
    escape_rate: float
    false_reject_rate: float
    class_recall: dict[str, float | None] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def unit_metrics(
    predictions: Sequence[Detections],
    truth: Sequence[Sequence[int]],
    thresholds: Mapping[str, float],
) -> UnitMetrics:
    """Compute :class:`UnitMetrics`.

    Args:
        predictions: detections per unit.
        truth: labelled class ids per unit (empty for a defect-free unit), same order.
        thresholds: class name -> confidence threshold, for every class of the model.

    """
    if len(predictions) != len(truth):
        raise InvalidFieldError(
            "truth", len(truth), f"expected one entry per prediction ({len(predictions)})"
        )
    if not predictions:
        raise InvalidFieldError("predictions", 0, "expected at least one unit")
    names = predictions[0].class_names
    vector = threshold_vector(names, thresholds)
    escapes = false_rejects = defective = 0
    holding = np.zeros(len(names), np.int64)
    found = np.zeros(len(names), np.int64)
    for number, (dets, labels) in enumerate(zip(predictions, truth, strict=True)):
        if dets.class_names != names:
            raise InvalidFieldError(
                f"predictions[{number}].class_names", dets.class_names, f"expected {names}"
            )
        bad = [c for c in labels if not 0 <= c < len(names)]
        if bad:
            raise InvalidFieldError(
                f"truth[{number}]", list(labels), f"class ids must be in [0, {len(names)})"
            )
        kept = passing(dets, vector)
        rejected = len(kept) > 0
        if labels:
            defective += 1
            escapes += not rejected
            present = sorted(set(labels))
            holding[present] += 1
            detected = set(kept.class_id.tolist())
            found[[c for c in present if c in detected]] += 1
        else:
            false_rejects += rejected
    good = len(predictions) - defective
    return UnitMetrics(
        units=len(predictions),
        defective_units=defective,
        good_units=good,
        escapes=escapes,
        false_rejects=false_rejects,
        escape_rate=escapes / defective if defective else 0.0,
        false_reject_rate=false_rejects / good if good else 0.0,
        class_recall={
            name: (float(found[i] / holding[i]) if holding[i] else None) for i, name in enumerate(names)
        },
        thresholds={name: float(thresholds[name]) for name in names},
    )
