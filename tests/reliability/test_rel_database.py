"""Database: data written at the first schema survives the upgrade to head (SQLite and PostgreSQL);
``linecheck db backup`` / ``restore`` round-trips a live SQLite store end to end."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from rel_helpers import auth, inspection, stored_inspections
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from linecheck.cli.main import app as cli
from linecheck.serving.api.testing import run_api
from linecheck.serving.store import keys as store_keys
from linecheck.serving.store.db import Database, alembic_config, current_revision, head_revision, sqlite_url
from linecheck.serving.store.testing import find_postgres, temporary_postgres_database

FIRST = "0001"


def _snapshot(base: str, viewer: str, ids: list[str]) -> dict[str, Any]:
    """What a client sees: every inspection with its defects and reviews, and the review queue."""
    with httpx.Client(base_url=base, headers=auth(viewer), timeout=30) as http:
        inspections = {i: http.get(f"/v1/inspections/{i}").json() for i in ids}
        queue = http.get("/v1/review/queue", params={"state": "all", "limit": 500}).json()
    return {"inspections": inspections, "queue": [q["defect"]["id"] for q in queue["items"]]}


def _seed_at_first_revision(url: str, data_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Migrate to the first revision only, write data through the real API (not migrating), snapshot."""
    db = Database.from_url(url)
    try:
        command.upgrade(alembic_config(db.engine), FIRST)
        assert current_revision(db.engine) == FIRST
        made = {
            "line": store_keys.create_key(db, "line", ["textile-01", "pv-01", "bearing-01"], name="seed"),
            "reviewer": store_keys.create_key(db, "reviewer", name="seed qa"),
            "viewer": store_keys.create_key(db, "viewer", name="seed viewer"),
        }
    finally:
        db.dispose()
    bodies = [
        inspection(line, n, defects=n % 3)
        for n in range(1, 7)
        for line in ("textile-01", "pv-01", "bearing-01")
    ]
    with run_api(url, data_dir, settings={"migrate_on_start": False}) as base:
        answer = httpx.post(
            f"{base}/v1/inspections", json={"inspections": bodies}, headers=auth(made["line"]), timeout=60
        )
        assert answer.status_code == 200, answer.text
        defect = _snapshot(base, made["viewer"], [bodies[1]["id"]])["inspections"][bodies[1]["id"]][
            "defects"
        ][0]
        review = httpx.post(
            f"{base}/v1/defects/{defect['id']}/review",
            json={"decision": "confirm", "comment": "seeded at 0001"},
            headers=auth(made["reviewer"]),
            timeout=30,
        )
        assert review.status_code == 201, review.text
        before = _snapshot(base, made["viewer"], [b["id"] for b in bodies])
    return before, made


def _upgrade_and_compare(url: str, data_dir: Path) -> None:
    before, made = _seed_at_first_revision(url, data_dir)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    db = Database.from_url(url)
    try:
        assert current_revision(db.engine) == head_revision() != FIRST
    finally:
        db.dispose()
    with run_api(url, data_dir) as base:
        after = _snapshot(base, made["viewer"], list(before["inspections"]))
        # keys made at the first revision still work, for writing too
        more = inspection("pv-01", 99)
        assert httpx.post(f"{base}/v1/inspections", json=more, headers=auth(made["line"])).status_code == 201
    assert after == before
    assert len(before["inspections"]) == 18 and before["queue"]


def test_sqlite_upgrade_from_the_first_schema_keeps_data(tmp_path: Path) -> None:
    _upgrade_and_compare(sqlite_url(tmp_path / "old.db"), tmp_path / "api")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    server, why = find_postgres()
    if server is None:
        pytest.skip(f"no PostgreSQL server reachable: {why}")
    with temporary_postgres_database(server, prefix="linecheck_rel") as url:
        yield url


@pytest.mark.postgres
def test_postgres_upgrade_from_the_first_schema_keeps_data(postgres_url: str, tmp_path: Path) -> None:
    _upgrade_and_compare(postgres_url, tmp_path / "api")


def _post_all(base: str, key: str, bodies: list[dict[str, Any]]) -> None:
    for body in bodies:
        answer = httpx.post(f"{base}/v1/inspections", json=body, headers=auth(key), timeout=30)
        assert answer.status_code == 201, answer.text


def test_backup_and_restore_round_trip_a_live_store(api_server, keys, db_url, tmp_path: Path) -> None:
    runner = CliRunner()
    backup = tmp_path / "backups" / "store.db"
    first = [inspection("textile-01", n) for n in range(1, 6)]
    later = [inspection("textile-01", n) for n in range(6, 9)]
    with api_server() as base:
        _post_all(base, keys["textile"], first)
        result = runner.invoke(cli, ["db", "backup", str(backup), "--database-url", db_url])  # API still live
        assert result.exit_code == 0, result.output
        _post_all(base, keys["textile"], later)
    again = runner.invoke(cli, ["db", "backup", str(backup), "--database-url", db_url])
    assert again.exit_code != 0 and "already exists" in again.output  # never overwritten silently
    refused = runner.invoke(cli, ["db", "restore", str(backup), "--database-url", db_url])
    assert refused.exit_code != 0 and "--force" in refused.output
    bogus = tmp_path / "not-a-backup.db"
    bogus.write_bytes(b"hello")
    bad = runner.invoke(cli, ["db", "restore", str(bogus), "--database-url", db_url, "--force"])
    assert bad.exit_code != 0 and "not a linecheck SQLite backup" in bad.output
    restored = runner.invoke(cli, ["db", "restore", str(backup), "--database-url", db_url, "--force"])
    assert restored.exit_code == 0, restored.output
    with sqlite3.connect(make_url(db_url).database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with api_server() as base:
        ids = {i["id"] for i in stored_inspections(base, keys["viewer"])}
    assert ids == {b["id"] for b in first}  # the store as it was at backup time
