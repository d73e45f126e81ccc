"""``geometry_mode: auto`` lines: the geometry found in a frame is stored with its inspection, and a box a
reviewer corrects or adds is placed with it (not with the line YAML's), on SQLite and PostgreSQL; a
geometry the line's kind cannot read is refused naming the field and the value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_harness import LINES_DIR, Api, make_settings
from api_payloads import bearing, pv, textile
from fastapi.testclient import TestClient

from linecheck.kinds import get_kind
from linecheck.kinds.bearing import BearingGeometry, BearingOptions
from linecheck.kinds.pv import PVGrid, PVGridFit, PVOptions
from linecheck.serving.api.app import create_app
from linecheck.serving.store.keys import create_key

W = H = 640  # the frames of api_payloads
#: The module as the EL frame showed it: moved right and down, smaller and tilted (the YAML's grid is
#: (0.02, 0.02, 0.98, 0.79) of the frame, pitch 61.4 x 82.1 px, untilted).
FOUND_GRID = PVGridFit(
    grid=PVGrid(x0=150.0, y0=150.0, cell_w=46.0, cell_h=68.0, rows=6, cols=10, gap=2.8),
    angle_deg=2.0,
    width=W,
    height=H,
)
#: The ring as the frame showed it: off-centre and smaller than the YAML's (centred, r = 300.8 px).
FOUND_RING = BearingGeometry(cx=250.0, cy=260.0, r_outer=180.0, r_split=115.2, r_inner=50.4)


@pytest.fixture(scope="module")
def auto_lines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped lines, pv-01 and bearing-01 finding their product in every frame."""
    folder = tmp_path_factory.mktemp("lines")
    for path in LINES_DIR.glob("*.yaml"):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        kind = config["kind"]
        if kind in ("pv", "bearing"):
            config[kind] = {**config.get(kind, {}), "geometry_mode": "auto"}
        (folder / path.name).write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


@pytest.fixture
def auto_api(any_db_url: str, auto_lines: Path, tmp_path: Path) -> Iterator[Api]:
    app = create_app(make_settings(any_db_url, tmp_path, lines_dir=auto_lines))
    with TestClient(app) as client:
        db = app.state.context.db
        keys = {
            "textile": create_key(db, "line", "textile-01"),
            "pv": create_key(db, "line", "pv-01"),
            "bearing": create_key(db, "line", "bearing-01"),
            "reviewer": create_key(db, "reviewer"),
            "viewer": create_key(db, "viewer"),
        }
        yield Api(client=client, context=app.state.context, keys=keys)


