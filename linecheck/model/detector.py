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


class DetectorWrapper:
    """Base of a detector that reshapes the input of one inner detector (tiles, cell crops).

    It answers with the inner model's class list, name and version and closes it; a subclass
    only says how frames become the inner model's inputs and how its answers come back.
    """

    def __init__(self, inner: Detector) -> None:
        """Wrap ``inner``."""
        self._inner = inner

    @property
    def class_names(self) -> tuple[str, ...]:
        """The inner model's class list."""
        return self._inner.class_names

    @property
    def model_name(self) -> str:
        """The inner model's name."""
        return self._inner.model_name

    @property
    def model_version(self) -> str:
        """The inner model's version."""
        return self._inner.model_version

    def close(self) -> None:
        """Close the inner model."""
        self._inner.close()
