"""One generator per line kind behind one interface, chosen by kind."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from linecheck.config import LineConfig
from linecheck.datasets.synth.bearing import BearingGenerator
from linecheck.datasets.synth.frames import Rendered
from linecheck.datasets.synth.pv import PVGenerator
from linecheck.datasets.synth.textile import TextileGenerator
from linecheck.errors import InvalidFieldError
from linecheck.kinds import Kind

#: Smallest and largest frame sizes the generators render (codes need room to stay readable).
MIN_IMGSZ = 128
MAX_IMGSZ = 4096

#: Cell grids mixed into PV training sets, so one model serves 6x10, 6x12 and 6x24 (half-cut) lines.
PV_DATASET_GRIDS: tuple[tuple[int, int], ...] = ((6, 10), (6, 10), (6, 10), (6, 12), (6, 24))


class LineGenerator(Protocol):
    """Renders one image of a kind with a given number of defects."""

    kind: Kind
    imgsz: int

    def sample(self, rng: np.random.Generator, *, n_defects: int, code: str | None = None) -> Rendered:
        """One image with ``n_defects`` defects (fewer if no free place is found) and the unit code."""
        ...


def check_imgsz(imgsz: int) -> int:
    """Return ``imgsz`` if the generators can render it, else raise naming the field."""
    if isinstance(imgsz, bool) or not isinstance(imgsz, int) or not MIN_IMGSZ <= imgsz <= MAX_IMGSZ:
        raise InvalidFieldError("imgsz", imgsz, f"expected an integer in [{MIN_IMGSZ}, {MAX_IMGSZ}]")
    return imgsz


def make_generator(kind: Kind, *, seed: int, imgsz: int, line: LineConfig | None = None) -> LineGenerator:
    """The generator of ``kind``; with ``line``, PV uses its cell grid and bearing its ring geometry.

    Without a line, PV mixes the usual cell grids (:data:`PV_DATASET_GRIDS`), as a training set should.
    """
    check_imgsz(imgsz)
    if kind is Kind.TEXTILE:
        return TextileGenerator(seed=seed, imgsz=imgsz)
    if kind is Kind.BEARING:
        return BearingGenerator(seed=seed, imgsz=imgsz, config=line.bearing if line else None)
    grids = ((line.pv.rows, line.pv.cols),) if line else PV_DATASET_GRIDS
    return PVGenerator(seed=seed, imgsz=imgsz, grids=grids)
