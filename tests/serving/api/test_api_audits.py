"""Pass audits on SQLite and PostgreSQL: ingest keeps ``audit_sample`` and ``audit_borderline``, the audit
queue lists the samples and the near misses (challenge parts left out, filtered by reason), an audit is
refused naming the field and value when the frame contradicts it, and a line's escape rate with its 95 %
Wilson interval per line and product, over the samples only (the near misses counted apart); the trace shows
each audit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, get_args

import pytest
from api_harness import Api
from api_payloads import T0, bearing, later, pv
from lc_challenge import MASTER

from linecheck.audit import AUDIT_OUTCOMES, escape_rate
from linecheck.serving.api.schemas import AuditIn

PERIOD = {"since": (T0 - timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(days=1)).isoformat()}
CRACK_BOX = [100.0, 100.0, 140.0, 130.0]


@pytest.fixture
def api(qa_api: Api) -> Api:
    return qa_api


def sample(code: str, minutes: float, **overrides: Any) -> dict[str, Any]:
    """A passed PV module whose frame the inspector kept for audit."""
    return pv(code, captured_at=later(minutes).isoformat(), audit_sample=True, **overrides)


def near(code: str, minutes: float, **overrides: Any) -> dict[str, Any]:
    """A passed PV module whose frame the inspector kept as a near miss."""
    return pv(code, captured_at=later(minutes).isoformat(), audit_borderline=True, **overrides)


def post(api: Api, body: dict[str, Any], who: str = "pv") -> dict[str, Any]:
    response = api.post("/v1/inspections", who, json=body)
    assert response.status_code == 201, response.text
    return body


def queue(api: Api, **params: Any) -> list[str]:
    response = api.get("/v1/review/audit", params=params)
    assert response.status_code == 200, response.text
    return [item["inspection_id"] for item in response.json()["items"]]


def audit(api: Api, inspection_id: str, outcome: str, who: str = "reviewer", **extra: Any) -> Any:
    return api.post(f"/v1/inspections/{inspection_id}/audit", who, json={"outcome": outcome, **extra})


def draw(api: Api, inspection_id: str, class_name: str = "crack") -> int:
    response = api.post(
        f"/v1/inspections/{inspection_id}/defects",
        "reviewer",
        json={"class_name": class_name, "bbox": CRACK_BOX},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def rate(api: Api, line_id: str = "pv-01", **params: Any) -> dict[str, Any]:
    response = api.get(f"/v1/lines/{line_id}/audit", params={**PERIOD, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_the_outcomes_are_those_of_linecheck_audit() -> None:
    assert get_args(AuditIn.model_fields["outcome"].annotation) == AUDIT_OUTCOMES


def test_ingest_keeps_the_sample_flag_and_a_retry_must_repeat_it(api: Api) -> None:
    kept = post(api, sample("PV000000000301", 1))
    plain = post(api, pv("PV000000000302", captured_at=later(2).isoformat()))
    stored = api.get(f"/v1/inspections/{kept['id']}").json()
    assert (stored["audit_sample"], stored["latest_audit"]) == (True, None)
    assert api.get(f"/v1/inspections/{plain['id']}").json()["audit_sample"] is False
    listed = {
        i["id"]: i["audit_sample"]
        for i in api.get("/v1/inspections", params={"line_id": "pv-01"}).json()["items"]
    }
    assert listed == {kept["id"]: True, plain["id"]: False}

    again = api.post("/v1/inspections", "pv", json=kept)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    unmarked = {k: v for k, v in kept.items() if k != "audit_sample"}
    conflict = api.post("/v1/inspections", "pv", json=unmarked)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["error"]["field"] == "id"
    marked = api.post("/v1/inspections", "pv", json={**plain, "audit_sample": True})
    assert marked.status_code == 409, marked.text


def test_the_queue_lists_only_samples_newest_first_and_filters(api: Api) -> None:
    first = post(api, sample("PV000000000311", 1, product="PV-6x10"))
    second = post(api, sample("PV000000000312", 5, product="PV-6x12"))
    post(api, pv("PV000000000313", captured_at=later(6).isoformat()))  # passed, not kept for audit
    post(api, pv("PV000000000314", [("crack", 1, 1)], captured_at=later(7).isoformat()))  # failed
    ring = post(api, bearing("BR0000000311", captured_at=later(3).isoformat(), audit_sample=True), "bearing")
    master = bearing(MASTER, captured_at=later(8).isoformat(), audit_sample=True)  # a challenge part
    post(api, master, "bearing")

    assert queue(api) == [second["id"], ring["id"], first["id"]]
    assert queue(api, line_id="pv-01") == [second["id"], first["id"]]
    assert queue(api, line_id="bearing-01") == [ring["id"]]
    assert queue(api, line_id="pv-01", product="PV-6x12") == [second["id"]]
    assert queue(api, since=later(2).isoformat(), until=later(4).isoformat()) == [ring["id"]]
    assert queue(api, line_id="pv-01", limit=1, offset=1) == [first["id"]]

    assert audit(api, first["id"], "ok", comment="clean").status_code == 201
    assert queue(api, line_id="pv-01") == [second["id"]]
    assert queue(api, line_id="pv-01", state="audited") == [first["id"]]
    assert queue(api, line_id="pv-01", state="all") == [second["id"], first["id"]]
    page = api.get("/v1/review/audit", params={"line_id": "pv-01", "state": "all"}).json()
    assert (page["total"], page["total_exact"]) == (2, True)
    done = page["items"][1]
    assert (done["code"], done["product"], done["station"], done["model_name"]) == (
        "PV000000000311", "PV-6x10", "el", "pv",
    )  # fmt: skip
    assert done["audit"]["outcome"] == "ok" and done["audit"]["comment"] == "clean"
    assert done["audit"]["actor"] == f"key:{api.keys['reviewer'].split('_')[1]}"
    assert done["audit"]["actor_name"] == "qa"
    assert page["items"][0]["audit"] is None and page["items"][0]["drawn_defects"] == []

    unknown = api.get("/v1/review/audit", params={"line_id": "pv-01", "product": "PV-9x9"})
    assert unknown.status_code == 422
    assert (unknown.json()["error"]["field"], unknown.json()["error"]["value"]) == ("product", "PV-9x9")
    assert api.get("/v1/review/audit", params={"state": "maybe"}).status_code == 422


def _refused(response: Any, status: int, field: str, value: Any) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["field"], error["value"]) == (field, value), error
    return str(error["message"])


def test_each_refusal_names_the_field_and_the_value(api: Api) -> None:
    kept = post(api, sample("PV000000000321", 1))
    plain = post(api, pv("PV000000000322", captured_at=later(2).isoformat()))

    message = _refused(audit(api, plain["id"], "ok"), 409, "audit_sample", False)
    assert "was not kept for audit" in message and "audit.borderline" in message
    message = _refused(audit(api, kept["id"], "escape"), 409, "outcome", "escape")
    assert "draw the missed defect first" in message and f"/v1/inspections/{kept['id']}/defects" in message
    _refused(audit(api, kept["id"], "maybe"), 422, "outcome", "maybe")
    missing = audit(api, "no-such-inspection", "ok")
    assert missing.status_code == 404 and "no-such-inspection" in missing.json()["error"]["message"]
    assert audit(api, kept["id"], "ok", who="viewer").status_code == 403
    assert audit(api, kept["id"], "ok", who="pv").status_code == 403
    scoped = audit(api, kept["id"], "ok", who="bearing-reviewer")  # a reviewer of another line
    assert scoped.status_code == 403 and "inspection.line_id='pv-01'" in scoped.json()["error"]["message"]

    drawn = draw(api, kept["id"])
    message = _refused(audit(api, kept["id"], "ok"), 409, "outcome", "ok")
    assert f"#{drawn} crack" in message
    assert audit(api, kept["id"], "escape").status_code == 201
    # the drawn defect rejected (a mistake): it no longer makes an escape, and ok is allowed again
    rejected = api.post(f"/v1/defects/{drawn}/review", "reviewer", json={"decision": "reject"})
    assert rejected.status_code == 201, rejected.text
    _refused(audit(api, kept["id"], "escape"), 409, "outcome", "escape")
    assert audit(api, kept["id"], "ok").status_code == 201
    stored = api.get(f"/v1/inspections/{kept['id']}").json()
    assert stored["latest_audit"]["outcome"] == "ok"  # the newest audit wins


def test_the_escape_rate_per_line_and_product_and_the_trace(api: Api) -> None:
    narrow = [post(api, sample(f"PV0000000004{i:02d}", i, product="PV-6x10")) for i in range(6)]
    wide = [post(api, sample(f"PV0000000005{i:02d}", 10 + i, product="PV-6x12")) for i in range(3)]
    ring = post(api, bearing("BR0000000401", captured_at=later(20).isoformat(), audit_sample=True), "bearing")
    master = post(api, bearing(MASTER, captured_at=later(21).isoformat(), audit_sample=True), "bearing")
    for body in narrow[:4] + wide[:1]:
        assert audit(api, body["id"], "ok").status_code == 201
    for body, name in ((narrow[4], "crack"), (wide[1], "dark_cell")):
        draw(api, body["id"], name)
        assert audit(api, body["id"], "escape").status_code == 201
    for body in (ring, master):
        assert audit(api, body["id"], "ok").status_code == 201

    whole = rate(api)
    expected = escape_rate(2, 7)
    assert {k: whole[k] for k in ("sampled", "audited", "escapes", "pending")} == {
        "sampled": 9, "audited": 7, "escapes": 2, "pending": 2,
    }  # fmt: skip
    assert (whole["escape_rate"], whole["low"], whole["high"]) == pytest.approx(
        (expected.rate, expected.low, expected.high)
    )
    assert whole["escapes_by_class"] == {"crack": 1, "dark_cell": 1}
    assert (whole["line_id"], whole["product"]) == ("pv-01", None)
    # the newest escape (a 6x12 module) and the newest clean audit of a 6x12 before it: hold since then
    last = whole["last_escape"]
    assert (last["inspection_id"], last["code"], last["product"]) == (
        wide[1]["id"],
        wide[1]["code"],
        "PV-6x12",
    )
    assert datetime.fromisoformat(last["suspect_since"]) == later(10)

    by_product = rate(api, product="PV-6x12")
    expected = escape_rate(1, 2)
    assert (by_product["sampled"], by_product["audited"], by_product["escapes"], by_product["pending"]) == (
        3,
        2,
        1,
        1,
    )
    assert (by_product["escape_rate"], by_product["low"], by_product["high"]) == pytest.approx(
        (expected.rate, expected.low, expected.high)
    )
    assert by_product["escapes_by_class"] == {"dark_cell": 1}
    narrow_last = rate(api, product="PV-6x10")["last_escape"]
    assert narrow_last["inspection_id"] == narrow[4]["id"]
    assert datetime.fromisoformat(narrow_last["suspect_since"]) == later(3)  # narrow[3], its last clean audit
    bearings = rate(api, "bearing-01")  # the master (a challenge part) is not production
    assert (bearings["sampled"], bearings["audited"], bearings["escapes"]) == (1, 1, 0)
    assert (bearings["escape_rate"], bearings["low"]) == (0.0, 0.0) and 0.5 < bearings["high"] < 1
    assert bearings["last_escape"] is None
    empty = rate(api, since=later(-50).isoformat(), until=later(-40).isoformat())
    assert (empty["sampled"], empty["escape_rate"], empty["low"], empty["high"]) == (0, None, None, None)

    unknown = api.get("/v1/lines/pv-01/audit", params={**PERIOD, "product": "PV-9x9"})
    _refused(unknown, 422, "product", "PV-9x9")
    assert api.get("/v1/lines/no-line/audit").status_code == 404

    trace = api.get(f"/v1/trace/{narrow[4]['code']}").json()
    [frame] = trace["inspections"]
    assert frame["audit_sample"] is True and frame["latest_audit"]["outcome"] == "escape"
    assert [d["source"] for d in frame["defects"]] == ["reviewer"]
    assert trace["grade"]["defects_added"] == 1  # the missed defect counts in the unit's grade
    metrics = api.client.get("/metrics").text
    assert 'linecheck_audits_total{line="pv-01",outcome="escape"} 2.0' in metrics
    assert 'linecheck_audits_total{line="pv-01",outcome="ok"} 5.0' in metrics


def test_ingest_keeps_the_near_miss_flag_and_a_retry_must_repeat_it(api: Api) -> None:
    kept = post(api, near("PV000000000331", 1))
    both = post(api, sample("PV000000000332", 2, audit_borderline=True))
    plain = post(api, pv("PV000000000333", captured_at=later(3).isoformat()))
    flags = {
        i["id"]: (i["audit_sample"], i["audit_borderline"])
        for i in api.get("/v1/inspections", params={"line_id": "pv-01"}).json()["items"]
    }
    assert flags == {kept["id"]: (False, True), both["id"]: (True, True), plain["id"]: (False, False)}
    stored = api.get(f"/v1/inspections/{kept['id']}").json()
    assert (stored["audit_borderline"], stored["latest_audit"]) == (True, None)
    [traced] = api.get(f"/v1/trace/{kept['code']}").json()["inspections"]
    assert (traced["audit_sample"], traced["audit_borderline"]) == (False, True)

    again = api.post("/v1/inspections", "pv", json=kept)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    unmarked = {k: v for k, v in kept.items() if k != "audit_borderline"}
    conflict = api.post("/v1/inspections", "pv", json=unmarked)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["error"]["field"] == "id"
    marked = api.post("/v1/inspections", "pv", json={**plain, "audit_borderline": True})
    assert marked.status_code == 409, marked.text


def test_the_queue_lists_near_misses_beside_the_samples_and_filters_by_reason(api: Api) -> None:
    kept = post(api, sample("PV000000000341", 1))
    close = post(api, near("PV000000000342", 2))
    both = post(api, sample("PV000000000343", 3, audit_borderline=True))
    post(api, pv("PV000000000344", captured_at=later(4).isoformat()))  # passed, not kept for audit

    assert queue(api) == [both["id"], close["id"], kept["id"]]
    assert queue(api, reason="sample") == [both["id"], kept["id"]]
    assert queue(api, reason="borderline") == [both["id"], close["id"]]
    page = api.get("/v1/review/audit", params={"reason": "borderline"}).json()
    assert (page["total"], page["total_exact"]) == (2, True)
    flags = {i["inspection_id"]: (i["audit_sample"], i["audit_borderline"]) for i in page["items"]}
    assert flags == {both["id"]: (True, True), close["id"]: (False, True)}
    _refused(api.get("/v1/review/audit", params={"reason": "maybe"}), 422, "reason", "maybe")

    assert audit(api, close["id"], "ok", comment="just glare").status_code == 201  # a near miss is audited
    assert queue(api, reason="borderline") == [both["id"]]
    assert queue(api, reason="borderline", state="audited") == [close["id"]]
    assert queue(api, state="audited") == [close["id"]]
    stored = api.get(f"/v1/inspections/{close['id']}").json()
    assert (stored["latest_audit"]["outcome"], stored["latest_audit"]["comment"]) == ("ok", "just glare")


def test_near_misses_are_counted_apart_and_never_in_the_escape_rate(api: Api) -> None:
    samples = [post(api, sample(f"PV0000000006{i:02d}", i, product="PV-6x10")) for i in range(4)]
    nears = [post(api, near(f"PV0000000007{i:02d}", 10 + i, product="PV-6x12")) for i in range(3)]
    both = post(api, sample("PV000000000800", 20, product="PV-6x12", audit_borderline=True))
    for body in samples[:3] + nears[1:2]:
        assert audit(api, body["id"], "ok").status_code == 201
    for body, name in ((nears[0], "dark_cell"), (nears[2], "dark_cell"), (both, "crack")):
        draw(api, body["id"], name)
    for body in (nears[0], both):
        assert audit(api, body["id"], "escape").status_code == 201

    whole = rate(api)
    expected = escape_rate(1, 4)  # the samples: 3 ok and the frame that is both, an escape
    assert {k: whole[k] for k in ("sampled", "audited", "escapes", "pending")} == {
        "sampled": 5, "audited": 4, "escapes": 1, "pending": 1,
    }  # fmt: skip
    assert (whole["escape_rate"], whole["low"], whole["high"]) == pytest.approx(
        (expected.rate, expected.low, expected.high)
    )
    assert whole["escapes_by_class"] == {"crack": 1}  # the near miss's dark cell is not in the rate's classes
    assert whole["borderline"] == {"kept": 4, "audited": 3, "escapes": 2, "pending": 1}

    wide = rate(api, product="PV-6x12")
    assert (wide["sampled"], wide["audited"], wide["escapes"]) == (1, 1, 1)
    assert wide["borderline"] == {"kept": 4, "audited": 3, "escapes": 2, "pending": 1}
    narrow = rate(api, product="PV-6x10")
    assert (narrow["sampled"], narrow["audited"], narrow["escapes"], narrow["escape_rate"]) == (4, 3, 0, 0.0)
    assert narrow["borderline"] == {"kept": 0, "audited": 0, "escapes": 0, "pending": 0}
