"""What the QA pages build on: who a key is, undo, bulk decisions, corrected and drawn boxes, merges,
queue sort and search, golden samples, the kiosk's units, CSV export, reviewer statistics, offline docs."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from api_harness import Api
from api_payloads import T0, bearing, later, pv, textile

from linecheck.serving.api.services.corrections import Step, replay


def _ids(api: Api, body: dict[str, Any]) -> list[int]:
    return [d["id"] for d in api.get(f"/v1/inspections/{body['id']}").json()["defects"]]


def _review(api: Api, defect: int, **body: Any) -> Any:
    response = api.post(f"/v1/defects/{defect}/review", "reviewer", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], ("pending", "crack", None, 0)),
        ([Step(decision="confirm")], ("confirmed", "crack", None, 1)),
        (
            [Step(decision="reclassify", new_class="dent"), Step(decision="undo")],
            ("pending", "crack", None, 0),
        ),
        (
            [Step(decision="reject"), Step(decision="confirm", bbox=(1, 2, 3, 4)), Step(decision="undo")],
            ("rejected", "crack", None, 1),
        ),
        (
            [Step(decision="confirm", bbox=(1, 2, 3, 4)), Step(decision="reclassify", new_class="dent")],
            ("reclassified", "dent", (1.0, 2.0, 3.0, 4.0), 2),
        ),
        ([Step(decision="undo"), Step(decision="undo")], ("pending", "crack", None, 0)),  # nothing to undo
    ],
)
def test_replay_of_a_history(steps: list[Step], expected: tuple[Any, ...]) -> None:
    current = replay("crack", "model", steps)
    assert (current.state, current.final_class, current.final_bbox, current.decisions) == expected


def test_me_names_the_key_and_the_audit_trail_shows_the_name(api: Api) -> None:
    me = api.get("/v1/me", "reviewer").json()
    assert (me["role"], me["name"], me["may_review"]) == ("reviewer", "qa", True)
    assert api.get("/v1/me", "viewer").json()["may_review"] is False
    body = textile()
    api.post("/v1/inspections", "textile", json=body)
    defect = _ids(api, body)[0]
    done = _review(api, defect, decision="confirm")
    last = done["reviews"][-1]
    assert (last["reviewer"], last["reviewer_name"]) == (f"key:{me['id']}", "qa")
    trace = api.get("/v1/trace/RL0000000042").json()
    assert trace["inspections"][0]["defects"][0]["reviews"][-1]["reviewer_name"] == "qa"


def test_undo_is_a_new_review_row(api: Api) -> None:
    body = pv("PV000000000009", [("crack", 1, 1)])
    api.post("/v1/inspections", "pv", json=body)
    defect = _ids(api, body)[0]
    assert api.post(f"/v1/defects/{defect}/undo", "reviewer", json={}).status_code == 409
    _review(api, defect, decision="reject")
    assert api.get("/v1/units/PV000000000009/grade").json()["status"] == "released"
    undone = api.post(f"/v1/defects/{defect}/undo", "reviewer", json={"comment": "wrong key"})
    assert undone.status_code == 201, undone.text
    assert undone.json()["review_state"] == "pending"
    assert [r["decision"] for r in undone.json()["reviews"]] == ["reject", "undo"]
    assert api.get("/v1/units/PV000000000009/grade").json()["status"] == "failed"
    assert api.post(f"/v1/defects/{defect}/undo", "viewer", json={}).status_code == 403


def test_bulk_decision_is_all_or_nothing(api: Api) -> None:
    body = bearing(defects=[("rust", "inner_race"), ("scratch", "face"), ("dent", "face")])
    api.post("/v1/inspections", "bearing", json=body)
    ids = _ids(api, body)
    bad = api.post(
        "/v1/defects/review", "reviewer", json={"decision": "confirm", "defect_ids": [*ids, 999999]}
    )
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "defect_ids[3]")
    assert {api.get(f"/v1/defects/{i}").json()["review_state"] for i in ids} == {"pending"}
    done = api.post("/v1/defects/review", "reviewer", json={"decision": "confirm", "defect_ids": ids})
    assert done.status_code == 201, done.text
    assert [d["review_state"] for d in done.json()] == ["confirmed"] * 3


def test_a_moved_box_is_located_again_and_graded(api: Api) -> None:
    # pv-01: 6 x 10 cells in grid_box (0.02, 0.02, 0.98, 0.79) of a 640 x 640 frame
    body = pv("PV000000000011", [("crack", 0, 0)])
    api.post("/v1/inspections", "pv", json=body)
    defect = _ids(api, body)[0]
    moved = _review(api, defect, decision="confirm", bbox=[300, 300, 320, 320])
    assert moved["final_bbox"] == [300, 300, 320, 320] and moved["bbox"] == [1, 1, 20, 20]
    assert moved["final_location"] == {"row": 3, "col": 4}
    grade = api.get("/v1/units/PV000000000011/grade").json()
    assert grade["detail"]["cells_affected"] == [[3, 4]]
    outside = api.post(
        f"/v1/defects/{defect}/review", "reviewer", json={"decision": "confirm", "bbox": [600, 0, 700, 9]}
    )
    assert (outside.status_code, outside.json()["error"]["field"]) == (422, "bbox")


def test_a_missed_defect_drawn_by_a_reviewer_counts(api: Api) -> None:
    body = pv("PV000000000012", [])
    api.post("/v1/inspections", "pv", json=body)
    assert api.get("/v1/units/PV000000000012/grade").json()["status"] == "accepted"
    added = api.post(
        f"/v1/inspections/{body['id']}/defects",
        "reviewer",
        json={"class_name": "dark_cell", "bbox": [20, 20, 60, 60]},
    )
    assert added.status_code == 201, added.text
    drawn = added.json()
    assert (drawn["source"], drawn["review_state"], drawn["location"]) == (
        "reviewer",
        "confirmed",
        {"row": 0, "col": 0},
    )
    grade = api.get("/v1/units/PV000000000012/grade").json()
    assert (grade["grade"], grade["status"], grade["defects_added"]) == ("C", "failed", 1)
    assert api.get(f"/v1/inspections/{body['id']}").json()["defect_count"] == 1
    wrong = api.post(
        f"/v1/inspections/{body['id']}/defects", "reviewer", json={"class_name": "hole", "bbox": [1, 1, 5, 5]}
    )
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (422, "class_name")
    assert (
        api.post(f"/v1/defects/{drawn['id']}/undo", "reviewer", json={}).json()["review_state"] == "rejected"
    )


def test_merge_keeps_the_union_box(api: Api) -> None:
    body = textile(defects=[
        {"class_name": "stain", "confidence": 0.8, "bbox": [10, 10, 40, 40], "location": {"along_m": 6.1}},
        {"class_name": "stain", "confidence": 0.6, "bbox": [30, 30, 90, 70], "location": {"along_m": 6.1}},
    ])  # fmt: skip
    api.post("/v1/inspections", "textile", json=body)
    keep, other = _ids(api, body)
    merged = api.post(f"/v1/inspections/{body['id']}/merge", "reviewer", json={"defect_ids": [keep, other]})
    assert merged.status_code == 201, merged.text
    first, second = merged.json()
    assert first["final_bbox"] == [10, 10, 90, 70] and first["review_state"] == "confirmed"
    assert second["review_state"] == "rejected" and second["reviews"][-1]["comment"] == f"merged into #{keep}"


def test_queue_sorted_by_confidence_and_searched_by_code(api: Api) -> None:
    a = pv("PV000000000021", [("crack", 0, 1), ("dark_cell", 2, 2)])
    a["defects"][0]["confidence"] = 0.9
    a["defects"][1]["confidence"] = 0.4
    b = pv("PV000000000022", [("crack", 1, 1)], captured_at=later(1).isoformat())
    b["defects"][0]["confidence"] = 0.6
    for body in (a, b):
        api.post("/v1/inspections", "pv", json=body)
    page = api.get("/v1/review/queue", params={"sort": "confidence"}).json()
    assert [i["defect"]["confidence"] for i in page["items"]] == [0.4, 0.6, 0.9]
    page = api.get("/v1/review/queue", params={"code": "PV000000000021"}).json()
    assert {i["code"] for i in page["items"]} == {"PV000000000021"} and page["total"] == 2


def test_golden_sample_of_a_station(api: Api) -> None:
    ref = "a" * 64
    good = pv("PV000000000031", [], image_ref=ref)
    api.post("/v1/inspections", "pv", json=good)
    found = api.get("/v1/lines/pv-01/golden", params={"station": "el"}).json()
    assert (found["source"], found["image_ref"]) == ("newest_good_frame", ref)
    chosen = api.post(
        "/v1/lines/pv-01/golden", "reviewer", json={"inspection_id": good["id"], "note": "clean"}
    )
    assert chosen.status_code == 201, chosen.text
    assert (chosen.json()["source"], chosen.json()["chosen_by_name"]) == ("chosen", "qa")
    assert api.get("/v1/lines/pv-01/golden", params={"station": "nope"}).status_code == 404


def test_kiosk_units_and_csv_agree_with_the_grades(api: Api) -> None:
    bodies = [
        pv("PV000000000041", [("dark_cell", 0, 0)]),
        pv("PV000000000042", [], captured_at=later(1).isoformat()),
        pv("PV000000000043", [("crack", 1, 1)], captured_at=later(2).isoformat()),
    ]
    for body in bodies:
        api.post("/v1/inspections", "pv", json=body)
    _review(api, _ids(api, bodies[2])[0], decision="reject")
    units = api.get("/v1/lines/pv-01/units", params={"limit": 10}).json()
    assert [u["code"] for u in units["items"]] == ["PV000000000043", "PV000000000042", "PV000000000041"]
    for unit in units["items"]:
        grade = api.get(f"/v1/units/{unit['code']}/grade").json()
        assert (unit["status"], unit["grade"], unit["accepted"]) == (
            grade["status"],
            grade["grade"],
            grade["accepted"],
        )
    assert (units["accepted"], units["failed"]) == (2, 1)
    params = {"since": (T0 - timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}
    response = api.get("/v1/lines/pv-01/defects.csv", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["code"], r["model_class"], r["review_state"]) for r in rows] == [
        ("PV000000000041", "dark_cell", "pending"),
        ("PV000000000043", "crack", "rejected"),
    ]
    assert rows[1]["last_reviewer_name"] == "qa"


def test_reviewer_statistics_and_agreement(api: Api) -> None:
    from linecheck.serving.store.keys import create_key

    second = create_key(api.context.db, "reviewer", name="second shift")
    body = bearing(defects=[("rust", "inner_race"), ("scratch", "face")])
    api.post("/v1/inspections", "bearing", json=body)
    a, b = _ids(api, body)
    _review(api, a, decision="confirm")
    _review(api, b, decision="reject")
    headers = {"Authorization": f"Bearer {second}"}
    api.client.post(f"/v1/defects/{a}/review", headers=headers, json={"decision": "confirm"})
    api.client.post(f"/v1/defects/{b}/review", headers=headers, json={"decision": "confirm"})
    stats = api.get("/v1/review/stats").json()
    assert stats["reviews"] == 4
    assert (stats["defects_compared"], stats["defects_agreed"], stats["agreement"]) == (2, 1, 0.5)
    names = {r["name"]: r for r in stats["reviewers"]}
    assert names["qa"]["decisions"] == {"confirm": 1, "reject": 1}
    assert (names["second shift"]["compared"], names["second shift"]["agreed"]) == (2, 1)


def test_stats_running_time_hours_and_stations(api: Api) -> None:
    # 20 frames 15 s apart (4 frames a minute), a stop of 2 h, then 10 more: running time 28 x 15 s
    times = [later(i / 4) for i in range(20)] + [later(120 + i / 4) for i in range(10)]
    for i, at in enumerate(times):
        body = pv(f"PV0000000001{i:02d}", [], captured_at=at.isoformat(), station="el" if i % 2 else "el2")
        assert api.post("/v1/inspections", "pv", json=body).status_code == 201
    params = {"since": T0.replace(hour=6).isoformat(), "until": T0.replace(hour=14).isoformat()}
    stats = api.get("/v1/lines/pv-01/stats", params=params).json()
    totals = stats["totals"]
    assert totals["running_s"] == pytest.approx(28 * 15.0)
    assert totals["frames_per_hour"] == pytest.approx(30 * 3600 / (28 * 15.0))
    assert {s["station"]: s["inspections"] for s in stats["shifts"][0]["stations"]} == {"el": 15, "el2": 15}
    hourly = api.get("/v1/lines/pv-01/stats", params={**params, "bucket": "hour"}).json()
    assert len(hourly["shifts"]) == 8 and sum(s["units"] for s in hourly["shifts"]) == 30
    too_long = {"since": (T0 - timedelta(days=8)).isoformat(), "until": T0.isoformat(), "bucket": "hour"}
    assert api.get("/v1/lines/pv-01/stats", params=too_long).status_code == 422


def test_packed_in_reads_child_first(api: Api) -> None:
    api.post("/v1/inspections", "textile", json=textile())
    link = {"parent": "BOX-0001", "child": "RL0000000042", "relation": "packed_in"}
    assert api.post("/v1/genealogy", "textile", json=link).status_code == 201
    trace = api.get("/v1/trace/RL0000000042").json()
    assert trace["genealogy"]["parents"][0]["phrase"] == "RL0000000042 packed in BOX-0001"
    assert trace["grade"] == api.get("/v1/units/RL0000000042/grade").json()


def test_docs_are_served_without_another_origin(api: Api) -> None:
    for path in ("/docs", "/redoc"):
        page = api.client.get(path)
        assert page.status_code == 200
        assert not re.findall(r"(?:src|href)=\"(?:https?:)?//", page.text), page.text
        for asset in re.findall(r"(/docs/static/[\w.-]+)", page.text):
            assert api.client.get(asset).status_code == 200, asset
    assert "validatorUrl" in api.client.get("/docs").text
    assert "default-src 'self'" in api.client.get("/redoc").headers["content-security-policy"]
    assert b"cdn.redoc.ly" not in api.client.get("/docs/static/redoc.standalone.js").content
    assert api.client.get("/docs/static/../../app.py").status_code == 404
