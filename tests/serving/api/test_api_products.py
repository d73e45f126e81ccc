"""Products (recipes) of a line: an inspection keeps the product it was judged as, is checked, located and
graded with that product's config, and is found by it (listing, statistics), on SQLite and PostgreSQL; a
product the line does not make is refused naming the field (or query parameter) and the value."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_harness import LINES_DIR, Api, make_settings
from api_payloads import T0, bearing, later, new_id, pv
from fastapi.testclient import TestClient

from linecheck.kinds import get_kind
from linecheck.kinds.pv import PVOptions
from linecheck.serving.api.app import create_app
from linecheck.serving.store.keys import create_key
from linecheck.serving.store.repositories.lines import upsert_line

W = H = 640  # the frames of api_payloads
GRID_BOX = (0.02, 0.02, 0.98, 0.79)  # pv-01's cell area
#: pv-01's products: a 60-cell module as the line's own, a 72-cell one (12 columns), and one whose grade
#: rules make a crack a C defect (the line's own: B).
PRODUCTS: list[dict[str, Any]] = [
    {"id": "PV-6x10", "name": "60-cell module"},
    {"id": "PV-6x12", "name": "72-cell module", "pv": {"cols": 12}},
    {
        "id": "PV-STRICT",
        "pv": {
            "b_grade_classes": ["finger_interruption"],
            "c_grade_classes": ["broken_corner", "dark_cell", "crack"],
        },
    },
]
IDS = [p["id"] for p in PRODUCTS]
#: A box near the module's right edge: column 9 of 10, column 11 of 12.
RIGHT_EDGE = [590.0, 100.0, 620.0, 130.0]


@pytest.fixture(scope="module")
def product_lines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped lines, pv-01 making the three products (bearing-01 and textile-01 none)."""
    folder = tmp_path_factory.mktemp("lines")
    for path in LINES_DIR.glob("*.yaml"):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        if config["id"] == "pv-01":
            config["products"] = PRODUCTS
        (folder / path.name).write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


@pytest.fixture
def api(any_db_url: str, product_lines: Path, tmp_path: Path) -> Iterator[Api]:
    app = create_app(make_settings(any_db_url, tmp_path, lines_dir=product_lines))
    with TestClient(app) as client:
        db = app.state.context.db
        keys = {
            "pv": create_key(db, "line", "pv-01"),
            "bearing": create_key(db, "line", "bearing-01"),
            "reviewer": create_key(db, "reviewer"),
            "viewer": create_key(db, "viewer"),
        }
        yield Api(client=client, context=app.state.context, keys=keys)


