"""`linecheck db upgrade|current|backup|restore`: the traceability store's schema and SQLite backups."""

from __future__ import annotations

from pathlib import Path

import typer

from linecheck.cli.common import DatabaseUrl, console, database_url, errors_exit, open_database

app = typer.Typer(
    help="Traceability store: migrate, show revision, back up and restore (SQLite).", no_args_is_help=True
)


@app.command("upgrade")
def upgrade(url: DatabaseUrl = None) -> None:
    """Apply every pending migration (the API also does this at start-up)."""
    from linecheck.serving.store.db import current_revision

    with errors_exit(), open_database(url) as db:
        console.print(f"schema at revision {current_revision(db.engine)}")


@app.command("current")
def current(url: DatabaseUrl = None) -> None:
    """Print the schema revision (none before the first upgrade)."""
    from linecheck.serving.store.db import current_revision

    with errors_exit(), open_database(url, migrate=False) as db:
        console.print(current_revision(db.engine) or "none")


@app.command("backup")
def backup(
    target: Path = typer.Argument(..., help="backup file to write"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    url: DatabaseUrl = None,
) -> None:
    """Consistent copy of a live SQLite store (safe while the API writes)."""
    from linecheck.serving.store.backup import backup_sqlite

    with errors_exit():
        path = backup_sqlite(database_url(url), target, overwrite=force)
    console.print(f"backed up to {path}")


@app.command("restore")
def restore(
    source: Path = typer.Argument(..., help="backup file made by `linecheck db backup`"),
    force: bool = typer.Option(False, "--force", help="replace the existing store"),
    url: DatabaseUrl = None,
) -> None:
    """Replace the SQLite store with a backup; stop the API first."""
    from linecheck.serving.store.backup import restore_sqlite

    with errors_exit():
        path = restore_sqlite(source, database_url(url), overwrite=force)
    console.print(f"restored {path} from {source}")
