"""`linecheck keys`, `linecheck lines`, `linecheck db` and `linecheck serve api` (as a real process)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_payloads import textile
from typer.testing import CliRunner

from linecheck.cli import db as db_cli
from linecheck.cli.main import app
from linecheck.serving.api.testing import run_api_process
from linecheck.serving.store.db import Database, head_revision, sqlite_url
from linecheck.serving.store.keys import verify_key

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "cli.db")


def test_keys_create_list_revoke(url: str) -> None:
    created = runner.invoke(
        app, ["keys", "create", "--role", "line", "--line", "textile-01", "--database-url", url]
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert "not registered yet" in created.stderr
    db = Database.from_url(url)
    try:
        with db.reader() as session:
            info = verify_key(session, key)
        assert (info.role, info.lines) == ("line", ("textile-01",))
        listing = runner.invoke(app, ["keys", "list", "--database-url", url])
        assert info.id in listing.stdout and key not in listing.stdout
        revoked = runner.invoke(app, ["keys", "revoke", info.id, "--database-url", url])
        assert revoked.exit_code == 0
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--role", "admin"], "role='admin'"),
        (["--role", "line"], "needs at least one line"),
    ],
)
def test_keys_create_rejects_bad_requests(url: str, args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["keys", "create", *args, "--database-url", url])
    assert result.exit_code == 1
    assert needle in result.stderr


def test_lines_add_list_and_bad_file(url: str, tmp_path: Path) -> None:
    good = ROOT / "configs" / "lines" / "pv-01.yaml"
    added = runner.invoke(app, ["lines", "add", str(good), "--database-url", url])
    assert added.exit_code == 0, added.output
    listing = runner.invoke(app, ["lines", "list", "--database-url", url])
    assert "pv-01" in listing.stdout and "el" in listing.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x-1\nkind: glass\n")
    failed = runner.invoke(app, ["lines", "add", str(bad), "--database-url", url])
    assert failed.exit_code == 1
    assert str(bad) in failed.stderr and "kind" in failed.stderr


def test_db_upgrade_backup_restore(url: str, tmp_path: Path) -> None:
    assert runner.invoke(db_cli.app, ["current", "--database-url", url]).stdout.strip() == "none"
    assert head_revision() in runner.invoke(db_cli.app, ["upgrade", "--database-url", url]).stdout
    runner.invoke(app, ["lines", "sync", "--dir", str(ROOT / "configs" / "lines"), "--database-url", url])
    backup = tmp_path / "backup.db"
    assert runner.invoke(db_cli.app, ["backup", str(backup), "--database-url", url]).exit_code == 0
    again = runner.invoke(db_cli.app, ["backup", str(backup), "--database-url", url])
    assert again.exit_code == 1 and "--force" in again.stderr
    other = sqlite_url(tmp_path / "restored.db")
    assert runner.invoke(db_cli.app, ["restore", str(backup), "--database-url", other]).exit_code == 0
    listing = runner.invoke(app, ["lines", "list", "--database-url", other])
    assert "textile-01" in listing.stdout
    pg = runner.invoke(db_cli.app, ["backup", str(backup), "--database-url", "postgresql+psycopg://u@h/db"])
    assert pg.exit_code == 1 and "pg_dump" in pg.stderr


def test_serve_api_process(url: str, tmp_path: Path) -> None:
    """`linecheck serve api` as a child process, with two workers: migrate, sync, ingest, stop."""
    with run_api_process(url, tmp_path, workers=2) as (base, proc):
        key = runner.invoke(
            app, ["keys", "create", "--role", "line", "--line", "textile-01", "--database-url", url]
        )
        token = key.stdout.strip().splitlines()[0]
        body = textile()
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [
            httpx.post(f"{base}/v1/inspections", json=body, headers=headers).status_code for _ in range(4)
        ]
        assert statuses == [201, 200, 200, 200]
        assert httpx.get(f"{base}/docs").status_code == 200
    assert proc.returncode is not None


@pytest.mark.parametrize("root_path", ["linecheck", "/linecheck/"])
def test_serve_api_refuses_a_root_path_that_is_not_a_prefix(
    root_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINECHECK_API_ROOT_PATH", "")  # restored after the test: the command sets it
    result = runner.invoke(app, ["serve", "api", "--root-path", root_path, "--port", "1"])
    assert result.exit_code == 1
    assert f"LINECHECK_API_ROOT_PATH={root_path!r}: expected" in " ".join(result.output.split())


def test_lines_list_names_each_lines_products(url: str, tmp_path: Path) -> None:
    import yaml

    config = yaml.safe_load((ROOT / "configs" / "lines" / "pv-01.yaml").read_text(encoding="utf-8"))
    config["products"] = [{"id": "M10-60"}, {"id": "M10-66", "pv": {"cols": 11}}]
    path = tmp_path / "pv-01.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert runner.invoke(app, ["lines", "add", str(path), "--database-url", url]).exit_code == 0
    listing = runner.invoke(app, ["lines", "list", "--database-url", url], env={"COLUMNS": "200"})
    assert "M10-60,M10-66" in listing.stdout, listing.stdout
