"""POST /v1/inspections: creation, idempotent retries, conflicts, batches, validation errors."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from api_harness import Api, make_settings
from api_payloads import bearing, new_id, pv, textile
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linecheck.serving.api.app import create_app
from linecheck.serving.store.keys import create_key
from linecheck.serving.store.models import Defect, Inspection, Unit


def _count(api: Api, model: Any) -> int:
    with api.context.db.reader() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_single_inspection_is_created_then_a_retry_is_a_duplicate(api: Api) -> None:
    body = textile()
    first = api.post("/v1/inspections", "textile", json=body)
    assert first.status_code == 201, first.text
    assert first.json() == {"id": body["id"], "status": "created"}
    # the same content with keys (also inside the free-form location) in another order
    retry = dict(reversed(list(copy.deepcopy(body).items())))
    location = retry["defects"][0]["location"]
    retry["defects"][0]["location"] = dict(reversed(list(location.items())))
    again = api.post("/v1/inspections", "textile", json=retry)
    assert again.status_code == 200
    assert again.json() == {"id": body["id"], "status": "duplicate"}
    assert (_count(api, Inspection), _count(api, Defect), _count(api, Unit)) == (1, 1, 1)


def test_same_id_with_other_content_is_a_conflict(api: Api) -> None:
    body = textile()
    assert api.post("/v1/inspections", "textile", json=body).status_code == 201
    changed = copy.deepcopy(body)
    changed["defects"][0]["confidence"] = 0.5
    response = api.post("/v1/inspections", "textile", json=changed)
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["type"], error["field"], error["value"]) == ("conflict", "id", body["id"])
    assert _count(api, Defect) == 1


def test_unit_is_created_on_first_inspection_with_the_line_kind(api: Api) -> None:
    api.post("/v1/inspections", "pv", json=pv("PV000000000009", [("crack", 1, 4)]))
    api.post("/v1/inspections", "pv", json=pv("PV000000000009"))
    with api.context.db.reader() as session:
        units = session.scalars(select(Unit)).all()
    assert [(u.code, u.kind, u.line_id) for u in units] == [("PV000000000009", "pv", "pv-01")]


def test_batch_reports_created_and_duplicates_in_order(api: Api) -> None:
    a, b, c = textile(), textile(), textile(code="RL0000000043")
    assert api.post("/v1/inspections", "textile", json=b).status_code == 201
    response = api.post("/v1/inspections", "textile", json={"inspections": [a, b, c, a]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "results": [
            {"id": a["id"], "status": "created"},
            {"id": b["id"], "status": "duplicate"},
            {"id": c["id"], "status": "created"},
            {"id": a["id"], "status": "duplicate"},
        ],
        "created": 2,
        "duplicates": 2,
    }
    assert _count(api, Inspection) == 3


def test_batch_is_atomic_and_names_every_bad_item(api: Api) -> None:
    good = textile()
    bad_bbox = textile()
    bad_bbox["defects"][0]["bbox"] = [10, 20, 700, 60]
    bad_class = textile()
    bad_class["defects"][0]["class_name"] = "crack"
    response = api.post("/v1/inspections", "textile", json={"inspections": [good, bad_bbox, bad_class]})
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["inspections[1].defects[0].bbox", "inspections[2].defects[0].class_name"]
    assert response.json()["errors"][0]["value"] == [10, 20, 700, 60]
    assert _count(api, Inspection) == 0


def test_batch_with_a_conflict_stores_nothing(api: Api) -> None:
    stored = textile()
    api.post("/v1/inspections", "textile", json=stored)
    changed = {**stored, "verdict": "pass"}
    fresh = textile()
    response = api.post("/v1/inspections", "textile", json={"inspections": [fresh, changed]})
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "inspections[1].id"
    assert _count(api, Inspection) == 1


def _set(path: str, value: Any) -> Any:
    def apply(body: dict[str, Any]) -> None:
        target: Any = body
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return apply


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        (_set("id", "short"), "id", "short"),
        (_set("id", "../../etc/passwd"), "id", "../../etc/passwd"),
        (_set("line_id", "weaving-99"), "line_id", "weaving-99"),
        (_set("code", "RL42"), "code", "RL42"),
        (_set("code", None), "code", None),
        (_set("captured_at", "2026-11-23T10:00:00"), "captured_at", "2026-11-23T10:00:00"),
        (_set("verdict", "maybe"), "verdict", "maybe"),
        (_set("model_name", None), "model_name", None),
        (_set("image_width", 0), "image_width", 0),
        (_set("image_ref", "abc"), "image_ref", "abc"),
        (_set("defects.0.bbox", [50, 20, 10, 60]), "defects[0].bbox", [50, 20, 10, 60]),
        (_set("defects.0.bbox", [10, 20, 50]), "defects[0].bbox", [10, 20, 50]),
        (_set("defects.0.bbox", [10, 20, 50, 641]), "defects[0].bbox", [10, 20, 50, 641]),
        (_set("defects.0.confidence", 1.5), "defects[0].confidence", 1.5),
        (_set("defects.0.class_name", "scratch"), "defects[0].class_name", "scratch"),
        (_set("defects.0.location", {"row": 1, "col": 2}), "defects[0].location.along_m", None),
        (_set("defects.0.location.along_m", -1), "defects[0].location.along_m", -1),
        (_set("defects.0.crop_ref", "../x"), "defects[0].crop_ref", "../x"),
        (_set("defects.0.colour", "red"), "defects[0].colour", "red"),
        (_set("surprise", 1), "surprise", 1),
        (_set("station", _DELETE), "station", None),
    ],
)
def test_validation_errors_name_the_field_and_value(api: Api, change: Any, field: str, value: Any) -> None:
    body = textile()
    change(body)
    response = api.post("/v1/inspections", "textile", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_field"
    assert error["field"] == field
    assert error["value"] == value
    assert field in error["message"]
    assert _count(api, Inspection) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (pv(cells=[("crack", 6, 0)]), "defects[0].location.row"),
        (pv(cells=[("crack", 0, 10)]), "defects[0].location.col"),
        (pv(code="RL0000000001"), "code"),
        (bearing(defects=[("rust", "shaft")]), "defects[0].location.zone"),
        (bearing(code_status="code_unread"), "code"),
        (bearing(verdict="not_inspected", defects=[("rust", "face")]), "defects"),
    ],
)
def test_validation_against_the_line_kind(api: Api, body: dict[str, Any], field: str) -> None:
    who = body["line_id"].split("-")[0]
    response = api.post("/v1/inspections", who, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_code_unread_and_not_inspected_are_accepted_and_listed(api: Api) -> None:
    unread = bearing(code=None, code_status="code_unread", defects=[("dent", "face")])
    skipped = bearing(
        verdict="not_inspected", model_name=None, model_version=None, reason="inference timeout"
    )
    for body in (unread, skipped):
        assert api.post("/v1/inspections", "bearing", json=body).status_code == 201
    listing = api.get("/v1/inspections", params={"code_status": "code_unread"}).json()
    assert [item["id"] for item in listing["items"]] == [unread["id"]]
    assert listing["total"] == 1
    one = api.get(f"/v1/inspections/{skipped['id']}").json()
    assert (one["verdict"], one["reason"], one["model_name"]) == ("not_inspected", "inference timeout", None)


def test_not_json_and_too_large(api: Api) -> None:
    headers = {**api.headers("textile"), "content-type": "application/json"}
    response = api.client.post("/v1/inspections", content=b"{not json", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body"
    many = {"inspections": [textile(id=new_id()) for _ in range(501)]}
    assert api.post("/v1/inspections", "textile", json=many).status_code == 413


def test_body_over_the_limit_is_413(db_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(db_url, tmp_path, max_body_bytes=2000))
    with TestClient(app) as client:
        key = create_key(app.state.context.db, "line", "textile-01")
        big = {"inspections": [textile() for _ in range(5)]}
        response = client.post("/v1/inspections", json=big, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "payload_too_large"
    assert "2000" in response.json()["error"]["message"]
