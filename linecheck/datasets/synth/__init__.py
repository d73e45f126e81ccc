"""Synthetic production lines for textile, bearing and PV: YOLO datasets and endless frame streams.

Entry points:

* :func:`write_dataset` - a YOLO dataset (``data.yaml``, ``images/<split>``, ``labels/<split>``).
* :func:`iter_units` - endless :class:`SynthUnit` s (rolls, rings, modules) for the inspector.
* :func:`render_code` - DataMatrix / QR symbols as images.
* :func:`pv_cell_grid` and :func:`bearing_geometry` - where cells and ring zones lie in a frame.
"""

from linecheck.datasets.synth.bearing import BearingGeometry, bearing_geometry
from linecheck.datasets.synth.frames import Rendered, SynthFrame, SynthUnit
from linecheck.datasets.synth.marking import render_code
from linecheck.datasets.synth.pv import PVGrid, pv_cell_grid
from linecheck.datasets.synth.streams import iter_units
from linecheck.datasets.synth.writer import render_sample, write_dataset

__all__ = [
    "BearingGeometry",
    "PVGrid",
    "Rendered",
    "SynthFrame",
    "SynthUnit",
    "bearing_geometry",
    "iter_units",
    "pv_cell_grid",
    "render_code",
    "render_sample",
    "write_dataset",
]
