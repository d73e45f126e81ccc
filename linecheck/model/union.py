"""Several models on one line: a detector, a classifier and an anomaly model answer as one.

:class:`UnionDetector` runs every model on the same frames and returns the union of their
detections under one class list (each class belongs to exactly one model, so the line's per-class
thresholds are per model and per class). The verdict is the union: a unit fails when any model's
defect reaches its threshold. ``model_version`` names every model and version that answered
(``pv:3+pv-cls:1+pv-anomaly:2``), the trace keeps it with the inspection, and
:meth:`UnionDetector.model_of` says which model a class (so a defect) came from. A model that
fails makes the whole call fail: the inspector turns that into ``not_inspected``, never ``pass``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from linecheck.errors import InferenceError, ModelContractError
from linecheck.messages import Detections
from linecheck.model.detector import Detector


class UnionDetector:
    """One :class:`~linecheck.model.detector.Detector` over several models of one line."""

    def __init__(self, detectors: Sequence[Detector], *, name: str = "") -> None:
        """Combine ``detectors`` (the first is the line's main model).

        Raises:
            ModelContractError: two models share a class name (their defects could not be told apart).

        """
        if not detectors:
            raise ModelContractError("a union of models needs at least one model")
        owner: dict[str, str] = {}
        for detector in detectors:
            for cls in detector.class_names:
                if cls in owner:
                    raise ModelContractError(
                        f"class {cls!r} is answered by both {owner[cls]!r} and {detector.model_name!r}; "
                        "each class of a line must come from one model"
                    )
                owner[cls] = detector.model_name
        self._detectors = list(detectors)
        self._owner = owner
        self._names = tuple(owner)
        self._name = name or "+".join(d.model_name for d in self._detectors)

    @property
    def class_names(self) -> tuple[str, ...]:
        """Every model's classes, in model order."""
        return self._names

    @property
    def model_name(self) -> str:
        """The union's name (the models' names joined by ``+`` unless given)."""
        return self._name

    @property
    def model_version(self) -> str:
        """``name:version`` of every model, joined by ``+``."""
        return "+".join(f"{d.model_name}:{d.model_version}" for d in self._detectors)

    @property
    def detectors(self) -> tuple[Detector, ...]:
        """The combined models, main model first."""
        return tuple(self._detectors)

    def model_of(self, class_name: str) -> str:
        """The model that answers ``class_name``."""
        return self._owner[class_name]

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Union of every model's detections per image, class ids in the union's class list.

        Raises:
            ServingError: any model failed (the caller marks the frames not inspected).
            InferenceError: a model answered a different number of images.

        """
        answers = [d.detect(images) for d in self._detectors]
        out: list[Detections] = []
        for index in range(len(images)):
            parts = []
            for detector, answer in zip(self._detectors, answers, strict=True):
                if len(answer) != len(images):
                    got = f"{len(answer)} results for {len(images)} images"
                    raise InferenceError(f"model {detector.model_name!r} returned {got}")
                parts.append(answer[index])
            out.append(self._merge(parts))
        return out

    def _merge(self, parts: Sequence[Detections]) -> Detections:
        ids = [
            np.asarray([self._names.index(p.class_names[i]) for i in p.class_id.tolist()], np.int64)
            for p in parts
        ]
        return Detections(
            xyxy=np.concatenate([p.xyxy for p in parts]).astype(np.float32).reshape(-1, 4),
            confidence=np.concatenate([p.confidence for p in parts]).astype(np.float32),
            class_id=np.concatenate(ids).astype(np.int64),
            class_names=self._names,
            heatmaps=tuple(heat for p in parts for heat in p.heatmaps),
        )

    def close(self) -> None:
        """Close every model."""
        for detector in self._detectors:
            detector.close()
