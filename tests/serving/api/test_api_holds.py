"""Holds (containment) on SQLite and PostgreSQL: a missed red rabbit tells since when the line is suspect, a
hold over that period holds every unit made in it (challenge parts left out) until each is re-inspected or
released, the unit's grade and trace say whether it may ship, a product-scoped hold holds that product only,
every refusal names the field and value, and the database keeps holds and releases as an append-only
record."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from api_harness import Api
from api_payloads import pv
from lc_challenge import MASTER, RABBIT, part_inspection, qa_lines_in


@pytest.fixture(scope="module")
def qa_lines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The API tests' lines (conftest), bearing-01 holding the suspect units at once when a part is missed."""
    return qa_lines_in(tmp_path_factory.mktemp("lines"), auto_hold=True)


@pytest.fixture
def api(qa_api: Api) -> Api:
    return qa_api


def ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def unit(code: str, minutes_ago: float, *, scratch: bool = False) -> dict[str, Any]:
    """A bearing of bearing-01 inspected ``minutes_ago`` (negative: just now, after a hold)."""
    body = part_inspection(code, minutes_ago=max(minutes_ago, 0), scratch=scratch)
    return body | {"id": f"{code}-{minutes_ago}-{time.monotonic_ns()}".lower()}


def ingest(api: Api, body: dict[str, Any], who: str = "bearing") -> None:
    response = api.post("/v1/inspections", who, json=body)
    assert response.status_code == 201, response.text


def place(api: Api, who: str = "reviewer", **body: Any) -> Any:
    return api.post("/v1/holds", who, json=body)


def units(api: Api, hold_id: int, **params: Any) -> dict[str, str]:
    response = api.get(f"/v1/holds/{hold_id}/units", params=params)
    assert response.status_code == 200, response.text
    return {item["code"]: item["state"] for item in response.json()["items"]}


def counted_as_listed(api: Api, hold_id: int) -> tuple[int, int, int]:
    """The hold's counts (counted in the database) are its units' states (read unit by unit): held,
    re-inspected, released."""
    hold = api.get(f"/v1/holds/{hold_id}").json()
    states = list(units(api, hold_id, limit=500).values())
    counts = (hold["held"], hold["reinspected"], hold["released_units"])
    assert counts == tuple(states.count(s) for s in ("held", "reinspected", "released"))
    assert hold["units"] == len(states)
    every = list(units(api, hold_id, limit=500))  # newest first; pages of one give the same order
    paged = [code for offset in range(len(every)) for code in units(api, hold_id, limit=1, offset=offset)]
    assert paged == every
    for state in ("held", "reinspected", "released"):
        page = api.get(f"/v1/holds/{hold_id}/units", params={"state": state, "limit": 1}).json()
        assert page["total"] == states.count(state) and len(page["items"]) == min(1, page["total"])
    return counts


def grade(api: Api, code: str) -> dict[str, Any]:
    response = api.get(f"/v1/units/{code}/grade")
    assert response.status_code == 200, response.text
    return dict(response.json())


def refused(response: Any, status: int, field: str, value: str | int) -> str:
    """The error's message, which names ``field`` and its value (a string value: its start)."""
    assert response.status_code == status, response.text
    message = str(response.json()["error"]["message"])
    assert (f"{field}='{value}" if isinstance(value, str) else f"{field}={value}") in message, message
    return message


