"""Access: line scope, roles, keys hashed at rest, rate limiting per key, the review audit trail."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import httpx
import pytest
from rel_helpers import auth, inspection, noise_png, stored_inspections
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from linecheck.serving.api.testing import create_key, run_api
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import hash_secret, parse_key
from linecheck.serving.store.testing import find_postgres, temporary_postgres_database


def _post(base: str, key: str, path: str, *, headers: dict | None = None, **kw: object) -> httpx.Response:
    return httpx.post(base + path, headers={**auth(key), **(headers or {})}, timeout=30, **kw)


@pytest.mark.parametrize(
    ("who", "body"),
    [
        ("textile", lambda: inspection("bearing-01", 1)),  # a line key, another line
        ("bearing", lambda: inspection("textile-01", 1)),
        ("textile", lambda: {"inspections": [inspection("textile-01", 1), inspection("bearing-01", 2)]}),
        ("viewer", lambda: inspection("textile-01", 3)),  # a viewer never writes
        ("reviewer", lambda: inspection("textile-01", 4)),  # a reviewer does not ingest
    ],
    ids=["textile-writes-bearing", "bearing-writes-textile", "mixed-batch", "viewer", "reviewer"],
)
def test_writes_outside_the_key_scope_are_refused_and_store_nothing(api_server, keys, who, body) -> None:
    with api_server() as base:
        answer = _post(base, keys[who], "/v1/inspections", json=body())
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["type"] == "forbidden"
        assert stored_inspections(base, keys["viewer"]) == []


def _defect_of(base: str, keys: dict[str, str], line: str) -> int:
    body = inspection(line, 7, defects=1)
    assert _post(base, keys[line.split("-")[0]], "/v1/inspections", json=body).status_code == 201
    got = httpx.get(f"{base}/v1/inspections/{body['id']}", headers=auth(keys["viewer"]), timeout=30)
    return int(got.json()["defects"][0]["id"])


@pytest.mark.parametrize("who", ["viewer", "textile", "bearing", "scoped_reviewer"])
def test_only_reviewers_of_the_line_may_review(api_server, keys, db_url, who) -> None:
    keys = {**keys, "scoped_reviewer": create_key(db_url, "reviewer", "bearing-01", name="bearing qa")}
    with api_server() as base:
        defect = _defect_of(base, keys, "textile-01")
        answer = _post(base, keys[who], f"/v1/defects/{defect}/review", json={"decision": "confirm"})
        assert answer.status_code == 403, answer.text
        history = httpx.get(f"{base}/v1/defects/{defect}", headers=auth(keys["viewer"]), timeout=30).json()
        assert history["reviews"] == [] and history["review_state"] == "pending"


@pytest.mark.parametrize("who", ["viewer", "reviewer"])
def test_viewers_and_reviewers_cannot_upload_images(api_server, keys, who) -> None:
    with api_server() as base:
        answer = _post(
            base, keys[who], "/v1/images", content=noise_png(1, 16), headers={"Content-Type": "image/png"}
        )
        assert answer.status_code == 403


def test_keys_are_stored_hashed_never_in_plain_text(db_url, tmp_path) -> None:
    made = [create_key(db_url, role, "pv-01" if role == "line" else None) for role in ("line", "viewer")]
    path = make_url(db_url).database
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dump = "\n".join(conn.iterdump())
    raw = b"".join(p.read_bytes() for p in (tmp_path / "api").iterdir() if p.name.startswith("linecheck.db"))
    for key in made:
        _key_id, secret = parse_key(key)
        assert secret not in dump and key not in dump
        assert secret.encode() not in raw  # not in the file, its WAL or free pages either
        assert hash_secret(secret) in dump  # what is kept is the SHA-256


def test_rate_limit_per_key_answers_429_with_retry_after(api_server, keys) -> None:
    with api_server(rate_limit_per_s=2.0, rate_limit_burst=4) as base, httpx.Client(base_url=base) as http:
        codes = [http.get("/v1/inspections", headers=auth(keys["viewer"])).status_code for _ in range(6)]
        assert codes[:4] == [200] * 4 and codes[4:] == [429, 429]
        refused = http.get("/v1/inspections", headers=auth(keys["viewer"]))
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "rate_limited"
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        # another key has its own bucket
        assert http.get("/v1/inspections", headers=auth(keys["reviewer"])).status_code == 200
        time.sleep(retry_after)
        assert http.get("/v1/inspections", headers=auth(keys["viewer"])).status_code == 200


def test_rate_limit_zero_turns_limiting_off(api_server, keys) -> None:
    with api_server(rate_limit_per_s=0, rate_limit_burst=1) as base, httpx.Client(base_url=base) as http:
        codes = {http.get("/v1/inspections", headers=auth(keys["viewer"])).status_code for _ in range(20)}
        assert codes == {200}


def test_review_audit_trail_keeps_who_when_what_and_is_never_overwritten(api_server, keys, db_url) -> None:
    decisions = [
        ("reviewer", {"decision": "confirm", "comment": "clear stain"}),
        ("reviewer2", {"decision": "reclassify", "new_class": "hole", "comment": "it is a hole"}),
        ("reviewer", {"decision": "reject"}),
    ]
    with api_server() as base:
        defect = _defect_of(base, keys, "textile-01")
        ids = {}
        for who, body in decisions:
            answer = _post(base, keys[who], f"/v1/defects/{defect}/review", json=body)
            assert answer.status_code == 201, answer.text
            ids[who] = parse_key(keys[who])[0]
        history = httpx.get(f"{base}/v1/defects/{defect}", headers=auth(keys["viewer"]), timeout=30).json()
    reviews = history["reviews"]
    assert [r["decision"] for r in reviews] == [d["decision"] for _, d in decisions]
    assert [r["reviewer"] for r in reviews] == [f"key:{ids[who]}" for who, _ in decisions]
    assert [r["new_class"] for r in reviews] == [None, "hole", None]
    assert reviews[0]["comment"] == "clear stain"
    times = [r["at"] for r in reviews]
    assert times == sorted(times)
    assert history["review_state"] == "rejected"  # the current state follows the last decision
    path = make_url(db_url).database
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT decision FROM reviews WHERE defect_id = ? ORDER BY id", (defect,))
        assert [r[0] for r in rows] == ["confirm", "reclassify", "reject"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store_url(request, db_url) -> Iterator[str]:
    if request.param == "sqlite":
        yield db_url
        return
    server, why = find_postgres()
    if server is None:
        pytest.skip(f"no PostgreSQL server reachable: {why}")
    with temporary_postgres_database(server, prefix="linecheck_rel") as url:
        yield url


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE reviews SET decision = 'reject' WHERE id = :id",
        "UPDATE reviews SET reviewer = 'key:someoneelse' WHERE id = :id",
        "DELETE FROM reviews WHERE id = :id",
    ],
    ids=["change-decision", "change-reviewer", "delete"],
)
def test_database_refuses_to_rewrite_the_review_audit_trail(any_store_url, tmp_path, statement) -> None:
    keys = {role: create_key(any_store_url, role, "textile-01" if role == "line" else None) for role in
            ("line", "reviewer", "viewer")}  # fmt: skip
    with run_api(any_store_url, tmp_path / "store") as base:
        body = inspection("textile-01", 5)
        assert httpx.post(f"{base}/v1/inspections", json=body, headers=auth(keys["line"])).status_code == 201
        got = httpx.get(f"{base}/v1/inspections/{body['id']}", headers=auth(keys["viewer"])).json()
        defect = got["defects"][0]["id"]
        review = {"decision": "confirm"}
        answer = httpx.post(f"{base}/v1/defects/{defect}/review", json=review, headers=auth(keys["reviewer"]))
        assert answer.status_code == 201
    db = Database.from_url(any_store_url)
    try:
        with db.engine.connect() as conn:
            review_id = conn.execute(text("SELECT id FROM reviews")).scalar_one()
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement), {"id": review_id})
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT decision, reviewer FROM reviews")).all()
        assert [r[0] for r in rows] == ["confirm"] and rows[0][1].startswith("key:")
    finally:
        db.dispose()
