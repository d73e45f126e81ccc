"""Database: data written at the first schema survives the upgrade to head (SQLite and PostgreSQL);
``linecheck db backup`` / ``restore`` round-trips a live SQLite store end to end."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from rel_helpers import auth, inspection, stored_inspections
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from linecheck.cli.main import app as cli
from linecheck.config import load_lines
from linecheck.serving.api.services.ingest import IngestService, content_hash, parse_ingest_body
from linecheck.serving.api.testing import run_api
from linecheck.serving.store import keys as store_keys
from linecheck.serving.store.db import Database, alembic_config, current_revision, head_revision, sqlite_url
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.testing import find_postgres, temporary_postgres_database

FIRST = "0001"
ROOT = Path(__file__).resolve().parents[2]


def _rows_at_first_revision(engine: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` as it was at the first revision (columns added later are dropped)."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=engine)
    known = set(reflected.columns.keys())
    with engine.begin() as conn:
        conn.execute(reflected.insert(), [{k: v for k, v in row.items() if k in known} for row in rows])


def _seed_at_first_revision(url: str) -> tuple[list[dict[str, Any]], dict[str, str], int]:
    """Data as a store at the first revision holds it: lines, units, inspections, defects, one review.

    The rows are written straight into the first schema (the API of today writes columns that
    schema lacks), built the way ingest builds them, so the upgrade has real data to carry.
    """
    db = Database.from_url(url)
    try:
        command.upgrade(alembic_config(db.engine), FIRST)
        assert current_revision(db.engine) == FIRST
        made = {
            "line": store_keys.create_key(db, "line", ["textile-01", "pv-01", "bearing-01"], name="seed"),
            "reviewer": store_keys.create_key(db, "reviewer", name="seed qa"),
            "viewer": store_keys.create_key(db, "viewer", name="seed viewer"),
        }
        lines = load_lines(ROOT / "configs" / "lines")
        now = datetime.now(UTC)
        _rows_at_first_revision(
            db.engine,
            "lines",
            [
                {"id": lid, "kind": line.kind, "name": line.name, "config": line.model_dump(mode="json"),
                 "created_at": now, "updated_at": now, "updated_by": "seed"}
                for lid, line in lines.items()
            ],
        )  # fmt: skip
        bodies = [
            inspection(line, n, defects=n % 3)
            for n in range(1, 7)
            for line in ("textile-01", "pv-01", "bearing-01")
        ]
        items = parse_ingest_body(json.dumps({"inspections": bodies}).encode(), max_batch=100).items
        key = KeyInfo(id="seed", role="line", lines=("textile-01", "pv-01", "bearing-01"), name="seed")
        stations = {(b["line_id"], b["station"]) for b in bodies}
        _rows_at_first_revision(
            db.engine, "stations", [{"line_id": lid, "name": st, "created_at": now} for lid, st in stations]
        )
        _rows_at_first_revision(
            db.engine,
            "units",
            [
                {"code": i.code, "kind": lines[i.line_id].kind, "line_id": i.line_id, "created_at": now}
                for i in items
            ],
        )
        _rows_at_first_revision(
            db.engine, "inspections", [IngestService._row(i, content_hash(i), key, now) for i in items]
        )
        _rows_at_first_revision(
            db.engine,
            "defects",
            [IngestService._defect_row(i, d, lines[i.line_id].kind) for i in items for d in i.defects],
        )
        with db.engine.begin() as conn:
            reviewed = conn.execute(sa.text("SELECT min(id) FROM defects")).scalar_one()
            conn.execute(
                sa.text("UPDATE defects SET review_state = 'confirmed', reviewed_at = :at WHERE id = :id"),
                {"at": now, "id": reviewed},
            )
        _rows_at_first_revision(
            db.engine,
            "reviews",
            [{"defect_id": reviewed, "decision": "confirm", "new_class": None, "reviewer": "key:seed",
              "at": now, "comment": "seeded at 0001"}],
        )  # fmt: skip
    finally:
        db.dispose()
    return bodies, made, reviewed


def _upgrade_and_compare(url: str, data_dir: Path) -> None:
    bodies, made, reviewed = _seed_at_first_revision(url)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    db = Database.from_url(url)
    try:
        assert current_revision(db.engine) == head_revision() != FIRST
    finally:
        db.dispose()
    with run_api(url, data_dir) as base:
        with httpx.Client(base_url=base, headers=auth(made["viewer"]), timeout=30) as http:
            stored = {b["id"]: http.get(f"/v1/inspections/{b['id']}").json() for b in bodies}
            queue = http.get("/v1/review/queue", params={"state": "all", "limit": 500}).json()
            defect = http.get(f"/v1/defects/{reviewed}").json()
        # keys made at the first revision still work, for writing too
        more = inspection("pv-01", 99)
        assert httpx.post(f"{base}/v1/inspections", json=more, headers=auth(made["line"])).status_code == 201
    for body in bodies:
        got = stored[body["id"]]
        assert (got["code"], got["verdict"], got["line_id"]) == (
            body["code"],
            body["verdict"],
            body["line_id"],
        )
        assert [(d["class_name"], list(d["bbox"])) for d in got["defects"]] == [
            (d["class_name"], [float(v) for v in d["bbox"]]) for d in body["defects"]
        ]
    assert len(queue["items"]) == sum(len(b["defects"]) for b in bodies) > 0
    assert defect["review_state"] == "confirmed"
    assert [(r["decision"], r["comment"]) for r in defect["reviews"]] == [("confirm", "seeded at 0001")]


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
