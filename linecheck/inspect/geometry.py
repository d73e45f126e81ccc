"""Where the product lies in each frame: the line YAML's geometry, or one found in the frame itself.

A line whose kind section says ``geometry_mode: auto`` has every frame measured by the code-reader
stage, before the frame is queued for inference (:meth:`~linecheck.kinds.KindSpec.find_geometry`:
a PV module's cell grid, a bearing ring). The judge places the frame's defects with that geometry
and says so in each location (``"geometry": "found"``); a cell classifier cuts the frame's cells
with it. A frame in which the product is not found keeps the line YAML's geometry: it is inspected
all the same, its locations say ``"geometry": "fixed"``, its reason says why, and the fallback is
counted (``linecheck_inspector_geometry_fallbacks``). Lines with ``geometry_mode: fixed`` (the
default) are not measured and their locations carry no ``geometry``.

A frame is measured once: measurements are remembered by the frame image's identity for the last
:data:`REMEMBERED` frames (through a weak reference, so a frame that is gone is never taken for a
new one at the same address), so the inference stage finds what the code reader measured. So is the
product a frame is judged as (:func:`bind`): a cell classifier cuts a 6x12 module's frame in 6x12.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from linecheck.config import LineConfig
from linecheck.errors import InvalidFieldError
from linecheck.kinds import CellBox, FrameView, GeometrySource, finds_geometry, get_kind

Image = npt.NDArray[np.uint8]

T = TypeVar("T")

#: Frames whose measurement is remembered (well above the frames a service holds in its queues).
REMEMBERED = 512


@dataclass(frozen=True, kw_only=True, slots=True)
class FrameGeometry:
    """The geometry one frame's defects are placed with, on a ``geometry_mode: auto`` line.

    Attributes:
        source: ``found`` in the frame, or ``fixed``: the line YAML's (the frame showed none).
        value: the kind's geometry object when found (it becomes ``FrameView.geometry``).
        note: why the line YAML's geometry was used (a fallback only).

    """

    source: GeometrySource
    value: object | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if (self.source == "found") != (self.value is not None):
            raise InvalidFieldError("value", self.value, "expected a geometry exactly when source is found")
        if self.source == "found" and self.note is not None:
            raise InvalidFieldError("note", self.note, "a found geometry needs no note")


def is_auto(line: LineConfig) -> bool:
    """True when ``line`` finds its product's geometry in every frame."""
    return finds_geometry(line.options)


class _PerFrame(Generic[T]):
    """Something known of each of the last :data:`REMEMBERED` frames, by the frame image's identity."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: OrderedDict[tuple[str, int], tuple[weakref.ref[Image], T]] = OrderedDict()

    def get(self, line: LineConfig, image: Image) -> T | None:
        with self._lock:
            entry = self._known.get((line.id, id(image)))
            if entry is None or entry[0]() is not image:
                return None
            self._known.move_to_end((line.id, id(image)))
            return entry[1]

    def put(self, line: LineConfig, image: Image, value: T) -> T:
        with self._lock:
            self._known[(line.id, id(image))] = (weakref.ref(image), value)
            self._known.move_to_end((line.id, id(image)))
            while len(self._known) > REMEMBERED:
                self._known.popitem(last=False)
        return value


_measured: _PerFrame[FrameGeometry] = _PerFrame()
_configs: _PerFrame[LineConfig] = _PerFrame()


def remember(line: LineConfig, image: Image, geometry: FrameGeometry) -> FrameGeometry:
    """Keep ``geometry`` as the measurement of ``image`` on ``line`` and return it."""
    return _measured.put(line, image, geometry)


def bind(line: LineConfig, image: Image) -> None:
    """``image`` is judged with ``line`` (its product's config): the inference stage cuts cells with it."""
    if line.product is not None:
        _configs.put(line, image, line)


def config_of(line: LineConfig, image: Image) -> LineConfig:
    """The config ``image`` is judged with: its product's (:func:`bind`), else ``line``."""
    return _configs.get(line, image) or line


def measure(line: LineConfig, image: Image) -> FrameGeometry | None:
    """The geometry of ``image`` on ``line``: None on a fixed line, else found or the YAML's with the reason.

    Only the finder's refusal (:class:`InvalidFieldError`: no module, no ring) is a fallback here;
    any other failure propagates to the caller's loop boundary.
    """
    if not is_auto(line):
        return None
    known = _measured.get(line, image)
    if known is not None:
        return known
    try:
        value = get_kind(line.kind).find_geometry(image, line.options)
    except InvalidFieldError as exc:
        return remember(line, image, fallback(exc.reason))
    if value is None:
        return remember(line, image, fallback(f"kind {line.kind} cannot find its geometry in a frame"))
    return remember(line, image, FrameGeometry(source="found", value=value))


def fallback(why: str) -> FrameGeometry:
    """The line YAML's geometry, used because of ``why``."""
    note = f"geometry not found in the frame ({why}): the line YAML's used"
    return FrameGeometry(source="fixed", note=note)


def frame_view(line: LineConfig, image: Image) -> FrameView:
    """``image`` as the kind's rules see it: its size and the geometry found in it on an auto line."""
    line = config_of(line, image)
    found = measure(line, image)
    return FrameView(
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        geometry=None if found is None else found.value,
    )


def cell_boxes(line: LineConfig, image: Image) -> list[CellBox]:
    """The product's cells in ``image``, row by row (in the geometry found in it on an auto line).

    ``line`` is the line the cell model was built for; the frame's product (:func:`bind`) decides.
    """
    line = config_of(line, image)
    return get_kind(line.kind).cell_boxes(frame_view(line, image), line.options)
