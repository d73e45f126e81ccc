"""The review audit trail is tamper-evident below the API (SQLite and PostgreSQL).

An attacker with database access rewrites reviews the way the issue found possible (SQLite:
dropping a trigger, ``INSERT OR REPLACE``; PostgreSQL: ``session_replication_role = replica``,
``TRUNCATE``) or moves ``defects.review_state`` with no review behind it. ``linecheck db verify``
and the unit's trace say where the chain breaks, and grades keep following the reviews.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from rel_helpers import auth, code_for, inspection
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from linecheck.cli.main import app as cli
from linecheck.serving.api.testing import create_key, run_api
from linecheck.serving.store.audit import GENESIS, review_digest
from linecheck.serving.store.db import Database, alembic_config, current_revision, head_revision, sqlite_url
from linecheck.serving.store.integrity import APP_PRIVILEGES
from linecheck.serving.store.models import Base
from linecheck.serving.store.testing import (
    copy_sqlite,
    find_postgres,
    new_postgres_schema,
    temporary_postgres_database,
)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL server (skipped when none is reachable)."""
    server, why = find_postgres()
    if server is None:
        pytest.skip(f"no PostgreSQL server reachable: {why}")
    with temporary_postgres_database(server, prefix="linecheck_rel") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, rel_template: Path, tmp_path: Path) -> str:
    """A fresh migrated store: a SQLite copy, or a new schema in PostgreSQL (connecting as its owner)."""
    if request.param == "sqlite":
        return copy_sqlite(rel_template, tmp_path / "store" / "linecheck.db")
    return new_postgres_schema(request.getfixturevalue("pg_database"))


@dataclass
class Seeded:
    """A store with reviewed defects, served by the real API."""

    base: str
    url: str
    keys: dict[str, str]
    code: str
    defects: list[int]
    reviews: list[int]


def _review(base: str, key: str, defect: int, body: dict[str, Any]) -> None:
    answer = httpx.post(f"{base}/v1/defects/{defect}/review", json=body, headers=auth(key), timeout=30)
    assert answer.status_code == 201, answer.text


def _seed(base: str, keys: dict[str, str], url: str) -> Seeded:
    """A bearing ring with four defects (a crack among them) and five reviews, plus another unit."""
    ring = inspection("bearing-01", 7, defects=4)
    other = inspection("bearing-01", 8, defects=1)
    for body in (ring, other):
        answer = httpx.post(f"{base}/v1/inspections", json=body, headers=auth(keys["bearing"]), timeout=30)
        assert answer.status_code == 201, answer.text
    got = httpx.get(f"{base}/v1/inspections/{ring['id']}", headers=auth(keys["viewer"]), timeout=30).json()
    defects = [d["id"] for d in got["defects"]]
    other_defect = httpx.get(f"{base}/v1/inspections/{other['id']}", headers=auth(keys["viewer"])).json()
    _review(base, keys["reviewer"], defects[0], {"decision": "confirm", "comment": "clear scratch"})
    _review(base, keys["reviewer"], other_defect["defects"][0]["id"], {"decision": "reject"})
    _review(base, keys["reviewer"], defects[1], {"decision": "reclassify", "new_class": "rust"})
    _review(base, keys["reviewer"], defects[0], {"decision": "reject", "comment": "on second look: dust"})
    _review(base, keys["reviewer"], defects[2], {"decision": "confirm"})
    with _connect(url) as conn:
        reviews = [int(r[0]) for r in conn.execute(text("SELECT id FROM reviews ORDER BY id"))]
    assert len(reviews) == 5
    return Seeded(
        base=base, url=url, keys=keys, code=code_for("bearing-01", 7), defects=defects, reviews=reviews
    )