def _centre(box: list[float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _post(api: Api, body: dict[str, Any], who: str = "pv") -> None:
    created = api.post("/v1/inspections", who, json=body)
    assert created.status_code == 201, created.text


def _listed(api: Api, **query: str) -> list[str]:
    response = api.get("/v1/inspections", params=query)
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


def _refused(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    return dict(response.json()["error"])


def test_an_inspection_keeps_its_product_everywhere_it_is_returned(api: Api) -> None:
    wide = pv("PV000000000201", [("crack", 0, 11)], product="PV-6x12", trigger_id="M-1")
    narrow = pv("PV000000000202", product="PV-6x10")
    own = pv("PV000000000203")  # an inspector that names no product: the line's own config
    for body in (wide, narrow, own):
        _post(api, body)

    assert [api.get(f"/v1/inspections/{b['id']}").json()["product"] for b in (wide, narrow, own)] == [
        "PV-6x12",
        "PV-6x10",
        None,
    ]
    trace = api.get("/v1/trace/PV000000000201").json()
    assert [i["product"] for i in trace["inspections"]] == ["PV-6x12"]
    assert trace["grade"]["product"] == "PV-6x12"
    assert api.get("/v1/units/PV000000000201/grade").json()["product"] == "PV-6x12"
    assert api.get("/v1/units/PV000000000203/grade").json()["product"] is None
    kiosk = {u["code"]: u["product"] for u in api.get("/v1/lines/pv-01/units").json()["items"]}
    assert kiosk == {"PV000000000201": "PV-6x12", "PV000000000202": "PV-6x10", "PV000000000203": None}
    [queued] = api.get("/v1/review/queue", params={"line_id": "pv-01"}).json()["items"]
    assert (queued["code"], queued["product"]) == ("PV000000000201", "PV-6x12")
    events = api.get("/v1/trace/PV000000000201/epcis").json()["epcisBody"]["eventList"]
    [inspected] = [e for e in events if "linecheck:inspectionID" in e]
    assert inspected["linecheck:product"] == "PV-6x12"
    plain = api.get("/v1/trace/PV000000000203/epcis").json()["epcisBody"]["eventList"]
    assert all("linecheck:product" not in e for e in plain)  # no product: the event as before


def test_the_product_is_part_of_the_inspection_a_retry_must_repeat(api: Api) -> None:
    body = pv("PV000000000211", [("crack", 1, 2)], product="PV-6x12")
    _post(api, body)
    again = api.post("/v1/inspections", "pv", json=body)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    for change in ({"product": "PV-6x10"}, {"product": None}):
        conflict = api.post("/v1/inspections", "pv", json={**body, **change})
        assert conflict.status_code == 409, (change, conflict.text)
    assert api.get(f"/v1/inspections/{body['id']}").json()["product"] == "PV-6x12"


@pytest.mark.parametrize(
    ("who", "body"),
    [
        ("pv", pv("PV000000000221", product="PV-9x9")),
        ("pv", pv("PV000000000222", product="pv-6x12")),  # ids are matched exactly
        ("bearing", bearing("BR0000000221", product="PV-6x12")),  # a product of another line
    ],
    ids=["unknown", "other-case", "other-line"],
)
def test_a_product_the_line_does_not_make_is_refused_naming_it(
    api: Api, who: str, body: dict[str, Any]
) -> None:
    error = _refused(api.post("/v1/inspections", who, json=body))
    assert (error["field"], error["value"]) == ("product", body["product"])
    assert body["line_id"] in error["message"] and body["product"] in error["message"]
    if body["line_id"] == "pv-01":
        assert str(IDS) in error["message"]  # what the line does make
    assert api.get(f"/v1/inspections/{body['id']}").status_code == 404  # nothing stored


def test_a_product_id_that_cannot_be_one_is_refused_by_the_contract(api: Api) -> None:
    body = pv("PV000000000223", product="PV 6x12")
    error = _refused(api.post("/v1/inspections", "pv", json=body))
    assert (error["field"], error["value"]) == ("product", "PV 6x12")


def test_a_batch_with_an_unknown_product_stores_nothing_and_names_the_item(api: Api) -> None:
    items = [
        pv("PV000000000231", id=new_id(), product="PV-6x12"),
        pv("PV000000000232", [("crack", 5, 11)], id=new_id(), product="PV-7x7"),  # no grid to check it in
        pv("PV000000000233", id=new_id()),
    ]
    response = api.post("/v1/inspections", "pv", json={"inspections": items})
    error = _refused(response)
    assert (error["field"], error["value"]) == ("inspections[1].product", "PV-7x7")
    assert [e["field"] for e in response.json()["errors"]] == ["inspections[1].product"]
    assert all(api.get(f"/v1/inspections/{i['id']}").status_code == 404 for i in items)

    items[1]["product"] = "PV-6x12"
    stored = api.post("/v1/inspections", "pv", json={"inspections": items})
    assert stored.status_code == 200 and stored.json()["created"] == 3, stored.text
    assert [api.get(f"/v1/inspections/{i['id']}").json()["product"] for i in items] == [
        "PV-6x12",
        "PV-6x12",
        None,
    ]


def test_locations_and_found_grids_are_checked_with_the_product_s_geometry(api: Api) -> None:
    _post(api, pv("PV000000000241", [("crack", 5, 11)], product="PV-6x12"))  # a 12-column module
    for product in ("PV-6x10", None):
        body = pv("PV000000000242", [("crack", 5, 11)], product=product)
        error = _refused(api.post("/v1/inspections", "pv", json=body))
        assert (error["field"], error["value"]) == ("defects[0].location.col", 11)

    grid = get_kind("pv").geometry_to_json(PVOptions(grid_box=GRID_BOX, cols=12).fit(W, H))
    _post(api, pv("PV000000000243", product="PV-6x12", geometry=grid))
    error = _refused(api.post("/v1/inspections", "pv", json=pv("PV000000000244", geometry=grid)))
    assert (error["field"], error["value"]) == ("geometry.cols", 12)


def test_a_unit_is_graded_with_its_product_s_rules(api: Api) -> None:
    _post(api, pv("PV000000000251", [("crack", 1, 2)]))
    _post(api, pv("PV000000000252", [("crack", 1, 2)], product="PV-6x10"))
    _post(api, pv("PV000000000253", [("crack", 1, 2)], product="PV-STRICT"))
    grades = [api.get(f"/v1/units/PV00000000025{n}/grade").json() for n in (1, 2, 3)]
    assert [g["grade"] for g in grades] == ["B", "B", "C"]  # a crack is a C defect of PV-STRICT only
    assert api.get("/v1/trace/PV000000000253").json()["grade"]["grade"] == "C"
    status = {u["code"]: u["grade"] for u in api.get("/v1/lines/pv-01/units").json()["items"]}
    assert status["PV000000000253"] == "C"


def test_a_unit_is_graded_as_the_product_of_its_newest_frame(api: Api) -> None:
    code = "PV000000000261"
    _post(api, pv(code, [("crack", 1, 2)], captured_at=later(0).isoformat()))
    _post(api, pv(code, [("crack", 1, 3)], captured_at=later(1).isoformat(), product="PV-STRICT"))
    grade = api.get(f"/v1/units/{code}/grade").json()
    assert (grade["product"], grade["grade"]) == ("PV-STRICT", "C")


def test_a_corrected_or_added_box_is_located_in_the_product_s_grid(api: Api) -> None:
    twelve, ten = PVOptions(grid_box=GRID_BOX, cols=12).fit(W, H), PVOptions(grid_box=GRID_BOX).fit(W, H)
    row, col = twelve.cell_of(*_centre(RIGHT_EDGE))
    assert (col, ten.cell_of(*_centre(RIGHT_EDGE))[1]) == (11, 9), "the box must fall in other columns"
    body = pv("PV000000000271", [("crack", 0, 0)], product="PV-6x12")
    _post(api, body)
    defect = api.get(f"/v1/inspections/{body['id']}").json()["defects"][0]["id"]

    moved = api.post(
        f"/v1/defects/{defect}/review", "reviewer", json={"decision": "confirm", "bbox": RIGHT_EDGE}
    )
    assert moved.status_code == 201, moved.text
    assert moved.json()["final_location"] == {"row": row, "col": col}
    grade = api.get("/v1/units/PV000000000271/grade").json()
    assert grade["detail"]["cells_affected"] == [[row, col]]

    drawn = api.post(
        f"/v1/inspections/{body['id']}/defects",
        "reviewer",
        json={"class_name": "dark_cell", "bbox": RIGHT_EDGE},
    )
    assert drawn.status_code == 201, drawn.text
    assert drawn.json()["location"] == {"row": row, "col": col}

    own = pv("PV000000000272", [("crack", 0, 0)])  # the line's own 10 columns
    _post(api, own)
    other = api.get(f"/v1/inspections/{own['id']}").json()["defects"][0]["id"]
    placed = api.post(
        f"/v1/defects/{other}/review", "reviewer", json={"decision": "confirm", "bbox": RIGHT_EDGE}
    )
    assert placed.json()["final_location"] == {"row": row, "col": 9}


def test_inspections_are_listed_by_product(api: Api) -> None:
    wide = [pv(f"PV00000000028{n}", product="PV-6x12") for n in (1, 2)]
    narrow = pv("PV000000000283", product="PV-6x10")
    own = pv("PV000000000284")
    ring = bearing("BR0000000281")
    for body in (*wide, narrow, own):
        _post(api, body)
    _post(api, ring, "bearing")

    assert _listed(api, line_id="pv-01", product="PV-6x12") == sorted(b["id"] for b in wide)
    assert _listed(api, product="PV-6x10") == [narrow["id"]]
    assert _listed(api, line_id="pv-01", product="PV-STRICT") == []  # a product not made yet
    assert len(_listed(api, line_id="pv-01")) == 4  # no filter: every product and none
    page = api.get("/v1/inspections", params={"product": "PV-6x12"}).json()
    assert page["total"] == 2 and {i["product"] for i in page["items"]} == {"PV-6x12"}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"line_id": "pv-01", "product": "PV-9x9"}, ["pv-01", str(IDS)]),
        ({"line_id": "bearing-01", "product": "PV-6x12"}, ["bearing-01"]),  # a product of another line
        ({"product": "PV-9x9"}, ["any registered line", "PV-6x12"]),
    ],
    ids=["unknown-of-line", "other-line", "unknown-anywhere"],
)
def test_a_listing_filter_by_a_product_not_made_is_refused(
    api: Api, query: dict[str, str], words: list[str]
) -> None:
    error = _refused(api.get("/v1/inspections", params=query))
    assert (error["field"], error["value"]) == ("product", query["product"])
    assert all(word in error["message"] for word in words), error["message"]