def _centre(box: list[float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _ingest(api: Api, who: str, body: dict[str, Any]) -> int:
    created = api.post("/v1/inspections", who, json=body)
    assert created.status_code == 201, created.text
    return int(api.get(f"/v1/inspections/{body['id']}").json()["defects"][0]["id"])


def _review(api: Api, defect: int, **body: Any) -> dict[str, Any]:
    response = api.post(f"/v1/defects/{defect}/review", "reviewer", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _add(api: Api, inspection_id: str, class_name: str, bbox: list[float]) -> dict[str, Any]:
    response = api.post(
        f"/v1/inspections/{inspection_id}/defects", "reviewer", json={"class_name": class_name, "bbox": bbox}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_corrected_pv_box_is_placed_in_the_grid_found_in_its_frame(auto_api: Api) -> None:
    spec, yaml_grid = get_kind("pv"), PVOptions(grid_box=(0.02, 0.02, 0.98, 0.79)).fit(W, H)
    moved, drawn = [300.0, 300.0, 320.0, 320.0], [420.0, 180.0, 440.0, 200.0]
    for box in (moved, drawn):
        found, fixed = FOUND_GRID.cell_of(*_centre(box)), yaml_grid.cell_of(*_centre(box))
        assert found != fixed, f"the test needs a box whose cell the two grids disagree on ({found})"
    geometry = spec.geometry_to_json(FOUND_GRID)
    body = pv("PV000000000101", [("crack", 0, 0)], geometry=geometry)
    body["defects"][0]["location"]["geometry"] = "found"
    defect = _ingest(auto_api, "pv", body)
    assert auto_api.get(f"/v1/inspections/{body['id']}").json()["geometry"] == geometry

    row, col = FOUND_GRID.cell_of(*_centre(moved))
    corrected = _review(auto_api, defect, decision="confirm", bbox=moved)
    assert corrected["final_location"] == {"row": row, "col": col, "geometry": "found"}
    grade = auto_api.get("/v1/units/PV000000000101/grade").json()
    assert grade["detail"]["cells_affected"] == [[row, col]]

    row, col = FOUND_GRID.cell_of(*_centre(drawn))
    added = _add(auto_api, body["id"], "dark_cell", drawn)
    assert added["location"] == {"row": row, "col": col, "geometry": "found"}


def test_without_a_stored_geometry_the_yaml_grid_places_the_box_and_says_so(auto_api: Api) -> None:
    yaml_grid = PVOptions(grid_box=(0.02, 0.02, 0.98, 0.79)).fit(W, H)
    body = pv("PV000000000102", [("crack", 0, 0)])  # the frame showed no module: no geometry sent
    defect = _ingest(auto_api, "pv", body)
    assert auto_api.get(f"/v1/inspections/{body['id']}").json()["geometry"] is None
    row, col = yaml_grid.cell_of(310.0, 310.0)
    corrected = _review(auto_api, defect, decision="confirm", bbox=[300, 300, 320, 320])
    assert corrected["final_location"] == {"row": row, "col": col, "geometry": "fixed"}


def test_a_corrected_bearing_box_is_zoned_on_the_ring_found_in_its_frame(auto_api: Api) -> None:
    yaml_ring = BearingOptions().geometry(W, H)
    box = [330.0, 250.0, 340.0, 260.0]  # 85 px right of the found centre: its inner race
    assert (FOUND_RING.zone(*_centre(box)), yaml_ring.zone(*_centre(box))) == ("inner_race", "bore")
    geometry = get_kind("bearing").geometry_to_json(FOUND_RING)
    body = bearing("BR0000000101", [("scratch", "face")], geometry=geometry)
    defect = _ingest(auto_api, "bearing", body)
    corrected = _review(auto_api, defect, decision="confirm", bbox=box)
    assert corrected["final_location"] == {"zone": "inner_race", "geometry": "found"}
    assert _add(auto_api, body["id"], "dent", [600, 600, 630, 630])["location"] == {
        "zone": "face",
        "geometry": "found",
    }


def test_a_found_geometry_is_part_of_the_inspection_for_retries(auto_api: Api) -> None:
    body = pv("PV000000000103", geometry=get_kind("pv").geometry_to_json(FOUND_GRID))
    assert auto_api.post("/v1/inspections", "pv", json=body).status_code == 201
    reordered = {**body, "geometry": dict(reversed(list(body["geometry"].items())))}
    again = auto_api.post("/v1/inspections", "pv", json=reordered)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    other = {**body, "geometry": {**body["geometry"], "x0": 151.0}}
    assert auto_api.post("/v1/inspections", "pv", json=other).status_code == 409


PV_FOUND = {
    "x0": 150.0,
    "y0": 150.0,
    "cell_w": 46.0,
    "cell_h": 68.0,
    "rows": 6,
    "cols": 10,
    "gap": 2.8,
    "angle_deg": 2.0,
}


@pytest.mark.parametrize(
    ("who", "body", "field", "value"),
    [
        ("pv", pv(geometry={**PV_FOUND, "rows": 8}), "geometry.rows", 8),
        ("pv", pv(geometry={**PV_FOUND, "cell_w": -46.0}), "geometry.cell_w", -46.0),
        ("pv", pv(geometry={**PV_FOUND, "angle_deg": "2"}), "geometry.angle_deg", "2"),
        ("pv", pv(geometry={**PV_FOUND, "skew": 1.0}), "geometry.skew", 1.0),
        ("pv", pv(geometry=[150.0, 150.0]), "geometry", [150.0, 150.0]),
        ("pv", pv(geometry={**PV_FOUND, "x0": 2**70}), "geometry.x0", str(2**70)),  # sent as text
        (
            "bearing",
            bearing(geometry={"cx": 250.0, "cy": 260.0, "r_outer": 180.0, "r_split": 190.0, "r_inner": 50.0}),
            "geometry.r_split",
            190.0,
        ),
        ("textile", textile(geometry={"x0": 1.0}), "geometry", {"x0": 1.0}),
        (
            "pv",
            {"inspections": [pv(), pv(geometry={**PV_FOUND, "cols": 0})]},
            "inspections[1].geometry.cols",
            0,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,  # the bodies' ids are random: names from the rest
)
def test_a_geometry_the_lines_kind_cannot_read_is_refused_by_name(
    auto_api: Api, who: str, body: dict[str, Any], field: str, value: Any
) -> None:
    refused = auto_api.post("/v1/inspections", who, json=body)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["field"], error["value"]) == (field, value)
    assert field in error["message"]
