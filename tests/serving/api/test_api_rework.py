"""Rework on SQLite and PostgreSQL: a bearing graded rework is reworked (a ``reworked`` process event) and
inspected again; its grade then counts only the inspections after the rework, the same in the grade, the
trace, the line's latest units and the shipping check; until it is inspected again it keeps the grade that
sent it to rework; the trace keeps every inspection, and EPCIS exports the rework as bizStep repairing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_harness import Api
from api_payloads import bearing

CODE = "BR0000000701"


@pytest.fixture
def api(qa_api: Api) -> Api:
    return qa_api


def iso(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def inspect_(api: Api, minutes_ago: float, defects: list[tuple[str, str]] | None = None) -> None:
    body = bearing(CODE, defects, id=uuid.uuid4().hex, captured_at=iso(minutes_ago))
    response = api.post("/v1/inspections", "bearing", json=body)
    assert response.status_code == 201, response.text


def grade(api: Api) -> dict[str, Any]:
    response = api.get(f"/v1/units/{CODE}/grade")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_reworked_unit_is_graded_on_its_inspection_after_the_rework(api: Api) -> None:
    inspect_(api, 60, [("rust", "face")])
    first = grade(api)
    assert (first["grade"], first["status"], first["reworked_at"]) == ("rework", "failed", None)

    event = {"type": "reworked", "at": iso(30), "line_id": "bearing-01", "detail": {"station": "polish"}}
    response = api.post(f"/v1/units/{CODE}/events", "bearing", json=event)
    assert response.status_code == 201, response.text
    waiting = grade(api)  # not inspected again yet: still the grade that sent it to rework
    assert (waiting["status"], waiting["reworked_at"], waiting["inspections"]) == ("failed", None, 1)

    inspect_(api, 10)  # inspected again: clean
    after = grade(api)
    assert (after["grade"], after["status"], after["inspections"], after["frames_superseded"]) == (
        "pass", "accepted", 1, 1,
    )  # fmt: skip
    assert datetime.fromisoformat(after["reworked_at"]) == datetime.fromisoformat(event["at"])
    trace = api.get(f"/v1/trace/{CODE}").json()
    assert trace["grade"]["status"] == "accepted" and len(trace["inspections"]) == 2  # the history stays
    units = api.get("/v1/lines/bearing-01/units").json()["items"]
    assert {u["code"]: u["status"] for u in units}[CODE] == "accepted"
    assert api.get(f"/v1/shipping/{CODE}").json()["may_ship"] is True
    steps = [e.get("bizStep") for e in api.get(f"/v1/trace/{CODE}/epcis").json()["epcisBody"]["eventList"]]
    assert "repairing" in steps

    inspect_(api, 5, [("dent", "face")])  # a later inspection after the same rework finds a dent
    assert grade(api)["grade"] == "rework" and grade(api)["inspections"] == 2


def test_an_unknown_event_type_is_refused_naming_it(api: Api) -> None:
    response = api.post(f"/v1/units/{CODE}/events", "bearing", json={"type": "polished", "at": iso(1)})
    assert response.status_code == 422 and "polished" in response.text
