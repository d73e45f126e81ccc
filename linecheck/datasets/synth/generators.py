"""One generator per line kind behind one interface, chosen by kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from linecheck.config import LineConfig
from linecheck.datasets.synth.bearing import BearingGenerator
from linecheck.datasets.synth.frames import Rendered
from linecheck.datasets.synth.pv import PVGenerator
from linecheck.datasets.synth.textile import TextileGenerator
from linecheck.errors import InvalidFieldError
from linecheck.kinds import Kind, KindOptions
from linecheck.kinds.bearing import BearingOptions
from linecheck.kinds.pv import PVOptions

#: Smallest and largest frame sizes the generators render (codes need room to stay readable).
MIN_IMGSZ = 128
MAX_IMGSZ = 4096

#: Cell grids mixed into PV training sets, so one model serves 6x10, 6x12 and 6x24 (half-cut) lines.
PV_DATASET_GRIDS: tuple[tuple[int, int], ...] = ((6, 10), (6, 10), (6, 10), (6, 12), (6, 24))


class LineGenerator(Protocol):
    """Renders one image of a kind with a given number of defects."""

    kind: Kind
    imgsz: int

    def sample(
        self,
        rng: np.random.Generator,
        *,
        n_defects: int,
        code: str | None = None,
        classes: Sequence[int] | None = None,
    ) -> Rendered:
        """One image with ``n_defects`` defects (fewer if no free place is found) and the unit code.

        ``classes``: the defects' class ids, in turn (None: random classes).
        """
        ...


def check_imgsz(imgsz: int) -> int:
    """Return ``imgsz`` if the generators can render it, else raise naming the field."""
    if isinstance(imgsz, bool) or not isinstance(imgsz, int) or not MIN_IMGSZ <= imgsz <= MAX_IMGSZ:
        raise InvalidFieldError("imgsz", imgsz, f"expected an integer in [{MIN_IMGSZ}, {MAX_IMGSZ}]")
    return imgsz


def _textile(seed: int, imgsz: int, options: KindOptions | None) -> LineGenerator:
    return TextileGenerator(seed=seed, imgsz=imgsz)


def _bearing(seed: int, imgsz: int, options: KindOptions | None) -> LineGenerator:
    return BearingGenerator(seed=seed, imgsz=imgsz, config=BearingOptions.model_validate(options or {}))


def _pv(seed: int, imgsz: int, options: KindOptions | None) -> LineGenerator:
    if options is None:
        layouts = tuple(PVOptions(rows=r, cols=c) for r, c in PV_DATASET_GRIDS)
    else:
        layouts = (PVOptions.model_validate(options),)
    return PVGenerator(seed=seed, imgsz=imgsz, layouts=layouts)


#: The synthetic line of each built-in kind, from the kind's line options (None: a training mix).
GENERATORS: dict[str, Callable[[int, int, KindOptions | None], LineGenerator]] = {
    Kind.TEXTILE: _textile,
    Kind.BEARING: _bearing,
    Kind.PV: _pv,
}


def make_generator(kind: str, *, seed: int, imgsz: int, line: LineConfig | None = None) -> LineGenerator:
    """The generator of ``kind``; with ``line``, it renders the line's geometry (PV grid, bearing ring).

    Without a line, PV mixes the usual cell grids (:data:`PV_DATASET_GRIDS`), as a training set should.
    """
    check_imgsz(imgsz)
    factory = GENERATORS.get(kind)
    if factory is None:
        raise InvalidFieldError(
            "kind", kind, f"has no synthetic line; kinds with one: {', '.join(GENERATORS)}"
        )
    if line is not None and line.kind != kind:
        raise InvalidFieldError("line.kind", line.kind, f"expected {kind} to match the kind asked for")
    return factory(seed, imgsz, line.options if line is not None else None)
