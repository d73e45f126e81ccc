"""render_code and the frame geometry helpers the inspector shares with the generators."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp

from linecheck.datasets.synth import render_code
from linecheck.errors import InvalidFieldError
from linecheck.kinds.bearing import BearingOptions
from linecheck.kinds.pv import PVOptions


@pytest.mark.parametrize(
    ("text", "kind", "size"),
    [("BR0000000042", "datamatrix", 64), ("PV000000123456", "qr", 96), ("RL0000000001", "datamatrix", 150)],
)
def test_rendered_codes_decode_to_their_text(text: str, kind: str, size: int) -> None:
    symbol = render_code(text, kind, size)  # type: ignore[arg-type]
    assert symbol.shape == (size, size) and symbol.dtype == np.uint8
    canvas = np.full((size + 40, size + 40), 255, np.uint8)
    canvas[20:-20, 20:-20] = symbol
    assert [r.text for r in zxingcpp.read_barcodes(canvas)] == [text]
    if kind == "qr":
        assert cv2.QRCodeDetector().detectAndDecode(canvas)[0] == text


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("X1", "pdf417", 64), "kind"),
        (("", "qr", 64), "text"),
        (("BR0000000042", "datamatrix", 4), "size_px"),
        (("BR0000000042", "datamatrix", 12), "size_px"),
    ],
)
def test_render_code_rejects_bad_arguments(args: tuple[str, str, int], field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        render_code(*args)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(("imgsz", "rows", "cols"), [(640, 6, 10), (640, 6, 12), (640, 6, 24), (320, 6, 10)])
def test_pv_grid_cells_tile_the_module_and_map_back(imgsz: int, rows: int, cols: int) -> None:
    grid = PVOptions(rows=rows, cols=cols).grid(imgsz, imgsz)
    assert grid.cell_w * cols > 0.9 * imgsz and grid.cell_h * rows > 0.7 * imgsz  # the module fills the frame
    for row in range(rows):
        for col in range(cols):
            x1, y1, x2, y2 = grid.cell_box(row, col)
            assert 0 <= x1 < x2 <= imgsz and 0 <= y1 < y2 <= imgsz
            assert grid.cell_at((x1 + x2) / 2, (y1 + y2) / 2) == (row, col)
    assert grid.cell_at(1, 1) is None and grid.cell_at(imgsz / 2, imgsz - 2) is None


@pytest.mark.parametrize(
    ("r_frac", "zone"),
    [
        (0.1, "bore"),
        (0.27, "bore"),
        (0.3, "inner_race"),
        (0.6, "inner_race"),
        (0.7, "outer_race"),
        (1.02, "outside"),
    ],
)
def test_bearing_zones_follow_the_line_fractions(r_frac: float, zone: str) -> None:
    geo = BearingOptions(inner_radius_frac=0.28, race_split_frac=0.64).geometry(640, 640)
    assert geo.r_inner == pytest.approx(0.28 * geo.r_outer) and geo.r_split == pytest.approx(
        0.64 * geo.r_outer
    )
    assert geo.zone(geo.cx + r_frac * geo.r_outer, geo.cy) == zone
    assert geo.zone(geo.cx, geo.cy - r_frac * geo.r_outer) == zone
