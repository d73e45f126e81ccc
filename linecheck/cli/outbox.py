"""`linecheck outbox list|requeue|drop`: the inspector's local outbox, for an operator.

Rows the API refused for good, and rows parked because they kept failing on their own (a 5xx for
that row alone, a payload that cannot be serialised: ``parked ...``), stay in the outbox as
``rejected``, with the error. After fixing the cause (a line registered, a code pattern
corrected, an API bug fixed) ``requeue`` sends them again; rows that must never be sent are
``drop``-ped. Both work while ``linecheck inspect`` runs: its sender
picks requeued rows up on its next poll.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from linecheck.cli.common import FormatOption, OutputFormat, console, errors_exit
from linecheck.errors import InvalidFieldError, NotFoundError

if TYPE_CHECKING:
    from linecheck.inspect.outbox import Outbox, OutboxRow

app = typer.Typer(
    help="The inspector's outbox: list rows, requeue or drop the ones the API rejected.", no_args_is_help=True
)

OutboxPath = Annotated[
    Path | None,
    typer.Option(
        "--outbox",
        help="Outbox SQLite file [default: outbox.sqlite in the inspector folder, LINECHECK_INSPECTOR_DIR].",
    ),
]
RowIds = Annotated[
    list[str] | None, typer.Argument(help="Ids of rejected rows (see `linecheck outbox list`).")
]
AllRows = Annotated[bool, typer.Option("--all", help="Every rejected row.")]


class StateChoice(StrEnum):
    """Rows `linecheck outbox list` shows."""

    REJECTED = "rejected"
    PENDING = "pending"
    SENT = "sent"
    ALL = "all"


@contextmanager
def _open(path: Path | None) -> Iterator[Outbox]:
    """The existing outbox at ``path`` (default: the inspector's), closed on the way out."""
    from linecheck.inspect.outbox import Outbox
    from linecheck.inspect.settings import get_inspector_settings

    path = path or get_inspector_settings().outbox_path
    if not path.is_file():
        raise NotFoundError(f"no outbox at {path}: give --outbox, or run `linecheck inspect` first")
    outbox = Outbox(path)
    try:
        yield outbox
    finally:
        outbox.close()


def _chosen(outbox: Outbox, ids: list[str] | None, every: bool) -> list[str] | None:
    """The ids to act on (None: every rejected row); refuses ids that are not rejected rows."""
    if bool(ids) == every:
        raise InvalidFieldError("ids", ids, "give the ids of rejected rows, or --all (not both)")
    if every:
        return None
    assert ids is not None
    rows = {i: outbox.get(i) for i in ids}
    wrong = [
        f"{i} ({row.state if row else 'no such row'})"
        for i, row in rows.items()
        if not row or row.state != "rejected"
    ]
    if wrong:
        raise NotFoundError(f"not rejected rows: {', '.join(wrong)}; nothing changed")
    return ids


def _fields(row: OutboxRow) -> dict[str, object]:
    return {
        "id": row.id,
        "line": row.line_id,
        "code": row.payload.get("code"),
        "captured": row.payload.get("captured_at"),
        "state": row.state,
        "attempts": row.attempts,
        "last_error": row.last_error,
    }


def _table(rows: list[OutboxRow], state: StateChoice) -> Table:
    table = Table(title=f"{len(rows)} {state.value} row(s)")
    for column in ("id", "line", "code", "captured", "state", "attempts", "last error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("-" if value is None else str(value) for value in _fields(row).values()))
    return table


@app.command("list")
def list_rows(
    state: Annotated[StateChoice, typer.Option(help="Rows in this state.")] = StateChoice.REJECTED,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many rows (oldest first).")] = 200,
    fmt: FormatOption = OutputFormat.AUTO,
    outbox_path: OutboxPath = None,
) -> None:
    """Rows of one state (default: rejected, with the API's error), oldest first.

    The table starts with the counts per state; plain prints one tab-separated line per row
    (id, line, code, captured, state, attempts, last error), json a list of objects.
    """
    with errors_exit(), _open(outbox_path) as outbox:
        counts = outbox.counts()
        rows = outbox.rows(None if state is StateChoice.ALL else state.value)
    shown = rows[:limit]
    match fmt.resolved():
        case OutputFormat.JSON:
            typer.echo(json.dumps([_fields(row) for row in shown], indent=2))
        case OutputFormat.PLAIN:
            for row in shown:
                typer.echo(
                    "\t".join("" if v is None else " ".join(str(v).split()) for v in _fields(row).values())
                )
        case _:
            console.print(", ".join(f"{n} {name}" for name, n in counts.items()))
            if shown:
                console.print(_table(shown, state))
            if len(rows) > limit:
                console.print(f"... and {len(rows) - limit} more")


@app.command("requeue")
def requeue(ids: RowIds = None, every: AllRows = False, outbox_path: OutboxPath = None) -> None:
    """Send rejected rows again (after fixing what the API refused); a running inspector picks them up."""
    with errors_exit(), _open(outbox_path) as outbox:
        count = outbox.requeue_rejected(_chosen(outbox, ids, every))
    console.print(f"requeued {count} row(s)")


@app.command("drop")
def drop(ids: RowIds = None, every: AllRows = False, outbox_path: OutboxPath = None) -> None:
    """Delete rejected rows for good, with their local images; pending and sent rows are never dropped."""
    with errors_exit(), _open(outbox_path) as outbox:
        count = outbox.drop_rejected(_chosen(outbox, ids, every))
    console.print(f"dropped {count} row(s)")
