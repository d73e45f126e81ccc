"""Geometry belongs to the line: the YAML places the PV cell grid and the bearing ring, the synthetic
line renders that geometry, and the inspector locates defects with the same objects."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from linecheck.config import LineConfig, load_line
from linecheck.datasets.synth import iter_units
from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.inspect.kinds import logic_for
from linecheck.inspect.messages import CodedFrame
from linecheck.kinds import FrameView, Kind, StoredDefect, get_kind
from linecheck.messages import CodeStatus, Frame


def _coded(line: LineConfig, w: int, h: int) -> CodedFrame:
    frame = Frame(
        line_id=line.id,
        station="cam1",
        seq=0,
        captured_at=datetime.now(UTC),
        image=np.zeros((h, w, 3), np.uint8),
    )
    return CodedFrame(
        frame=frame, line=line, code="X", code_status=CodeStatus.READ, received_at=time.monotonic()
    )


def _centre(box: Any) -> tuple[float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return (x1 + x2) / 2, (y1 + y2) / 2


def test_pv_grid_from_the_line_is_rendered_and_located() -> None:
    box = (0.12, 0.06, 0.9, 0.7)
    line = LineConfig(id="pv-x", kind="pv", pv={"rows": 4, "cols": 8, "grid_box": box})
    size = 320
    grid = line.options.grid(size, size)  # type: ignore[attr-defined]
    assert (grid.x0, grid.y0) == pytest.approx((0.12 * size, 0.06 * size))
    assert (grid.cell_w, grid.cell_h) == pytest.approx((0.78 * size / 8, 0.64 * size / 4))
    logic = logic_for(line)
    located = 0
    for unit in itertools.islice(iter_units(Kind.PV, seed=5, imgsz=size, line=line), 10):
        frame = unit.frames[0]
        grey = frame.image[..., 0].astype(np.float32)
        assert grey[:, : int(0.1 * size)].mean() < 40, "left of the configured grid is background"
        x1, y1, x2, y2 = grid.cell_box(1, 2)
        assert grey[y1:y2, x1:x2].mean() > 60, "a configured cell is lit"
        for xyxy in frame.boxes.tolist():
            cell = grid.cell_at(*_centre(xyxy))
            assert cell is not None, "rendered defects lie in the configured grid"
            assert logic.locate(xyxy, _coded(line, size, size)) == {"row": cell[0], "col": cell[1]}
            located += 1
    assert located >= 5


@pytest.mark.parametrize(("w", "h"), [(640, 640), (1024, 512)])
def test_pv_grid_fractions_scale_with_any_frame(w: int, h: int) -> None:
    line = LineConfig(id="pv-y", kind="pv", pv={"rows": 2, "cols": 4, "grid_box": [0.0, 0.5, 1.0, 1.0]})
    spec = get_kind("pv")
    view = FrameView(width=w, height=h)
    assert spec.locate((0, 0, 2, 2), view, line.options) == {"row": 0, "col": 0}  # above the grid: snaps
    assert spec.locate((w - 2, h - 2, w, h), view, line.options) == {"row": 1, "col": 3}
    assert spec.locate((w * 0.3, h * 0.8, w * 0.3 + 2, h * 0.8 + 2), view, line.options) == {
        "row": 1,
        "col": 1,
    }


def test_bearing_ring_from_the_line_is_rendered_and_zoned() -> None:
    line = LineConfig(id="br-x", kind="bearing", bearing={"centre": [0.42, 0.56], "outer_radius_frac": 0.36})
    size = 320
    geo = line.options.geometry(size, size)  # type: ignore[attr-defined]
    assert (geo.cx, geo.cy, geo.r_outer) == pytest.approx((0.42 * size, 0.56 * size, 0.36 * size))
    unit = next(iter_units(Kind.BEARING, seed=1, imgsz=size, line=line))
    grey = unit.frames[0].image[..., 0].astype(np.float32)
    mid_race = (geo.r_split + geo.r_outer) / 2  # middle of the outer race
    ring = grey[int(geo.cy), int(geo.cx + mid_race) - 2 : int(geo.cx + mid_race) + 2].mean()
    bore = grey[int(geo.cy) - 2 : int(geo.cy) + 2, int(geo.cx) - 2 : int(geo.cx) + 2].mean()
    assert ring > bore + 40, "the ring face is where the line says, the bore at its centre"
    logic = logic_for(line)
    for zone, r in (
        ("bore", geo.r_inner * 0.5),
        ("inner_race", (geo.r_inner + geo.r_split) / 2),
        ("face", geo.r_outer * 1.2),
    ):
        box = (geo.cx + r - 2, geo.cy - 2, geo.cx + r + 2, geo.cy + 2)
        assert logic.locate(box, _coded(line, size, size)) == {"zone": zone}
    for xyxy in unit.frames[0].boxes.tolist():
        x, y = _centre(xyxy)
        assert np.hypot(x - geo.cx, y - geo.cy) <= geo.r_outer + 0.05 * size, (
            "defects lie on the configured ring"
        )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("pv: {grid_box: [0.5, 0.1, 0.4, 0.9]}", r"pv\.grid_box.*expected left < right"),
        ("pv: {grid_box: [0.1, 0.1, 1.4, 0.9]}", r"pv\.grid_box\.2: Input should be less than or equal to 1"),
        ("pv: {rows: 0}", r"pv\.rows: Input should be greater than 0"),
        ("pv: {b_grade_classes: [crack], c_grade_classes: [crack]}", "share \\['crack'\\]"),
        ("bearing: {inner_radius_frac: 0.7}", "inner_radius_frac=0.7 must be below race_split_frac=0.64"),
        ("bearing: {centre: [0.5, 1.5]}", r"bearing\.centre\.1: Input should be less than 1"),
        ("textile: {frame_length_m: 0}", r"textile\.frame_length_m: Input should be greater than 0"),
        ("textile: {unknown: 1}", r"textile\.unknown: Extra inputs are not permitted"),
    ],
)
def test_bad_geometry_is_refused_naming_the_field(tmp_path: Path, section: str, message: str) -> None:
    kind = section.split(":")[0]
    path = tmp_path / "line.yaml"
    path.write_text(f"id: x\nkind: {kind}\n{section}\n")
    with pytest.raises(ConfigError, match=message):
        load_line(path)


def test_synthetic_pv_needs_room_for_the_serial_label() -> None:
    line = LineConfig(id="pv-z", kind="pv", pv={"grid_box": [0.02, 0.02, 0.98, 0.95]})
    with pytest.raises(InvalidFieldError, match=r"pv\.grid_box"):
        next(iter_units(Kind.PV, seed=0, imgsz=256, line=line))


@pytest.mark.parametrize(
    ("kind", "location", "columns"),
    [
        (
            "textile",
            {"along_m": 3.2, "across_m": 0.47, "length_m": 0.02, "width_m": 0.05},
            {"along_m": 3.2, "size_m": 0.05, "location_key": "across:0.4m"},
        ),
        ("textile", {"along_m": 1.0}, {"along_m": 1.0, "size_m": None, "location_key": None}),
        ("pv", {"row": 2, "col": 7}, {"cell_row": 2, "cell_col": 7, "location_key": "cell:r2c7"}),
        (
            "bearing",
            {"zone": "bore", "length_m": 0.004},
            {"zone": "bore", "size_m": 0.004, "location_key": "zone:bore"},
        ),
    ],
)
def test_each_kind_stores_its_location_in_the_shared_columns(
    kind: str, location: dict, columns: dict
) -> None:
    got = get_kind(kind).location_columns(location)
    assert set(got) == {"location_key", "along_m", "size_m", "cell_row", "cell_col", "zone"}
    assert {k: got[k] for k in columns} == columns
    assert all(v is None for k, v in got.items() if k not in columns)


def test_grades_of_the_three_kinds_come_from_their_specs() -> None:
    pv = LineConfig(id="p", kind="pv")
    graded = get_kind("pv").grade_unit(
        [],
        [
            StoredDefect(class_name="crack", location={"row": 1, "col": 1}, inspection_id="a"),
            StoredDefect(class_name="crack", location=None, inspection_id="a"),
        ],
        pv.options,
    )
    assert (graded.label, graded.accepted, graded.detail["defects_unlocated"]) == ("B", False, 1)
    bearing = LineConfig(id="b", kind="bearing")
    scrap = get_kind("bearing").grade(
        [StoredDefect(class_name="crack", location={"zone": "face"}, inspection_id="a")], bearing.options
    )
    assert (scrap.label, scrap.head, scrap.accepted) == ("scrap", "part scrap", False)