@pytest.mark.parametrize("value", ["PV 6x12", "-PV", "P" * 65])
def test_a_product_filter_that_cannot_be_a_product_is_refused(api: Api, value: str) -> None:
    for path in ("/v1/inspections", "/v1/lines/pv-01/stats"):
        assert _refused(api.get(path, params={"product": value}))["field"] == "product"


def test_statistics_of_one_product(api: Api) -> None:
    bodies = [
        pv("PV000000000291", [("crack", 1, 11)], product="PV-6x12", captured_at=later(0).isoformat()),
        pv("PV000000000291", [("crack", 1, 11)], product="PV-6x12", captured_at=later(1).isoformat()),
        pv("PV000000000292", [("dark_cell", 0, 0)], product="PV-6x12", captured_at=later(2).isoformat()),
        pv("PV000000000293", [("crack", 2, 2)], product="PV-STRICT", captured_at=later(3).isoformat()),
        pv("PV000000000294", [("finger_interruption", 3, 3)], captured_at=later(4).isoformat()),
        pv("PV000000000295", product="PV-6x10", captured_at=later(5).isoformat()),
    ]
    for body in bodies:
        _post(api, body)
    window = {"since": T0.replace(hour=6).isoformat(), "until": T0.replace(hour=13).isoformat()}

    def totals(product: str | None) -> dict[str, Any]:
        params = {**window, **({"product": product} if product else {})}
        response = api.get("/v1/lines/pv-01/stats", params=params)
        assert response.status_code == 200, response.text
        assert response.json()["product"] == product
        return dict(response.json()["totals"])

    everything = totals(None)
    assert (everything["inspections"], everything["units"], everything["defects"]) == (6, 5, 5)
    wide = totals("PV-6x12")
    assert (wide["inspections"], wide["units"], wide["defects"]) == (3, 2, 3)
    assert wide["defects_by_class"] == {"crack": 2, "dark_cell": 1}
    # PV291 has two cracks (grade B), PV292 a dark cell (C): neither is an A module, both fail
    assert wide["units_by_status"] == {"accepted": 0, "released": 0, "failed": 2, "not_inspected": 0}
    strict = totals("PV-STRICT")
    assert (strict["units"], strict["failed_units"], strict["defects_by_class"]) == (1, 1, {"crack": 1})
    assert totals("PV-6x10")["units_by_status"]["accepted"] == 1  # the module without defects

    error = _refused(api.get("/v1/lines/pv-01/stats", params={**window, "product": "PV-9x9"}))
    assert (error["field"], error["value"]) == ("product", "PV-9x9")
    assert str(IDS) in error["message"]
    other = _refused(api.get("/v1/lines/bearing-01/stats", params={"product": "PV-6x12"}))
    assert (other["field"], other["value"]) == ("product", "PV-6x12")


