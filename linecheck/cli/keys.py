"""`linecheck keys create|list|revoke`: API keys (shown once, stored hashed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from linecheck.errors import LinecheckError

app = typer.Typer(help="API keys: create (printed once), list, revoke.", no_args_is_help=True)
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


@app.command("create")
def create(
    role: str = typer.Option(..., "--role", help="line | reviewer | viewer"),
    line: list[str] = typer.Option([], "--line", help="line id a 'line' key may write for (repeatable)"),
    name: str = typer.Option("", "--name", help="a note saying who or what uses the key"),
    database_url: str | None = typer.Option(None, help=DATABASE_HELP),
) -> None:
    """Create a key and print it once; only its SHA-256 is stored."""
    from linecheck.serving.store.db import open_store
    from linecheck.serving.store.keys import create_key
    from linecheck.serving.store.repositories.lines import list_lines

    with _errors_exit():
        db = open_store(_database_url(database_url))
        try:
            with db.reader() as session:
                known = {row.id for row in list_lines(session)}
            unknown = sorted(set(line) - known)
            if unknown:
                err_console.print(
                    f"[yellow]warning:[/yellow] line(s) {unknown} are not registered yet "
                    f"(known: {sorted(known) or 'none'}); the key works once they are"
                )
            key = create_key(db, role, line, name=name, created_by="cli")
        finally:
            db.dispose()
    console.print(key)
    err_console.print("store this key now: it cannot be shown again")


@app.command("list")
def list_(database_url: str | None = typer.Option(None, help=DATABASE_HELP)) -> None:
    """List keys (ids, roles, lines; never secrets)."""
    from linecheck.serving.store.db import open_store
    from linecheck.serving.store.keys import list_keys

    with _errors_exit():
        db = open_store(_database_url(database_url))
        try:
            with db.reader() as session:
                keys = list_keys(session)
        finally:
            db.dispose()
    table = Table(title=f"{len(keys)} key(s)")
    for column in ("id", "role", "lines", "name", "created", "revoked"):
        table.add_column(column)
    for k in keys:
        revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else ""
        table.add_row(
            k.info.id,
            k.info.role,
            ",".join(k.info.lines),
            k.info.name,
            k.created_at.isoformat(timespec="seconds"),
            revoked,
        )
    console.print(table)


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="the key's id (the 12 hex after 'lc_')"),
    database_url: str | None = typer.Option(None, help=DATABASE_HELP),
) -> None:
    """Revoke a key; running APIs stop accepting it within their key cache time (10 s by default)."""
    from linecheck.serving.store.db import open_store
    from linecheck.serving.store.keys import revoke_key

    with _errors_exit():
        db = open_store(_database_url(database_url))
        try:
            with db.writer() as session:
                revoke_key(session, key_id)
                session.commit()
        finally:
            db.dispose()
    console.print(f"revoked {key_id}")
