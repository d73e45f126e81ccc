"""The attribute MSA of a station through the API, on SQLite and PostgreSQL: the line's challenge parts over a
period (each inspection a trial, decided as the machine decided it) and a posted study of reference parts;
effectiveness, misses and false alarms with their intervals, repeatability, kappa and AIAG's verdict; refusals
name the field and value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_harness import Api
from lc_challenge import MASTER, RABBIT, part_inspection

from linecheck.audit import escape_rate


@pytest.fixture
def api(qa_api: Api) -> Api:
    return qa_api


def trial(api: Api, code: str, minutes_ago: float, verdict: str) -> None:
    body = part_inspection(code, minutes_ago=minutes_ago, scratch=verdict == "fail")
    if verdict == "not_inspected":
        body |= {"verdict": "not_inspected", "model_name": None, "model_version": None, "reason": "timed out"}
    response = api.post("/v1/inspections", "bearing", json=body)
    assert response.status_code == 201, response.text


def iso(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


def test_the_challenge_parts_run_every_shift_are_an_attribute_study(api: Api) -> None:
    trial(api, RABBIT, 60 * 24 * 40, "pass")  # a miss 40 days ago: before the default 30-day period
    for minutes, rabbit, master in ((600, "fail", "pass"), (300, "fail", "fail"), (200, "pass", "pass"),
                                    (100, "fail", "pass"), (50, "fail", "not_inspected")):  # fmt: skip
        trial(api, RABBIT, minutes, rabbit)
        trial(api, MASTER, minutes + 1, master)

    response = api.get("/v1/lines/bearing-01/msa")
    assert response.status_code == 200, response.text
    msa = response.json()
    assert msa["source"] == "challenge_parts"
    parts = {p["code"]: p for p in msa["parts"]}
    assert parts[RABBIT]["decisions"] == ["fail", "fail", "pass", "fail", "fail"]
    assert (parts[MASTER]["decisions"], parts[MASTER]["not_inspected"]) == (
        ["pass", "fail", "pass", "pass"],
        1,
    )
    assert (msa["decisions"], msa["correct"], msa["effectiveness"]) == (9, 7, pytest.approx(7 / 9))
    assert (msa["misses"]["count"], msa["misses"]["of"]) == (1, 5)
    assert (msa["false_alarms"]["count"], msa["false_alarms"]["of"]) == (1, 4)
    assert msa["misses"]["high"] == pytest.approx(escape_rate(1, 5).high)
    # truth 5 F / 4 P, decisions 5 F / 4 P: chance (5/9)^2 + (4/9)^2
    chance = (5 / 9) ** 2 + (4 / 9) ** 2
    assert msa["kappa"] == pytest.approx((7 / 9 - chance) / (1 - chance))
    assert msa["repeatability"] == 0.0
    assert msa["verdict"] == "unacceptable"
    assert any("miss rate 20.0% is over 5%" in p for p in msa["problems"])

    recent = api.get("/v1/lines/bearing-01/msa", params={"since": iso(150)}).json()
    assert (recent["decisions"], recent["verdict"]) == (3, "insufficient")  # the master part decided once
    assert any(MASTER in p and "fewer than twice" in p for p in recent["problems"])


def test_a_posted_study_of_reference_parts(api: Api) -> None:
    for minutes in (30, 20, 10):
        trial(api, "BR0000000901", minutes, "fail")
        trial(api, "BR0000000902", minutes, "pass")
    body = {
        "line_id": "bearing-01",
        "since": iso(60),
        "parts": [{"code": "BR0000000901", "expect": "fail"}, {"code": "BR0000000902", "expect": "pass"}],
    }
    response = api.post("/v1/msa", "viewer", json=body)
    assert response.status_code == 200, response.text
    msa = response.json()
    assert (msa["source"], msa["verdict"], msa["effectiveness"], msa["kappa"]) == (
        "study",
        "acceptable",
        1.0,
        1.0,
    )
    assert msa["repeatability"] == 1.0

    never = body | {"parts": [*body["parts"], {"code": "BR0000000903", "expect": "pass"}]}
    msa = api.post("/v1/msa", "viewer", json=never).json()
    assert msa["verdict"] == "insufficient" and any("BR0000000903" in p for p in msa["problems"])


def _refused(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    message = str(response.json()["error"]["message"])
    assert field in message, message
    return message


def test_refusals_name_the_field_and_the_value(api: Api) -> None:
    part = {"code": "BR0000000901", "expect": "fail"}
    good = {"line_id": "bearing-01", "since": iso(60), "parts": [part]}
    assert "line_id='no-such-line'" in _refused(
        api.post("/v1/msa", "viewer", json=good | {"line_id": "no-such-line"}), "line_id"
    )
    assert "BR0000000901" in _refused(
        api.post("/v1/msa", "viewer", json=good | {"parts": [part, part]}), "parts"
    )
    _refused(api.post("/v1/msa", "viewer", json=good | {"until": iso(90)}), "since=")
    _refused(
        api.post("/v1/msa", "viewer", json=good | {"parts": [{"code": "BR1", "expect": "maybe"}]}), "expect"
    )
    missing = api.get("/v1/lines/pv-01/msa")
    assert missing.status_code == 404 and "POST /v1/msa" in missing.json()["error"]["message"]
    _refused(api.get("/v1/lines/bearing-01/msa", params={"since": iso(60 * 24 * 400)}), "366 days")
