"""Geometry from the image: PV cell grid and bearing ring on synthetic frames moved, scaled and turned."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from linecheck.datasets.synth.bearing import BearingGenerator
from linecheck.datasets.synth.pv import PVGenerator
from linecheck.errors import InvalidFieldError
from linecheck.kinds.bearing import BearingOptions
from linecheck.kinds.geometry_detect import find_bearing_ring, find_pv_grid
from linecheck.kinds.pv import PVOptions

S = 320


def _turn(image, angle):
    matrix = cv2.getRotationMatrix2D((S / 2, S / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (S, S), borderValue=(0, 0, 0)), matrix


def _apply(matrix, x, y):
    return matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2], matrix[1, 0] * x + matrix[1, 1] * y + matrix[
        1, 2
    ]


@pytest.mark.parametrize(
    ("grid_box", "rows", "cols", "angle", "defects"),
    [
        ((0.02, 0.02, 0.98, 0.79), 6, 10, 0.0, 0),
        ((0.05, 0.04, 0.95, 0.74), 6, 10, 1.5, 3),
        ((0.10, 0.08, 0.90, 0.70), 6, 10, -2.0, 4),
        ((0.15, 0.10, 0.95, 0.75), 6, 12, 2.5, 2),
    ],
)
def test_every_cell_centre_is_found_in_its_cell_on_a_moved_scaled_tilted_module(
    grid_box, rows, cols, angle, defects
):
    options = PVOptions(grid_box=grid_box, rows=rows, cols=cols)
    rendered = PVGenerator(seed=3, imgsz=S, layouts=(options,)).sample(
        np.random.default_rng(defects), n_defects=defects, code="PV000000000001"
    )
    frame, matrix = _turn(rendered.image, angle)
    fit = find_pv_grid(frame, rows, cols)
    assert fit.angle_deg == pytest.approx(angle, abs=0.3)
    truth = options.grid(S, S)
    for row in range(rows):
        for col in range(cols):
            x1, y1, x2, y2 = truth.cell_box(row, col)
            for fx, fy in ((0.5, 0.5), (0.2, 0.2), (0.8, 0.2), (0.2, 0.8), (0.8, 0.8)):
                point = _apply(matrix, x1 + fx * (x2 - x1), y1 + fy * (y2 - y1))
                assert fit.cell_of(*point) == (row, col), (fx, fy)
    assert np.allclose(fit.grid_box(), grid_box, atol=0.02)


def test_a_dark_cell_does_not_move_the_grid():
    options = PVOptions(grid_box=(0.05, 0.05, 0.95, 0.75))
    frame = (
        PVGenerator(seed=1, imgsz=S, layouts=(options,)).sample(np.random.default_rng(0), n_defects=0).image
    )
    x1, y1, x2, y2 = options.grid(S, S).cell_box(2, 3)
    frame[y1:y2, x1:x2] = 10
    assert np.allclose(find_pv_grid(frame, 6, 10).grid_box(), options.grid_box, atol=0.02)


@pytest.mark.parametrize(
    ("centre", "radius", "angle"),
    [((0.5, 0.5), 0.47, 0.0), ((0.45, 0.55), 0.40, 17.0), ((0.56, 0.46), 0.35, -40.0)],
)
def test_ring_centre_and_radius_are_found_on_a_moved_scaled_turned_ring(centre, radius, angle):
    options = BearingOptions(centre=centre, outer_radius_frac=radius)
    rendered = BearingGenerator(seed=2, imgsz=S, config=options).sample(
        np.random.default_rng(1), n_defects=2, code="BR0000000001"
    )
    frame, matrix = _turn(rendered.image, angle)
    truth = options.geometry(S, S)
    found = find_bearing_ring(frame, split_frac=options.race_split_frac, inner_frac=options.inner_radius_frac)
    cx, cy = _apply(matrix, truth.cx, truth.cy)
    assert abs(found.cx - cx) < 0.01 * S and abs(found.cy - cy) < 0.01 * S
    assert found.r_outer == pytest.approx(truth.r_outer, rel=0.03)
    assert found.r_split == pytest.approx(found.r_outer * options.race_split_frac)


@pytest.mark.parametrize("finder", ["pv", "ring"])
def test_a_black_frame_is_refused(finder):
    black = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InvalidFieldError):
        if finder == "pv":
            find_pv_grid(black, 6, 10)
        else:
            find_bearing_ring(black, split_frac=0.6, inner_frac=0.3)
