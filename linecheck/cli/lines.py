"""`linecheck lines add|list|sync`: register line configs (YAML) in the traceability store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from linecheck.cli.common import DatabaseUrl, console, errors_exit, open_database

app = typer.Typer(help="Production lines: add a YAML config, list, sync a folder.", no_args_is_help=True)


@app.command("add")
def add(
    paths: list[Path] = typer.Argument(..., help="line YAML file(s), e.g. configs/lines/textile-01.yaml"),
    url: DatabaseUrl = None,
) -> None:
    """Validate and register (or update) lines; a running API picks them up within a second."""
    from linecheck.serving.api.services.lines import add_line_file

    with errors_exit(), open_database(url) as db:
        for path in paths:
            line = add_line_file(db, path)
            console.print(f"[green]registered[/green] {line.id} ({line.kind}) from {path}")


@app.command("sync")
def sync(
    directory: Path | None = typer.Option(
        None, "--dir", help="folder of *.yaml (default: LINECHECK_LINES_DIR)"
    ),
    url: DatabaseUrl = None,
) -> None:
    """Register every line config of a folder (what the API does at start-up)."""
    from linecheck.serving.api.services.lines import sync_lines
    from linecheck.serving.api.settings import ApiSettings
    from linecheck.settings_env import read_settings

    with errors_exit(), open_database(url) as db:
        ids = sync_lines(db, directory or read_settings(ApiSettings).lines_dir)
    console.print(f"synced {len(ids)} line(s): {', '.join(ids)}")


@app.command("list")
def list_(url: DatabaseUrl = None) -> None:
    """List registered lines."""
    from linecheck.serving.store.repositories.lines import list_lines, list_stations

    with errors_exit(), open_database(url) as db, db.reader() as session:
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
    table = Table(title=f"{len(rows)} line(s)")
    for column in ("id", "kind", "name", "stations", "classes"):
        table.add_column(column)
    for line_id, kind, name, stations, classes in rows:
        table.add_row(line_id, kind, name, stations, str(classes))
    console.print(table)
