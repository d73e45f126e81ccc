"""A unit's trigger (the PLC's MeasId) and encoder count are stored with its inspection and find it again,
on SQLite and PostgreSQL; a trigger the store cannot hold is refused naming the field and the value."""

from __future__ import annotations

from typing import Any

import pytest
from api_harness import Api
from api_payloads import bearing, new_id, pv

from linecheck.contract import INT64_MAX, TRIGGER_ID_MAX_CHARS
from linecheck.serving.api.errors import excerpt


@pytest.fixture
def db_url(any_db_url: str) -> str:
    """Every test here runs on both databases (the ``api`` fixture builds on this URL)."""
    return any_db_url


def _stored(api: Api, body: dict[str, Any], who: str) -> dict[str, Any]:
    created = api.post("/v1/inspections", who, json=body)
    assert created.status_code == 201, created.text
    return dict(api.get(f"/v1/inspections/{body['id']}").json())


def _listed(api: Api, **query: str) -> list[str]:
    response = api.get("/v1/inspections", params=query)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_triggered_unit_is_stored_with_its_trigger_and_found_by_it(api: Api) -> None:
    job = pv("PV000000000101", trigger_id="M-1001", encoder_count=52_311)
    other_job = pv("PV000000000102", trigger_id="M-1002", encoder_count=-(2**31))  # a counter that wrapped
    free_running = pv("PV000000000103", trigger_id="el:17")
    same_meas_id_other_line = bearing(trigger_id="M-1001", encoder_count=7)
    plain = pv("PV000000000104")  # an inspector that sends neither (or one from before they existed)

    stored = _stored(api, job, "pv")
    assert (stored["trigger_id"], stored["encoder_count"]) == ("M-1001", 52_311)
    assert _stored(api, other_job, "pv")["encoder_count"] == -(2**31)
    assert _stored(api, free_running, "pv")["trigger_id"] == "el:17"
    _stored(api, same_meas_id_other_line, "bearing")
    untriggered = _stored(api, plain, "pv")
    assert (untriggered["trigger_id"], untriggered["encoder_count"]) == (None, None)

    assert _listed(api, line_id="pv-01", trigger_id="M-1001") == [job["id"]]
    assert sorted(_listed(api, trigger_id="M-1001")) == sorted([job["id"], same_meas_id_other_line["id"]])
    assert _listed(api, line_id="pv-01", trigger_id="M-9999") == []
    trace = api.get("/v1/trace/PV000000000101").json()
    assert [(i["trigger_id"], i["encoder_count"]) for i in trace["inspections"]] == [("M-1001", 52_311)]


def test_the_trigger_is_part_of_the_inspection_a_retry_must_repeat(api: Api) -> None:
    body = pv("PV000000000111", trigger_id="M-2001", encoder_count=10)
    assert api.post("/v1/inspections", "pv", json=body).status_code == 201
    assert api.post("/v1/inspections", "pv", json=body).json()["status"] == "duplicate"
    for change in ({"trigger_id": "M-2002"}, {"encoder_count": 11}, {"trigger_id": None}):
        conflict = api.post("/v1/inspections", "pv", json={**body, **change})
        assert conflict.status_code == 409, (change, conflict.text)
    assert _listed(api, line_id="pv-01", trigger_id="M-2001") == [body["id"]]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("trigger_id", ""),
        ("trigger_id", "M" * (TRIGGER_ID_MAX_CHARS + 1)),
        ("trigger_id", "M-1\x00"),
        ("trigger_id", 1001),
        ("encoder_count", INT64_MAX + 1),
        ("encoder_count", -INT64_MAX - 2),
        ("encoder_count", 1.5),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_a_trigger_the_store_cannot_hold_is_refused_naming_it(api: Api, field: str, value: Any) -> None:
    body = pv("PV000000000121", **{field: value})
    response = api.post("/v1/inspections", "pv", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["field"], error["value"]) == (field, excerpt(value))  # long text cut, a big number as text
    assert api.get(f"/v1/inspections/{body['id']}").status_code == 404  # nothing stored


@pytest.mark.parametrize("value", ["M" * (TRIGGER_ID_MAX_CHARS + 1), "M-1\x07", ""])
def test_a_trigger_filter_the_store_cannot_hold_is_refused(api: Api, value: str) -> None:
    response = api.get("/v1/inspections", params={"trigger_id": value})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "trigger_id"


def test_a_batch_keeps_each_unit_s_trigger(api: Api) -> None:
    items = [
        pv(f"PV00000000013{i}", id=new_id(), trigger_id=f"M-3{i:03d}", encoder_count=i * 100)
        for i in range(3)
    ]
    response = api.post("/v1/inspections", "pv", json={"inspections": items})
    assert response.status_code == 200 and response.json()["created"] == 3, response.text
    for i, item in enumerate(items):
        assert _listed(api, line_id="pv-01", trigger_id=f"M-3{i:03d}") == [item["id"]]
        assert api.get(f"/v1/inspections/{item['id']}").json()["encoder_count"] == i * 100