@contextmanager
def _connect(url: str) -> Iterator[Connection]:
    """A plain connection as the database's owner (the attacker's seat), committed on exit."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.fixture
def seeded(store_url: str, tmp_path: Path) -> Iterator[Seeded]:
    keys = {
        "bearing": create_key(store_url, "line", "bearing-01"),
        "reviewer": create_key(store_url, "reviewer", name="qa"),
        "viewer": create_key(store_url, "viewer"),
    }
    with run_api(store_url, tmp_path / "api") as base:
        yield _seed(base, keys, store_url)


def _verify(url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(cli, ["db", "verify", "--database-url", url, "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.output)


def _errors(report: dict[str, Any]) -> list[str]:
    return [f["message"] for f in report["findings"] if f["level"] == "error"]


def _trace_audit(seeded: Seeded) -> dict[str, Any]:
    trace = httpx.get(
        f"{seeded.base}/v1/trace/{seeded.code}", headers=auth(seeded.keys["viewer"]), timeout=30
    )
    assert trace.status_code == 200, trace.text
    return dict(trace.json()["audit"])


def test_an_untouched_store_verifies_and_prints_the_chain_tip(seeded: Seeded) -> None:
    code, report = _verify(seeded.url)
    assert code == 0 and report["ok"] and _errors(report) == [], report
    assert report["reviews"] == 5
    with _connect(seeded.url) as conn:
        tip = conn.execute(text("SELECT hash FROM reviews ORDER BY id DESC LIMIT 1")).scalar_one()
        first = conn.execute(text("SELECT prev_hash FROM reviews ORDER BY id LIMIT 1")).scalar_one()
    assert report["tip"] == tip and first == GENESIS
    assert _verify(seeded.url, "--anchor", tip)[0] == 0
    audit = _trace_audit(seeded)
    assert audit == {"ok": True, "reviews_checked": 4, "problems": []}


def test_concurrent_reviews_keep_one_unbroken_chain(seeded: Seeded) -> None:
    decisions = ("confirm", "reject")

    def review(n: int) -> int:
        body = {"decision": decisions[n % 2], "comment": f"pass {n}"}
        answer = httpx.post(
            f"{seeded.base}/v1/defects/{seeded.defects[n % 4]}/review",
            json=body,
            headers=auth(seeded.keys["reviewer"]),
            timeout=60,
        )
        return answer.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(review, range(40)))
    assert codes == [201] * 40
    code, report = _verify(seeded.url)
    assert code == 0 and report["reviews"] == 45, _errors(report)


def _rewrite_decision(url: str, review_id: int, decision: str) -> None:
    """Change a stored review, getting around the append-only trigger the way each database allows."""
    with _connect(url) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # as a superuser can
        else:
            conn.execute(text("DROP TRIGGER reviews_no_update"))  # anyone who can write the file can
        conn.execute(
            text("UPDATE reviews SET decision = :d WHERE id = :id"), {"d": decision, "id": review_id}
        )


def test_a_review_rewritten_below_the_api_is_named_by_verify_and_by_the_trace(seeded: Seeded) -> None:
    confirm = seeded.reviews[4]  # defects[2] confirmed: now made to read "reject"
    _rewrite_decision(seeded.url, confirm, "reject")
    code, report = _verify(seeded.url)
    errors = _errors(report)
    assert code == 1 and not report["ok"]
    assert any(f"review {confirm} " in e and "does not match its hash" in e for e in errors), errors
    # the defect row still says confirmed, the (rewritten) history says rejected: both are reported
    assert any(f"defect {seeded.defects[2]}:" in e for e in errors), errors
    audit = _trace_audit(seeded)
    assert not audit["ok"]
    assert any(f"review {confirm} " in p and "does not match its hash" in p for p in audit["problems"])


def test_review_state_moved_with_no_review_behind_it_is_detected_and_not_trusted_by_grades(
    seeded: Seeded,
) -> None:
    viewer = auth(seeded.keys["viewer"])
    grade_before = httpx.get(f"{seeded.base}/v1/units/{seeded.code}/grade", headers=viewer).json()
    pending = [d for d in seeded.defects if d != seeded.defects[0]]  # all but the one really rejected
    with _connect(seeded.url) as conn:  # release the ring by hand: every defect "rejected"
        conn.execute(
            text(
                "UPDATE defects SET review_state = 'rejected'"
                " WHERE inspection_id IN (SELECT id FROM inspections WHERE code = :c)"
            ),
            {"c": seeded.code},
        )
    grade_after = httpx.get(f"{seeded.base}/v1/units/{seeded.code}/grade", headers=viewer).json()
    assert grade_after == grade_before  # the grade follows the reviews, not the row's copy of them
    assert grade_before["defects_counted"] == 3
    defect = httpx.get(f"{seeded.base}/v1/defects/{seeded.defects[3]}", headers=viewer).json()
    assert defect["review_state"] == "pending"
    code, report = _verify(seeded.url)
    errors = _errors(report)
    assert code == 1
    assert {
        d for d in pending if any(e.startswith(f"defect {d}: stored review_state 'rejected'") for e in errors)
    } == {
        seeded.defects[2],
        seeded.defects[3],
        seeded.defects[1],
    }, errors
    assert not any("does not match its hash" in e for e in errors)  # the chain itself is intact
    audit = _trace_audit(seeded)
    assert not audit["ok"] and any("no review is behind it" in p for p in audit["problems"])


def _insert_or_replace(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    names = ", ".join(row)
    marks = ", ".join("?" * len(row))
    conn.execute(f"INSERT OR REPLACE INTO reviews ({names}) VALUES ({marks})", list(row.values()))


def test_sqlite_insert_or_replace_cannot_replace_a_review_and_a_forced_one_breaks_the_chain(
    rel_template: Path, tmp_path: Path
) -> None:
    url = copy_sqlite(rel_template, tmp_path / "store" / "linecheck.db")
    keys = {
        "bearing": create_key(url, "line", "bearing-01"),
        "reviewer": create_key(url, "reviewer"),
        "viewer": create_key(url, "viewer"),
    }
    path = str(make_url(url).database)
    with run_api(url, tmp_path / "api") as base:
        seeded = _seed(base, keys, url)
        middle = seeded.reviews[2]  # the reclassify of defects[1]
        with sqlite3.connect(path) as conn:
            conn.row_factory = sqlite3.Row
            row = dict(conn.execute("SELECT * FROM reviews WHERE id = ?", (middle,)).fetchone())
        forged = {**row, "decision": "reject", "new_class": None}
        forged["hash"] = review_digest({**forged, "at": _aware(row["at"])})  # a careful forger reseals it
        with sqlite3.connect(path) as conn, pytest.raises(sqlite3.IntegrityError, match="cannot be replaced"):
            _insert_or_replace(conn, forged)
        assert _verify(url)[0] == 0  # refused: nothing changed
        with sqlite3.connect(path) as conn:  # the attacker drops the guard first
            conn.execute("DROP TRIGGER reviews_no_replace")
            _insert_or_replace(conn, forged)
            assert (
                conn.execute("SELECT decision FROM reviews WHERE id = ?", (middle,)).fetchone()[0] == "reject"
            )
        code, report = _verify(url)
        errors = _errors(report)
        assert code == 1
        assert any("review triggers missing" in e and "reviews_no_replace" in e for e in errors), errors
        following = seeded.reviews[3]
        assert any(
            f"review {following} " in e and "does not follow the review before it" in e for e in errors
        )
        assert any(f"defect {seeded.defects[1]}:" in e for e in errors)  # stored: reclassified
        audit = _trace_audit(seeded)
        assert not audit["ok"] and any(f"review {following} " in p for p in audit["problems"])


def _aware(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


@pytest.mark.postgres
def test_postgres_truncate_is_refused_and_a_truncate_around_the_triggers_is_detected(
    pg_database: str, tmp_path: Path
) -> None:
    url = new_postgres_schema(pg_database)
    keys = {
        "bearing": create_key(url, "line", "bearing-01"),
        "reviewer": create_key(url, "reviewer"),
        "viewer": create_key(url, "viewer"),
    }
    with run_api(url, tmp_path / "api") as base:
        seeded = _seed(base, keys, url)
        tip = _verify(url)[1]["tip"]
        with pytest.raises(DBAPIError, match="append-only"), _connect(url) as conn:
            conn.execute(text("TRUNCATE reviews"))
        assert _verify(url, "--anchor", tip)[0] == 0
        with _connect(url) as conn:  # a superuser gets around every trigger
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("TRUNCATE reviews"))
        code, report = _verify(url, "--anchor", tip)
        errors = _errors(report)
        assert code == 1 and report["reviews"] == 0
        assert any(f"anchor {tip} is not in the chain" in e for e in errors), errors
        assert any(f"defect {seeded.defects[2]}: stored review_state 'confirmed'" in e for e in errors), (
            errors
        )
        assert not _trace_audit(seeded)["ok"]


def test_every_table_has_a_decided_privilege_for_the_api_role() -> None:
    assert set(APP_PRIVILEGES) == {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}
    assert "DELETE" not in " ".join(APP_PRIVILEGES.values())
    assert APP_PRIVILEGES["reviews"] == "SELECT, INSERT"


@pytest.fixture
def app_role(pg_database: str) -> Iterator[str]:
    """A LOGIN role of its own for the API (trust auth locally), dropped afterwards."""
    role = f"lc_api_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        yield role
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


@pytest.mark.postgres
def test_the_api_runs_as_a_least_privilege_role_that_cannot_get_around_the_audit_trail(
    pg_database: str, app_role: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_url = new_postgres_schema(pg_database)
    api_url = make_url(owner_url).set(username=app_role).render_as_string(hide_password=False)
    keys = {
        "bearing": create_key(owner_url, "line", "bearing-01"),  # keys are made as the owner
        "reviewer": create_key(owner_url, "reviewer"),
        "viewer": create_key(owner_url, "viewer"),
    }
    settings = {"owner_database_url": owner_url}  # migrations, grants and line sync run as the owner
    with run_api(api_url, tmp_path / "api", settings=settings) as base:
        seeded = _seed(base, keys, owner_url)  # ingest and review as the API's role
        line = auth(keys["bearing"])
        event = {"type": "packed", "at": "2026-11-24T08:00:00Z", "line_id": "bearing-01"}
        assert (
            httpx.post(f"{base}/v1/units/{seeded.code}/events", json=event, headers=line).status_code == 201
        )
        assert httpx.get(f"{base}/readyz").status_code == 200
        viewer = auth(keys["viewer"])
        assert httpx.get(f"{base}/v1/trace/{seeded.code}", headers=viewer).json()["audit"]["ok"]
        assert httpx.get(f"{base}/v1/lines/bearing-01/stats", headers=viewer).status_code == 200
    # what the issue did as the table owner, tried as the API's role: all refused by the database
    attempts = {
        "TRUNCATE reviews": "permission denied",
        "ALTER TABLE reviews DISABLE TRIGGER ALL": "must be owner",
        "SET session_replication_role = replica": "permission denied",
        "DELETE FROM reviews": "permission denied",
        "UPDATE reviews SET decision = 'reject'": "permission denied",
        "ALTER TABLE defects ADD COLUMN x int": "must be owner",
    }
    for statement, refusal in attempts.items():
        with pytest.raises(DBAPIError, match=refusal), _connect(api_url) as conn:
            conn.execute(text(statement))
    monkeypatch.setenv("LINECHECK_API_DATABASE_URL", api_url)
    code, report = _verify(owner_url)
    assert code == 0, report
    access = [f for f in report["findings"] if f["check"] == "access"]
    assert access[0]["level"] == "ok" and app_role in access[0]["message"]
    # an API connecting as the owner is reported (a warning: nothing in the database stops it)
    monkeypatch.setenv("LINECHECK_API_DATABASE_URL", owner_url)
    access = [f for f in _verify(owner_url)[1]["findings"] if f["check"] == "access"]
    assert access[0]["level"] == "warning" and "owns the tables" in access[0]["message"]


def _insert(conn: Connection, table: str, **values: Any) -> Any:
    """One plain row (columns as of an old revision), returning its ``id`` where it has one."""
    stmt = sa.table(table, *(sa.column(name) for name in [*values, "id"])).insert().values(**values)
    if table in ("defects", "reviews"):
        return conn.execute(stmt.returning(sa.column("id"))).scalar_one()
    conn.execute(stmt)
    return None


def _seed_raw_at(url: str, revision: str) -> list[int]:
    """Migrate to ``revision`` and write a defect with three reviews as plain rows (no chain yet)."""
    db = Database.from_url(url)
    t = "2026-12-01 10:00:00.000000"
    try:
        command.upgrade(alembic_config(db.engine), revision)
        with db.engine.begin() as conn:
            _insert(
                conn,
                "lines",
                id="bearing-01",
                kind="bearing",
                name="",
                config="{}",
                created_at=t,
                updated_at=t,
                updated_by="",
            )
            _insert(conn, "units", code="BR0000000001", kind="bearing", line_id="bearing-01", created_at=t)
            _insert(
                conn, "inspections", id="i1", code="BR0000000001", code_status="read", line_id="bearing-01",
                station="face", captured_at=t, captured_tz="+00:00", verdict="fail", image_width=64,
                image_height=64, defect_count=1, content_hash="x", created_at=t, created_by="key:seed",
            )  # fmt: skip
            defect = _insert(
                conn, "defects", inspection_id="i1", line_id="bearing-01", captured_at=t, class_name="crack",
                confidence=0.9, x1=1.0, y1=1.0, x2=9.0, y2=9.0, review_state="rejected", final_class="dent",
            )  # fmt: skip
            return [
                _insert(
                    conn,
                    "reviews",
                    defect_id=defect,
                    decision=decision,
                    reviewer="key:qa",
                    new_class="dent" if decision == "reclassify" else None,
                    at=f"2026-12-01 10:0{n}:00.000000",
                    comment="before the chain",
                )
                for n, decision in enumerate(("confirm", "reclassify", "reject"))
            ]
    finally:
        db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrading_seals_the_reviews_written_before_the_chain(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        sqlite_url(tmp_path / "old.db")
        if backend == "sqlite"
        else new_postgres_schema(request.getfixturevalue("pg_database"))
    )
    ids = _seed_raw_at(url, "0006")
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    code, report = _verify(url)
    assert code == 0 and report["reviews"] == 3, report
    with _connect(url) as conn:
        rows = conn.execute(text("SELECT id, prev_hash, hash FROM reviews ORDER BY id")).all()
        assert [r[0] for r in rows] == ids and rows[0][1] == GENESIS
        assert [r[1] for r in rows[1:]] == [r[2] for r in rows[:-1]]
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    db = Database.from_url(url)
    try:
        assert current_revision(db.engine) == head_revision()
    finally:
        db.dispose()
