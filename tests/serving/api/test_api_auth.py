"""API keys: 401 without a valid key, 403 outside the key's role or lines, writes record the key."""

from __future__ import annotations

from typing import Any

import pytest
from api_harness import Api
from api_payloads import pv, textile

from linecheck.serving.store.keys import parse_key, revoke_key


def _stored_defect_id(api: Api) -> int:
    body = textile()
    assert api.post("/v1/inspections", "textile", json=body).status_code == 201
    return int(api.get(f"/v1/inspections/{body['id']}").json()["defects"][0]["id"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer lc_000000000000_" + "A" * 43}, 401),  # well-formed, unknown
        ({"Authorization": "Bearer not-a-key"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        ({"X-API-Key": "lc_000000000000_" + "A" * 43}, 401),
    ],
)
def test_missing_or_unknown_key_is_401(api: Api, headers: dict[str, str], status: int) -> None:
    response = api.client.get("/v1/lines", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["type"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_x_api_key_header_is_accepted(api: Api) -> None:
    response = api.client.get("/v1/lines", headers={"X-API-Key": api.keys["viewer"]})
    assert response.status_code == 200
    assert {line["id"] for line in response.json()} == {"textile-01", "pv-01", "bearing-01"}


def test_revoked_key_is_401(api: Api) -> None:
    key_id, _ = parse_key(api.keys["viewer"])
    with api.context.db.writer() as session:
        revoke_key(session, key_id)
        session.commit()
    response = api.get("/v1/lines", "viewer")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


LINK = {"parent": "B1", "child": "RL0000000042", "relation": "packed_in"}
SHIPPED = {"type": "shipped", "at": "2026-11-24T08:00:00Z"}
PACKED = {"type": "packed", "at": "2026-11-24T08:00:00Z", "line_id": "textile-01"}


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status"),
    [
        ("viewer", "post", "/v1/inspections", lambda: textile(), 403),
        ("reviewer", "post", "/v1/inspections", lambda: textile(), 403),
        ("pv", "post", "/v1/inspections", lambda: textile(), 403),  # a pv-01 key writing for textile-01
        ("textile", "post", "/v1/inspections", lambda: pv(), 403),
        ("textile", "post", "/v1/inspections", lambda: {"inspections": [textile(), pv()]}, 403),
        ("textile", "post", "/v1/inspections", lambda: textile(), 201),
        ("viewer", "post", "/v1/genealogy", lambda: LINK, 403),
        ("bearing", "post", "/v1/genealogy", lambda: LINK, 403),  # RL0000000042 is a unit of textile-01
        ("textile", "post", "/v1/genealogy", lambda: LINK, 201),
        ("reviewer", "post", "/v1/genealogy", lambda: LINK, 201),  # reviewers link codes too
        ("bearing", "post", "/v1/units/RL0000000042/events", lambda: SHIPPED, 403),  # another line's unit
        ("reviewer", "post", "/v1/units/RL0000000042/events", lambda: SHIPPED, 403),
        ("pv", "post", "/v1/units/RL0000000042/events", lambda: PACKED, 403),  # event names textile-01
        ("textile", "post", "/v1/units/RL0000000042/events", lambda: PACKED, 201),
        ("textile", "post", "/v1/defects/{defect}/review", lambda: {"decision": "confirm"}, 403),
        ("viewer", "post", "/v1/defects/{defect}/review", lambda: {"decision": "confirm"}, 403),
        ("reviewer", "post", "/v1/defects/{defect}/review", lambda: {"decision": "confirm"}, 201),
        ("textile", "get", "/v1/trace/RL0000000042", None, 200),  # every role may read
        ("reviewer", "get", "/v1/review/queue", None, 200),
        ("viewer", "get", "/v1/units/RL0000000042/grade", None, 200),
    ],
)  # fmt: skip
def test_roles_and_line_scopes(api: Api, who: str, method: str, path: str, body: Any, status: int) -> None:
    defect = _stored_defect_id(api)
    kwargs = {"json": body()} if body else {}
    response = getattr(api.client, method)(path.format(defect=defect), headers=api.headers(who), **kwargs)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"]["type"] == "forbidden"


def test_every_write_records_the_key(api: Api) -> None:
    body = textile()
    api.post("/v1/inspections", "textile", json=body)
    stored = api.get(f"/v1/inspections/{body['id']}").json()
    line_key, _ = parse_key(api.keys["textile"])
    assert stored["created_by"] == f"key:{line_key}"
    reviewer, _ = parse_key(api.keys["reviewer"])
    defect = stored["defects"][0]["id"]
    review = api.post(f"/v1/defects/{defect}/review", "reviewer", json={"decision": "reject"}).json()
    assert review["reviews"][0]["reviewer"] == f"key:{reviewer}"
    api.post(
        "/v1/genealogy",
        "textile",
        json={"parent": "BATCH-7", "child": "RL0000000042", "relation": "made_from"},
    )
    api.post(
        "/v1/units/RL0000000042/events", "textile", json={"type": "shipped", "at": "2026-11-24T08:00:00Z"}
    )
    trace = api.get("/v1/trace/RL0000000042").json()
    assert trace["genealogy"]["parents"][0]["created_by"] == f"key:{line_key}"
    assert trace["events"][0]["created_by"] == f"key:{line_key}"
