"""`linecheck db upgrade|current|backup|restore`: the traceability store's schema and SQLite backups."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from linecheck.errors import LinecheckError

app = typer.Typer(
    help="Traceability store: migrate, show revision, back up and restore (SQLite).", no_args_is_help=True
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

DATABASE_HELP = "SQLAlchemy URL (default: LINECHECK_API_DATABASE_URL or SQLite under the data dir)"


@contextmanager
def _errors_exit() -> Iterator[None]:
    """Turn linecheck errors into one red line on stderr and exit status 1."""
    try:
        yield
    except LinecheckError as exc:
        err_console.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(code=1) from None


def _database_url(override: str | None) -> str:
    from linecheck.serving.api.settings import ApiSettings

    return override or ApiSettings().resolved_database_url()


@app.command("upgrade")
def upgrade(database_url: str | None = typer.Option(None, help=DATABASE_HELP)) -> None:
    """Apply every pending migration (the API also does this at start-up)."""
    from linecheck.serving.store.db import current_revision, open_store

    with _errors_exit():
        db = open_store(_database_url(database_url))
        try:
            console.print(f"schema at revision {current_revision(db.engine)}")
        finally:
            db.dispose()


@app.command("current")
def current(database_url: str | None = typer.Option(None, help=DATABASE_HELP)) -> None:
    """Print the schema revision (none before the first upgrade)."""
    from linecheck.serving.store.db import current_revision, open_store

    with _errors_exit():
        db = open_store(_database_url(database_url), migrate=False)
        try:
            console.print(current_revision(db.engine) or "none")
        finally:
            db.dispose()


@app.command("backup")
def backup(
    target: Path = typer.Argument(..., help="backup file to write"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
    database_url: str | None = typer.Option(None, help=DATABASE_HELP),
) -> None:
    """Consistent copy of a live SQLite store (safe while the API writes)."""
    from linecheck.serving.store.backup import backup_sqlite

    with _errors_exit():
        path = backup_sqlite(_database_url(database_url), target, overwrite=force)
    console.print(f"backed up to {path}")


@app.command("restore")
def restore(
    source: Path = typer.Argument(..., help="backup file made by `linecheck db backup`"),
    force: bool = typer.Option(False, "--force", help="replace the existing store"),
    database_url: str | None = typer.Option(None, help=DATABASE_HELP),
) -> None:
    """Replace the SQLite store with a backup; stop the API first."""
    from linecheck.serving.store.backup import restore_sqlite

    with _errors_exit():
        path = restore_sqlite(source, _database_url(database_url), overwrite=force)
    console.print(f"restored {path} from {source}")
