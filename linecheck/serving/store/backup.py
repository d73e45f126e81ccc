"""Online backup and restore of a SQLite store (PostgreSQL deployments use pg_dump / pg_restore)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from linecheck.errors import ConfigError, StoreError


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL, or :class:`ConfigError` for another backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise ConfigError(
            f"database_url={parsed.render_as_string()!r}: backup/restore handle SQLite files; "
            "for PostgreSQL use pg_dump and pg_restore"
        )
    return Path(parsed.database)


def backup_sqlite(url: str, target: Path, *, overwrite: bool = False) -> Path:
    """Copy a live SQLite store to ``target`` with SQLite's online backup (consistent under writes)."""
    source = sqlite_path(url)
    if not source.is_file():
        raise StoreError(f"{source}: no database to back up")
    if target.exists() and not overwrite:
        raise ConfigError(f"{target}: already exists (pass --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    tmp.replace(target)
    return target


def restore_sqlite(backup: Path, url: str, *, overwrite: bool = False) -> Path:
    """Put a backup in place of the store at ``url`` (stop the API first)."""
    target = sqlite_path(url)
    try:
        with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as conn:
            conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"{backup}: not a linecheck SQLite backup ({exc})") from exc
    if target.exists() and not overwrite:
        raise ConfigError(f"{target}: a store already exists (pass --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    tmp = target.with_name(target.name + ".restoring")
    shutil.copyfile(backup, tmp)
    tmp.replace(target)
    return target
