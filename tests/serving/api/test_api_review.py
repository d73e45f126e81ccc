"""Review queue filters and pagination, review decisions with history, codes for unread frames."""

from __future__ import annotations

from typing import Any

import pytest
from api_harness import Api
from api_payloads import bearing, later, pv, textile


def _defect_ids(api: Api, body: dict[str, Any]) -> list[int]:
    return [d["id"] for d in api.get(f"/v1/inspections/{body['id']}").json()["defects"]]


@pytest.fixture
def queue_api(api: Api) -> Api:
    """Six defects on three lines at known times and confidences."""
    bodies = [
        (textile(at=later(0)), "textile"),  # stain 0.91 @ +0
        (
            pv("PV000000000001", [("crack", 0, 1), ("dark_cell", 2, 2)], captured_at=later(10).isoformat()),
            "pv",
        ),
        (
            bearing(defects=[("rust", "inner_race"), ("scratch", "face")], captured_at=later(20).isoformat()),
            "bearing",
        ),
        (textile("RL0000000043", at=later(30)), "textile"),
    ]
    bodies[1][0]["defects"][1]["confidence"] = 0.4
    for body, who in bodies:
        assert api.post("/v1/inspections", who, json=body).status_code == 201
    return api


@pytest.mark.parametrize(
    ("params", "classes"),
    [
        ({}, ["stain", "scratch", "rust", "dark_cell", "crack", "stain"]),  # newest first
        ({"line_id": "pv-01"}, ["dark_cell", "crack"]),
        ({"class_name": "stain"}, ["stain", "stain"]),
        ({"min_confidence": 0.75}, ["stain", "crack", "stain"]),
        ({"max_confidence": 0.5}, ["dark_cell"]),
        ({"min_confidence": 0.6, "max_confidence": 0.8}, ["scratch", "rust", "crack"]),
        (
            {"since": later(10).isoformat(), "until": later(30).isoformat()},
            ["scratch", "rust", "dark_cell", "crack"],
        ),
        ({"limit": 2, "offset": 2}, ["rust", "dark_cell"]),
        ({"state": "confirmed"}, []),
    ],
)
def test_queue_filters(queue_api: Api, params: dict[str, Any], classes: list[str]) -> None:
    response = queue_api.get("/v1/review/queue", "reviewer", params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    assert [item["defect"]["final_class"] for item in page["items"]] == classes
    if "limit" not in params:
        assert page["total"] == len(classes)
    else:
        assert page["total"] == 6


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_confidence": 2}, "min_confidence"),
        ({"since": "2026-11-23T10:00:00"}, "since"),  # no time zone
        ({"state": "maybe"}, "state"),
        ({"limit": 0}, "limit"),
    ],
)
def test_queue_rejects_bad_filters(api: Api, params: dict[str, Any], field: str) -> None:
    response = api.get("/v1/review/queue", "reviewer", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_review_history_is_kept_and_queue_moves(queue_api: Api) -> None:
    api = queue_api
    first = api.get("/v1/review/queue", "reviewer").json()["items"][0]["defect"]["id"]
    decisions = [
        {"decision": "reclassify", "new_class": "knot", "comment": "looks like a knot"},
        {"decision": "reject", "comment": "lint on the lens"},
        {"decision": "confirm"},
    ]
    states = []
    for decision in decisions:
        response = api.post(f"/v1/defects/{first}/review", "reviewer", json=decision)
        assert response.status_code == 201, response.text
        states.append((response.json()["review_state"], response.json()["final_class"]))
    assert states == [("reclassified", "knot"), ("rejected", "knot"), ("confirmed", "knot")]
    history = api.get(f"/v1/defects/{first}").json()["reviews"]
    assert [(r["decision"], r["new_class"], r["comment"]) for r in history] == [
        ("reclassify", "knot", "looks like a knot"),
        ("reject", None, "lint on the lens"),
        ("confirm", None, None),
    ]
    pending = api.get("/v1/review/queue", "reviewer").json()
    assert first not in [item["defect"]["id"] for item in pending["items"]]
    assert pending["total"] == 5
    confirmed = api.get(
        "/v1/review/queue", "reviewer", params={"state": "confirmed", "class_name": "knot"}
    ).json()
    assert [item["defect"]["id"] for item in confirmed["items"]] == [first]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"decision": "reclassify"}, 422, "new_class"),
        ({"decision": "reclassify", "new_class": "crack"}, 422, "new_class"),  # not a textile class
        ({"decision": "confirm", "new_class": "knot"}, 422, "new_class"),
        ({"decision": "approve"}, 422, "decision"),
        ({"decision": "confirm", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_reviews(api: Api, body: dict[str, Any], status: int, field: str) -> None:
    sent = textile()
    api.post("/v1/inspections", "textile", json=sent)
    defect = _defect_ids(api, sent)[0]
    response = api.post(f"/v1/defects/{defect}/review", "reviewer", json=body)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field
    assert api.get(f"/v1/defects/{defect}").json()["reviews"] == []


def test_review_of_unknown_defect_is_404(api: Api) -> None:
    response = api.post("/v1/defects/999999/review", "reviewer", json={"decision": "confirm"})
    assert response.status_code == 404


def test_unread_code_is_assigned_by_hand(api: Api) -> None:
    unread = bearing(code=None, code_status="code_unread", defects=[("dent", "face")])
    api.post("/v1/inspections", "bearing", json=unread)
    queue = api.get("/v1/review/queue", "reviewer").json()
    assert queue["unread_inspections"] == 1
    assert queue["items"][0]["code"] is None
    bad = api.post(f"/v1/inspections/{unread['id']}/code", "reviewer", json={"code": "RL0000000001"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "code")
    assert (
        api.post(f"/v1/inspections/{unread['id']}/code", "bearing", json={"code": "BR0000000099"}).status_code
        == 403
    )
    done = api.post(f"/v1/inspections/{unread['id']}/code", "reviewer", json={"code": "BR0000000099"})
    assert done.status_code == 200, done.text
    assert (done.json()["code"], done.json()["code_status"]) == ("BR0000000099", "code_unread")
    assert done.json()["code_assigned_by"].startswith("key:")
    again = api.post(f"/v1/inspections/{unread['id']}/code", "reviewer", json={"code": "BR0000000098"})
    assert again.status_code == 409
    assert api.get("/v1/inspections", params={"code_status": "code_unread"}).json()["total"] == 0
    assert api.get("/v1/units/BR0000000099").json()["kind"] == "bearing"
    assert [i["id"] for i in api.get("/v1/trace/BR0000000099").json()["inspections"]] == [unread["id"]]
    # a retry of the original (unread) post is still recognised as a duplicate
    assert api.post("/v1/inspections", "bearing", json=unread).json()["status"] == "duplicate"
