"""`linecheck keys create|list|revoke`: API keys (shown once, stored hashed)."""

from __future__ import annotations

import typer
from rich.table import Table

from linecheck.cli.common import DatabaseUrl, console, err_console, errors_exit, open_database

app = typer.Typer(help="API keys: create (printed once), list, revoke.", no_args_is_help=True)


@app.command("create")
def create(
    role: str = typer.Option(..., "--role", help="line | reviewer | viewer"),
    line: list[str] = typer.Option([], "--line", help="line id a 'line' key may write for (repeatable)"),
    name: str = typer.Option("", "--name", help="a note saying who or what uses the key"),
    url: DatabaseUrl = None,
) -> None:
    """Create a key and print it once; only its SHA-256 is stored."""
    from linecheck.serving.store.keys import create_key
    from linecheck.serving.store.repositories.lines import list_lines

    with errors_exit(), open_database(url) as db:
        with db.reader() as session:
            known = {row.id for row in list_lines(session)}
        unknown = sorted(set(line) - known)
        if unknown:
            err_console.print(
                f"[yellow]warning:[/yellow] line(s) {unknown} are not registered yet "
                f"(known: {sorted(known) or 'none'}); the key works once they are"
            )
        key = create_key(db, role, line, name=name, created_by="cli")
    console.print(key)
    err_console.print("store this key now: it cannot be shown again")


@app.command("list")
def list_(url: DatabaseUrl = None) -> None:
    """List keys (ids, roles, lines; never secrets)."""
    from linecheck.serving.store.keys import list_keys

    with errors_exit(), open_database(url) as db, db.reader() as session:
        keys = list_keys(session)
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
    url: DatabaseUrl = None,
) -> None:
    """Revoke a key; running APIs stop accepting it within their key cache time (10 s by default)."""
    from linecheck.serving.store.keys import revoke_key

    with errors_exit(), open_database(url) as db, db.writer() as session:
        revoke_key(session, key_id)
        session.commit()
    console.print(f"revoked {key_id}")
