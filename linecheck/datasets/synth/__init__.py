"""Synthetic production lines for textile, bearing and PV: YOLO datasets and endless frame streams.

The geometry they render (PV cell grid, bearing ring) is the line's, from :mod:`linecheck.kinds`.

Entry points:

* :func:`write_dataset` - a YOLO dataset (``data.yaml``, ``images/<split>``, ``labels/<split>``).
* :func:`iter_units` - endless :class:`SynthUnit` s (rolls, rings, modules) for the inspector.
* :func:`render_code` - DataMatrix / QR symbols as images.
"""

from linecheck.datasets.synth.frames import Rendered, SynthFrame, SynthUnit
from linecheck.datasets.synth.marking import render_code
from linecheck.datasets.synth.streams import iter_units
from linecheck.datasets.synth.writer import render_sample, write_dataset

__all__ = [
    "Rendered",
    "SynthFrame",
    "SynthUnit",
    "iter_units",
    "render_code",
    "render_sample",
    "write_dataset",
]