def test_a_missed_red_rabbit_holds_the_units_made_since_the_line_was_last_known_good(api: Api) -> None:
    ingest(api, unit("BR0000000100", 400))  # before the last good verification: not suspect
    ingest(api, part_inspection(RABBIT, minutes_ago=300, scratch=True))  # caught: known good
    ingest(api, part_inspection(MASTER, minutes_ago=299, scratch=False))
    for n, minutes in enumerate((240, 180, 120, 60), start=1):
        ingest(api, unit(f"BR000000010{n}", minutes))
    assert api.get("/v1/holds").json()["items"] == []
    missed = part_inspection(RABBIT, minutes_ago=30, scratch=False) | {"id": "rabbit-missed"}
    ingest(api, missed)  # the red rabbit passed: the station is not error-proof

    verification = api.get("/v1/lines/bearing-01/verification").json()
    assert verification["state"] == "failed"
    since = datetime.fromisoformat(verification["suspect_since"])
    assert abs(since - ago(300)) < timedelta(minutes=1)  # the rabbit's last catch

    # auto_hold: the API held the units made since then, up to the miss, at once
    [hold] = api.get("/v1/holds", params={"line_id": "bearing-01"}).json()["items"]
    assert (hold["cause"], hold["created_by"]) == ("verification", "system:verification")
    assert datetime.fromisoformat(hold["since"]) == since
    assert datetime.fromisoformat(hold["until"]) > datetime.fromisoformat(missed["captured_at"])
    assert "BR9900000001 missed (expected fail scratch, judged pass with no defect)" in hold["reason"]
    assert (hold["units"], hold["held"], hold["reinspected"], hold["released_units"]) == (4, 4, 0, 0)
    assert hold["released"] is None
    response = api.post("/v1/inspections", "bearing", json=missed)  # the line PC sends it again
    assert response.status_code == 200 and len(api.get("/v1/holds").json()["items"]) == 1
    hold_id = hold["id"]
    assert set(units(api, hold_id)) == {f"BR000000010{n}" for n in range(1, 5)}  # no challenge part

    before = grade(api, "BR0000000100")
    assert (before["holds"], before["may_ship"]) == ([], True)
    held = grade(api, "BR0000000101")
    assert held["accepted"] is True and held["may_ship"] is False
    assert [(h["id"], h["cause"], h["state"]) for h in held["holds"]] == [(hold_id, "verification", "held")]
    trace = api.get("/v1/trace/BR0000000101").json()
    assert trace["grade"]["may_ship"] is False and trace["grade"]["holds"][0]["state"] == "held"

    # sorting: two units are re-inspected after the hold, one of them now fails; one is released by QA
    time.sleep(0.01)
    ingest(api, unit("BR0000000102", -1))
    ingest(api, unit("BR0000000103", -1, scratch=True))
    response = api.post(
        f"/v1/holds/{hold_id}/release",
        "reviewer",
        json={"code": "BR0000000104", "comment": "x-ray: no crack"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["code"] == "BR0000000104" and response.json()["created_by_name"] == "qa"

    assert units(api, hold_id) == {
        "BR0000000101": "held",
        "BR0000000102": "reinspected",
        "BR0000000103": "reinspected",
        "BR0000000104": "released",
    }
    assert units(api, hold_id, state="held") == {"BR0000000101": "held"}
    page = api.get(f"/v1/holds/{hold_id}/units", params={"state": "reinspected"}).json()
    assert {i["code"]: (i["status"], i["may_ship"]) for i in page["items"]} == {
        "BR0000000102": ("accepted", True),
        "BR0000000103": ("failed", False),  # its re-inspection found a scratch: it fails, hold or not
    }
    assert grade(api, "BR0000000104")["may_ship"] is True
    assert grade(api, "BR0000000103")["holds"][0]["state"] == "reinspected"
    assert counted_as_listed(api, hold_id) == (1, 2, 1)
    ingest(api, unit("BR0000000104", -2))  # inspected again after its release: released stays its state
    assert counted_as_listed(api, hold_id) == (1, 2, 1)

    refused(
        api.post(
            f"/v1/holds/{hold_id}/release", "reviewer", json={"code": "BR0000000104", "comment": "again"}
        ),
        409,
        "code",
        "BR0000000104",
    )
    message = refused(
        api.post(f"/v1/holds/{hold_id}/release", "reviewer", json={"code": "BR0000000100", "comment": "x"}),
        409,
        "code",
        "BR0000000100",
    )
    assert "is not in hold" in message
    assert [h["id"] for h in api.get("/v1/holds", params={"line_id": "bearing-01"}).json()["items"]] == [
        hold_id
    ]

    # the whole hold released: every unit may ship as its grade says; the hold is no longer open
    response = api.post(
        f"/v1/holds/{hold_id}/release", "reviewer", json={"comment": "rabbit re-run, all sorted"}
    )
    assert response.status_code == 201 and response.json()["code"] is None
    assert grade(api, "BR0000000101")["may_ship"] is True
    assert api.get("/v1/holds", params={"line_id": "bearing-01"}).json()["items"] == []
    [closed] = api.get("/v1/holds", params={"state": "released"}).json()["items"]
    assert closed["released"]["comment"] == "rabbit re-run, all sorted" and closed["held"] == 0
    assert counted_as_listed(api, hold_id) == (0, 0, 4)
    refused(
        api.post(f"/v1/holds/{hold_id}/release", "reviewer", json={"comment": "again"}),
        409,
        "hold_id",
        hold_id,
    )


def test_a_second_miss_holds_only_what_the_first_hold_left_out(api: Api) -> None:
    ingest(api, part_inspection(RABBIT, minutes_ago=300, scratch=True))
    ingest(api, unit("BR0000000301", 200))
    ingest(api, part_inspection(RABBIT, minutes_ago=100, scratch=False) | {"id": "first-miss"})
    ingest(api, unit("BR0000000302", 50))
    ingest(api, part_inspection(RABBIT, minutes_ago=20, scratch=False) | {"id": "second-miss"})
    second, first = api.get("/v1/holds", params={"line_id": "bearing-01"}).json()["items"]  # newest first
    assert units(api, first["id"]) == {"BR0000000301": "held"}
    assert units(api, second["id"]) == {"BR0000000302": "held"}
    assert second["since"] == first["until"]  # back to back: no unit in two holds, none left out
    assert api.post("/v1/inspections", "bearing", json=unit("BR0000000303", 10)).status_code == 201
    assert len(api.get("/v1/holds").json()["items"]) == 2  # a unit is no challenge part: no hold


def test_the_containers_of_the_held_units_are_what_to_pull_back(api: Api) -> None:
    for n, minutes in enumerate((50, 40, 30, 20, 10), start=1):
        ingest(api, unit(f"BR000000040{n}", minutes))
    links = [
        ("BOX-1", "BR0000000401"), ("BOX-1", "BR0000000402"), ("PALLET-1", "BOX-1"),
        ("BOX-2", "BR0000000403"), ("BOX-2", "BR0000000405"),
    ]  # fmt: skip
    for parent, child in links:
        link = {"parent": parent, "child": child, "relation": "packed_in", "at": ago(5).isoformat()}
        assert api.post("/v1/genealogy", "reviewer", json=link).status_code == 201
    hold = place(api, line_id="bearing-01", since=ago(60).isoformat(), cause="escape", reason="escape").json()
    assert hold["units"] == 5
    time.sleep(0.01)
    ingest(api, unit("BR0000000405", -1))  # sorted: re-inspected, no longer held

    response = api.get(f"/v1/holds/{hold['id']}/containers")
    assert response.status_code == 200, response.text
    found = response.json()
    assert (found["held_units"], found["packed"]) == (4, 3)  # 404 lies loose
    assert [(c["code"], c["depth"], c["held_units"], c["examples"]) for c in found["items"]] == [
        ("BOX-1", 1, 2, ["BR0000000401", "BR0000000402"]),
        ("PALLET-1", 2, 2, ["BR0000000401", "BR0000000402"]),
        ("BOX-2", 1, 1, ["BR0000000403"]),
    ]
    assert {c["relation"] for c in found["items"]} == {"packed_in"}
    assert api.get("/v1/holds/999/containers").status_code == 404


def test_a_unit_released_from_one_hold_still_waits_for_the_other(api: Api) -> None:
    ingest(api, unit("BR0000000501", 30))
    first = place(api, line_id="bearing-01", since=ago(60).isoformat(), cause="escape", reason="a").json()
    second = place(api, line_id="bearing-01", since=ago(45).isoformat(), cause="complaint", reason="b").json()
    release = {"code": "BR0000000501", "comment": "not this escape"}
    assert api.post(f"/v1/holds/{first['id']}/release", "reviewer", json=release).status_code == 201
    [item] = api.get(f"/v1/holds/{first['id']}/units").json()["items"]
    assert (item["state"], item["may_ship"]) == ("released", False)  # the complaint's hold still holds it
    assert [h["state"] for h in grade(api, "BR0000000501")["holds"]] == ["released", "held"]
    assert grade(api, "BR0000000501")["may_ship"] is False
    assert api.post(f"/v1/holds/{second['id']}/release", "reviewer", json=release).status_code == 201
    [item] = api.get(f"/v1/holds/{first['id']}/units").json()["items"]
    assert item["may_ship"] is True and grade(api, "BR0000000501")["may_ship"] is True


def test_the_units_made_until_the_station_is_verified_again_are_held_too(api: Api) -> None:
    ingest(api, part_inspection(RABBIT, minutes_ago=300, scratch=True))
    ingest(api, part_inspection(MASTER, minutes_ago=299, scratch=False))
    ingest(api, unit("BR0000000901", 200))
    ingest(api, part_inspection(RABBIT, minutes_ago=100, scratch=False) | {"id": "the-miss"})
    ingest(api, unit("BR0000000902", 80))  # made while the station was not error-proof
    ingest(api, unit("BR0000000903", 60))
    assert len(api.get("/v1/holds").json()["items"]) == 1  # the miss's hold, up to the miss
    ingest(api, part_inspection(RABBIT, minutes_ago=40, scratch=True) | {"id": "caught-again"})
    verification = api.get("/v1/lines/bearing-01/verification").json()
    assert verification["state"] == "verified"

    after, miss = api.get("/v1/holds", params={"line_id": "bearing-01"}).json()["items"]  # newest first
    assert units(api, miss["id"]) == {"BR0000000901": "held"}
    assert units(api, after["id"]) == {"BR0000000902": "held", "BR0000000903": "held"}
    assert (after["since"], after["created_by"]) == (miss["until"], "system:verification-restored")
    assert datetime.fromisoformat(after["until"]) == datetime.fromisoformat(verification["verified_at"])
    assert f"after the miss of hold {miss['id']}" in after["reason"]
    ingest(api, part_inspection(MASTER, minutes_ago=10, scratch=False))  # verified still: nothing more held
    ingest(api, unit("BR0000000904", 5))
    assert len(api.get("/v1/holds").json()["items"]) == 2


def test_an_automatic_hold_that_cannot_be_placed_loses_no_inspection(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    ingest(api, part_inspection(RABBIT, minutes_ago=300, scratch=True))
    ingest(api, unit("BR0000000801", 100))
    with api.context.db.engine.begin() as connection:  # the holds' tables gone under the API
        for table in ("hold_releases", "holds"):
            connection.execute(sa.text(f"DROP TABLE {table}"))
    missed = part_inspection(RABBIT, minutes_ago=20, scratch=False) | {"id": "miss-without-holds"}
    with caplog.at_level("ERROR"):
        ingest(api, missed)  # still a 201: the inspection is stored
    assert api.get("/v1/inspections/miss-without-holds").status_code == 200
    assert api.get("/v1/lines/bearing-01/verification").json()["state"] == "failed"
    failed = api.context.metrics.registry.get_sample_value(
        "linecheck_holds_total", {"line": "bearing-01", "cause": "failed"}
    )
    assert failed == 1.0
    assert any("automatic hold could not be placed" in r.getMessage() for r in caplog.records)


def test_a_product_hold_holds_that_products_units_only(api: Api) -> None:
    for code, product, minutes in (("PV000000000501", "PV-6x10", 50), ("PV000000000502", "PV-6x12", 40)):
        body = pv(code, captured_at=ago(minutes).isoformat(), product=product)
        ingest(api, body, who="pv")
    response = place(
        api,
        "reviewer",
        line_id="pv-01",
        product="PV-6x12",
        since=ago(60).isoformat(),
        cause="complaint",
        reason="customer found a cracked 6x12 module",
    )
    assert response.status_code == 201, response.text
    assert units(api, response.json()["id"]) == {"PV000000000502": "held"}
    assert grade(api, "PV000000000501")["may_ship"] is True
    assert grade(api, "PV000000000502")["may_ship"] is False
    assert api.get("/v1/holds", params={"cause": "escape"}).json()["items"] == []
    assert len(api.get("/v1/holds", params={"cause": "complaint"}).json()["items"]) == 1


def test_each_refusal_names_the_field_and_the_value(api: Api) -> None:
    good = {
        "line_id": "bearing-01",
        "since": ago(60).isoformat(),
        "cause": "escape",
        "reason": "audit escape",
    }
    refused(place(api, **(good | {"line_id": "no-such-line"})), 422, "line_id", "no-such-line")
    refused(place(api, **(good | {"line_id": "pv-01", "product": "PV-9x9"})), 422, "product", "PV-9x9")
    refused(place(api, **(good | {"until": ago(90).isoformat()})), 422, "since", ago(60).isoformat()[:10])
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert "lies in the future" in refused(
        place(api, **(good | {"until": future})), 422, "until", future[:10]
    )
    assert "31 days" in refused(
        place(api, **(good | {"since": ago(60 * 24 * 40).isoformat()})), 422, "since", ""
    )
    refused(place(api, **(good | {"reason": "   "})), 422, "reason", "   ")
    refused(place(api, **(good | {"cause": "maybe"})), 422, "cause", "maybe")
    assert place(api, "viewer", **good).status_code == 403
    assert place(api, "bearing", **good).status_code == 403
    scoped = place(api, "bearing-reviewer", **(good | {"line_id": "pv-01"}))  # a reviewer of another line
    assert scoped.status_code == 403 and "line_id='pv-01'" in scoped.json()["error"]["message"]
    assert api.get("/v1/holds/999").status_code == 404
    assert api.get("/v1/holds/0").status_code == 422
    missing = api.post("/v1/holds/999/release", "reviewer", json={"comment": "x"})
    assert missing.status_code == 404 and "hold id=999" in missing.json()["error"]["message"]
    refused(api.post("/v1/holds/999/release", "reviewer", json={"comment": ""}), 422, "comment", "")
    assert api.get("/v1/holds", params={"state": "closed"}).status_code == 422


def test_the_database_keeps_holds_and_releases_as_an_append_only_record(api: Api) -> None:
    ingest(api, unit("BR0000000201", 20))
    hold = place(
        api, line_id="bearing-01", since=ago(30).isoformat(), cause="other", reason="lamp failed"
    ).json()
    api.post(f"/v1/holds/{hold['id']}/release", "reviewer", json={"comment": "lamp was fine"})
    engine = api.context.db.engine
    for statement in (
        "UPDATE holds SET reason = 'nothing happened'",
        "DELETE FROM holds",
        "UPDATE hold_releases SET comment = 'x'",
        "DELETE FROM hold_releases",
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(sa.text(statement))
    assert api.get(f"/v1/holds/{hold['id']}").json()["reason"] == "lamp failed"
