"""A found geometry as JSON and back (what an inspection carries and the API stores), per kind; bad JSON
is refused naming ``geometry.<field>`` and the value; kinds without a geometry have none to read."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
import pytest

from linecheck.datasets.synth.bearing import BearingGenerator
from linecheck.datasets.synth.pv import PVGenerator
from linecheck.errors import InvalidFieldError
from linecheck.kinds import get_kind
from linecheck.kinds.bearing import BearingGeometry, BearingOptions
from linecheck.kinds.pv import PVGrid, PVGridFit, PVOptions

S = 320


def _turned(image: np.ndarray, angle: float) -> np.ndarray:
    matrix = cv2.getRotationMatrix2D((S / 2, S / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (S, S), borderValue=(0, 0, 0))


def _through_json(kind: str, geometry: object, options: Any) -> object:
    """``geometry`` written by its kind, sent as JSON text and read back for an S x S frame."""
    spec = get_kind(kind)
    data = json.loads(json.dumps(spec.geometry_to_json(geometry), allow_nan=False))
    return spec.geometry_from_json(data, options, width=S, height=S)


@pytest.mark.parametrize("angle", [0.0, 2.0, -1.5])
def test_a_found_pv_grid_comes_back_from_json_unchanged(angle: float) -> None:
    options = PVOptions(rows=6, cols=10)
    truth = PVOptions(grid_box=(0.1, 0.08, 0.9, 0.7))
    image = (
        PVGenerator(seed=4, imgsz=S, layouts=(truth,))
        .sample(np.random.default_rng(4), n_defects=2, code="PV000000000001")
        .image
    )
    found = get_kind("pv").find_geometry(_turned(image, angle), options)
    back = _through_json("pv", found, options)
    assert back == found
    assert isinstance(back, PVGridFit) and (back.width, back.height) == (S, S)


@pytest.mark.parametrize("angle", [0.0, 25.0])
def test_a_found_bearing_ring_comes_back_from_json_unchanged(angle: float) -> None:
    truth = BearingOptions(centre=(0.42, 0.56), outer_radius_frac=0.36)
    image = (
        BearingGenerator(seed=2, imgsz=S, config=truth)
        .sample(np.random.default_rng(1), n_defects=2, code="BR0000000001")
        .image
    )
    found = get_kind("bearing").find_geometry(_turned(image, angle), BearingOptions())
    assert _through_json("bearing", found, BearingOptions()) == found


def test_the_json_is_plain_numbers_named_by_field() -> None:
    fit = PVGridFit(
        grid=PVGrid(x0=12.5, y0=-3.0, cell_w=30.0, cell_h=40.0, rows=6, cols=10, gap=2.0),
        angle_deg=-1.25,
        width=S,
        height=S,
    )
    assert get_kind("pv").geometry_to_json(fit) == {
        "x0": 12.5, "y0": -3.0, "cell_w": 30.0, "cell_h": 40.0, "gap": 2.0, "rows": 6, "cols": 10,
        "angle_deg": -1.25,
    }  # fmt: skip
    ring = BearingGeometry(cx=160.0, cy=150.0, r_outer=100.0, r_split=64.0, r_inner=28.0)
    assert get_kind("bearing").geometry_to_json(ring) == {
        "cx": 160.0, "cy": 150.0, "r_outer": 100.0, "r_split": 64.0, "r_inner": 28.0,
    }  # fmt: skip


PV_JSON = {
    "x0": 12.5,
    "y0": 8.0,
    "cell_w": 30.0,
    "cell_h": 40.0,
    "gap": 2.0,
    "rows": 6,
    "cols": 10,
    "angle_deg": 1.0,
}
RING_JSON = {"cx": 160.0, "cy": 150.0, "r_outer": 100.0, "r_split": 64.0, "r_inner": 28.0}


@pytest.mark.parametrize(
    ("kind", "data", "field", "value"),
    [
        ("pv", [1, 2], "geometry", [1, 2]),
        ("pv", {**PV_JSON, "cell_w": 0.0}, "geometry.cell_w", 0.0),
        ("pv", {**PV_JSON, "cell_h": "40"}, "geometry.cell_h", "40"),
        ("pv", {**PV_JSON, "rows": 6.0}, "geometry.rows", 6.0),
        ("pv", {**PV_JSON, "rows": 8}, "geometry.rows", 8),
        ("pv", {**PV_JSON, "angle_deg": 400.0}, "geometry.angle_deg", 400.0),
        ("pv", {**PV_JSON, "x0": 1e9}, "geometry.x0", 1e9),
        ("pv", {**PV_JSON, "tilt": 1.0}, "geometry.tilt", 1.0),
        ("pv", {k: v for k, v in PV_JSON.items() if k != "gap"}, "geometry.gap", None),
        ("bearing", {**RING_JSON, "r_outer": -5.0}, "geometry.r_outer", -5.0),
        ("bearing", {**RING_JSON, "r_split": 120.0}, "geometry.r_split", 120.0),
        ("bearing", {**RING_JSON, "r_inner": 64.0}, "geometry.r_inner", 64.0),
        ("bearing", {**RING_JSON, "cx": True}, "geometry.cx", True),
        ("textile", {"x0": 1.0}, "geometry", {"x0": 1.0}),
    ],
    ids=lambda v: str(v)[:30],
)
def test_json_that_is_not_the_kinds_geometry_is_refused_naming_the_field(
    kind: str, data: Any, field: str, value: Any
) -> None:
    spec = get_kind(kind)
    with pytest.raises(InvalidFieldError) as caught:
        spec.geometry_from_json(data, spec.options(), width=S, height=S)
    assert (caught.value.field, caught.value.value) == (field, value)


def test_a_kind_without_a_geometry_has_none_to_write() -> None:
    with pytest.raises(NotImplementedError, match="textile has no geometry"):
        get_kind("textile").geometry_to_json(object())
    with pytest.raises(InvalidFieldError, match="expected a PVGridFit"):
        get_kind("pv").geometry_to_json(BearingGeometry(cx=1, cy=1, r_outer=3, r_split=2, r_inner=1))
