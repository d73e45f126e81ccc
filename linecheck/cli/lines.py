"""`linecheck lines add|list|sync`: register line configs (YAML) in the traceability store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from linecheck.errors import LinecheckError

app = typer.Typer(help="Production lines: add a YAML config, list, sync a folder.", no_args_is_help=True)
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


@app.command("add")
def add(
    paths: list[Path] = typer.Argument(..., help="line YAML file(s), e.g. configs/lines/textile-01.yaml"),
    database_url: str | None = typer.Option(None, help=DATABASE_HELP),
) -> None:
    """Validate and register (or update) lines; a running API picks them up within a second."""
    from linecheck.serving.api.services.lines import add_line_file
    from linecheck.serving.store.db import open_store

    with _errors_exit():
        db = open_store(_database_url(database_url))
        try:
            for path in paths:
                line = add_line_file(db, path)
                console.print(f"[green]registered[/green] {line.id} ({line.kind}) from {path}")
        finally:
            db.dispose()


@app.command("sync")
def sync(
    directory: Path | None = typer.Option(
        None, "--dir", help="folder of *.yaml (default: LINECHECK_LINES_DIR)"
    ),
    database_url: str | None = typer.Option(None, help=DATABASE_HELP),
) -> None:
    """Register every line config of a folder (what the API does at start-up)."""
    from linecheck.serving.api.services.lines import sync_lines
    from linecheck.serving.api.settings import ApiSettings
    from linecheck.serving.store.db import open_store

    with _errors_exit():
        db = open_store(_database_url(database_url))
        try:
            ids = sync_lines(db, directory or ApiSettings().lines_dir)
        finally:
            db.dispose()
    console.print(f"synced {len(ids)} line(s): {', '.join(ids)}")


@app.command("list")
def list_(database_url: str | None = typer.Option(None, help=DATABASE_HELP)) -> None:
    """List registered lines."""
    from linecheck.serving.store.db import open_store
    from linecheck.serving.store.repositories.lines import list_lines, list_stations

    with _errors_exit():
        db = open_store(_database_url(database_url))
        try:
            with db.reader() as session:
                rows = [
                    (
                        r.id,
                        r.kind,
                        r.name,
                        ",".join(list_stations(session, r.id)),
                        len(r.config.get("classes", [])),
                    )
                    for r in list_lines(session)
                ]
        finally:
            db.dispose()
    table = Table(title=f"{len(rows)} line(s)")
    for column in ("id", "kind", "name", "stations", "classes"):
        table.add_column(column)
    for line_id, kind, name, stations, classes in rows:
        table.add_row(line_id, kind, name, stations, str(classes))
    console.print(table)
