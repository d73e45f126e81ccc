"""``GET /v1/shipping/{code}`` on SQLite and PostgreSQL: a unit, a box or a pallet may ship only when every
inspected unit in it (genealogy down) is accepted and held by no hold; the blockers say why each may not."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_harness import Api
from lc_challenge import part_inspection


@pytest.fixture
def api(qa_api: Api) -> Api:
    return qa_api


def ingest(api: Api, code: str, minutes_ago: float, verdict: str = "pass") -> None:
    body = part_inspection(code, minutes_ago=max(minutes_ago, 0), scratch=verdict == "fail")
    body["id"] = f"{code}-{minutes_ago}-{time.monotonic_ns()}".lower()
    if verdict == "not_inspected":
        body |= {"verdict": "not_inspected", "model_name": None, "model_version": None, "reason": "timed out"}
    response = api.post("/v1/inspections", "bearing", json=body)
    assert response.status_code == 201, response.text


def pack(api: Api, parent: str, child: str) -> None:
    link = {"parent": parent, "child": child, "relation": "packed_in"}
    assert api.post("/v1/genealogy", "reviewer", json=link).status_code == 201


def shipping(api: Api, code: str) -> dict[str, Any]:
    response = api.get(f"/v1/shipping/{code}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def blockers(answer: dict[str, Any]) -> dict[str, tuple[str, list[int]]]:
    return {b["code"]: (b["reason"], b["hold_ids"]) for b in answer["blockers"]}


def test_a_pallet_ships_only_when_every_unit_in_it_may(api: Api) -> None:
    ingest(api, "BR0000000601", 50)
    ingest(api, "BR0000000602", 40)
    ingest(api, "BR0000000603", 30, "fail")  # a scratch on the face: rejected
    ingest(api, "BR0000000604", 20)
    for box, unit in (("BOX-A", "BR0000000601"), ("BOX-A", "BR0000000602"), ("BOX-B", "BR0000000603"),
                      ("BOX-B", "BR0000000604"), ("PALLET-1", "BOX-A"), ("PALLET-1", "BOX-B")):  # fmt: skip
        pack(api, box, unit)

    box = shipping(api, "BOX-A")
    assert (box["may_ship"], box["units"], box["containers"], box["blockers"]) == (True, 2, 1, [])
    pallet = shipping(api, "PALLET-1")
    assert (pallet["may_ship"], pallet["units"], pallet["containers"], pallet["blocked"]) == (False, 4, 3, 1)
    assert blockers(pallet) == {"BR0000000603": ("failed", [])}
    unit = shipping(api, "BR0000000604")
    assert (unit["may_ship"], unit["units"], unit["containers"]) == (True, 1, 0)

    since = (datetime.now(UTC) - timedelta(minutes=55)).isoformat()
    until = (datetime.now(UTC) - timedelta(minutes=45)).isoformat()
    hold = api.post(
        "/v1/holds", "reviewer",
        json={"line_id": "bearing-01", "since": since, "until": until, "cause": "complaint", "reason": "x"},
    ).json()  # fmt: skip
    assert hold["units"] == 1
    assert blockers(shipping(api, "BOX-A")) == {"BR0000000601": ("held", [hold["id"]])}
    assert set(blockers(shipping(api, "PALLET-1"))) == {"BR0000000601", "BR0000000603"}
    time.sleep(0.01)
    ingest(api, "BR0000000601", -1)  # sorted: inspected again after the hold, passed
    assert shipping(api, "BOX-A")["may_ship"] is True

    ingest(api, "BR0000000605", 10, "not_inspected")
    pack(api, "BOX-C", "BR0000000605")
    assert blockers(shipping(api, "BOX-C")) == {"BR0000000605": ("not_inspected", [])}


def test_a_code_with_no_inspected_unit_in_it_is_not_found(api: Api) -> None:
    pack(api, "BOX-EMPTY", "LOT-1")
    for code in ("BOX-EMPTY", "NO-SUCH-CODE"):
        response = api.get(f"/v1/shipping/{code}")
        assert response.status_code == 404 and f"code={code!r}" in response.json()["error"]["message"]
    assert api.get("/v1/shipping/bad code").status_code == 422
