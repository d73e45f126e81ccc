"""What the command groups share: the consoles, errors as one line on stderr, and common options."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from linecheck.errors import LinecheckError

if TYPE_CHECKING:
    from linecheck.model.registry import Registry
    from linecheck.serving.store.db import Database

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

#: ``--database-url`` of every command that reads or writes the traceability store.
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (default: LINECHECK_API_OWNER_DATABASE_URL, else LINECHECK_API_DATABASE_URL, "
        "else SQLite under the data dir)",
    ),
]

#: ``--models-dir`` of every command that reads or writes the model registry.
ModelsDir = Annotated[
    Path | None,
    typer.Option("--models-dir", help="Registry root (default: LINECHECK_MODELS_DIR or models/)."),
]


class OutputFormat(StrEnum):
    """How a listing command prints: a table for people, a line per item or JSON for programs."""

    AUTO = "auto"
    TABLE = "table"
    PLAIN = "plain"
    JSON = "json"

    def resolved(self) -> OutputFormat:
        """``auto`` made concrete: a table when stdout is a terminal, plain lines otherwise."""
        if self is OutputFormat.AUTO:
            return OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.PLAIN
        return self


#: ``--format`` of the listing commands.
FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format", help="table, plain (one line per item) or json; auto: table on a terminal, else plain."
    ),
]


@contextmanager
def errors_exit(code: int = 1) -> Iterator[None]:
    """Turn linecheck errors into one red ``error:`` line on stderr and exit status ``code``."""
    try:
        yield
    except LinecheckError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(code=code) from None


def database_url(override: str | None) -> str:
    """``--database-url`` when given, else the URL the API migrates with (the tables' owner)."""
    from linecheck.serving.api.settings import ApiSettings
    from linecheck.settings_env import read_settings

    return override or read_settings(ApiSettings).resolved_owner_database_url()


@contextmanager
def open_database(override: str | None, *, migrate: bool = True) -> Iterator[Database]:
    """The store at ``--database-url`` (or the default), disposed of on the way out."""
    from linecheck.serving.store.db import open_store

    db = open_store(database_url(override), migrate=migrate)
    try:
        yield db
    finally:
        db.dispose()


def open_registry(models_dir: Path | None) -> Registry:
    """The model registry at ``--models-dir`` (default: ``LINECHECK_MODELS_DIR`` or ``models/``)."""
    from linecheck.config import get_path_settings
    from linecheck.model.registry import Registry

    return Registry(models_dir or get_path_settings().models_dir)
