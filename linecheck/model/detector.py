"""The one detector interface every runtime implements (Triton, in-process ONNX Runtime, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from linecheck.messages import Detections


@runtime_checkable
class Detector(Protocol):
    """Runs a detection model on a batch of BGR images.

    Implementations share the pure pre/post-processing in ``linecheck.model.processing``
    so that every runtime gives the same detections for the same images.
    """

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's class list, in class-id order."""
        ...

    @property
    def model_name(self) -> str:
        """Registry / server name of the model."""
        ...

    @property
    def model_version(self) -> str:
        """Version of the model that answered (as served)."""
        ...

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Return one :class:`Detections` per input image, boxes in that image's pixels.

        Raises:
            linecheck.errors.ServingError: a subclass naming what failed (server down,
                model not ready, contract mismatch, timeout).

        """
        ...

    def close(self) -> None:
        """Release connections / sessions."""
        ...