def test_a_stored_product_the_line_no_longer_makes_is_read_with_the_line_s_own_config(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    body = pv("PV000000000301", [("crack", 1, 2)], product="PV-STRICT")
    _post(api, body)
    assert api.get("/v1/units/PV000000000301/grade").json()["grade"] == "C"
    line = api.context.lines.require("pv-01")
    with api.context.db.writer() as session:  # the line's YAML drops its products
        upsert_line(session, line.model_copy(update={"products": []}), actor="test")
        session.commit()
    api.context.lines.invalidate()

    with caplog.at_level(logging.WARNING, logger="linecheck.serving.api.services.products"):
        grade = api.get("/v1/units/PV000000000301/grade").json()
        assert (grade["product"], grade["grade"]) == (None, "B")  # graded with the line's own rules
        assert api.get(f"/v1/inspections/{body['id']}").json()["product"] == "PV-STRICT"  # as stored
        defect = api.get(f"/v1/inspections/{body['id']}").json()["defects"][0]["id"]
        moved = api.post(
            f"/v1/defects/{defect}/review", "reviewer", json={"decision": "confirm", "bbox": RIGHT_EDGE}
        )
        assert moved.status_code == 201 and moved.json()["final_location"]["col"] == 9, moved.text
    assert "stored product 'PV-STRICT'" in caplog.text


def test_the_line_answers_each_product_s_config_as_the_api_merges_it(api: Api) -> None:
    response = api.get("/v1/lines/pv-01")
    assert response.status_code == 200, response.text
    line = response.json()
    configs = line["product_configs"]
    assert sorted(configs) == sorted(IDS)
    assert configs["PV-6x12"]["pv"]["cols"] == 12 and line["config"]["pv"]["cols"] == 10
    assert configs["PV-6x12"]["pv"]["rows"] == line["config"]["pv"]["rows"]  # the line's, kept
    assert "crack" in configs["PV-STRICT"]["pv"]["c_grade_classes"]
    assert "products" not in configs["PV-6x12"] and configs["PV-6x10"]["classes"] == line["config"]["classes"]
    listed = {item["id"]: item for item in api.get("/v1/lines").json()}
    assert listed["pv-01"]["product_configs"] == configs and listed["bearing-01"]["product_configs"] == {}
