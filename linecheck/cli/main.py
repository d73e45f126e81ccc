"""Root of the ``linecheck`` CLI; each command group lives in its own module."""

from __future__ import annotations

import faulthandler
import signal
from typing import Any

import typer
from typer.core import TyperGroup

from linecheck.cli import config_cmd, data, db, demo, inspect_cmd, keys, lines, models, outbox, serve, train
from linecheck.cli.common import errors_exit

if hasattr(signal, "SIGUSR1"):
    # `kill -USR1 <pid>` prints every thread's Python stack to stderr and the command runs on:
    # where a service that does not stop (or answer) is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)


class LinecheckGroup(TyperGroup):
    """The root command: a linecheck error no command caught (a bad setting) is one ``error:`` line too."""

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's own click.Context
        """Run the chosen command; a :class:`~linecheck.errors.LinecheckError` exits 1 without a traceback."""
        with errors_exit():
            return super().invoke(ctx)


app = typer.Typer(
    name="linecheck",
    cls=LinecheckGroup,
    help="Visual quality inspection with one-code traceability for textile, bearing and PV lines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(serve.app, name="serve")
app.add_typer(keys.app, name="keys")
app.add_typer(lines.app, name="lines")
app.add_typer(db.app, name="db")
app.add_typer(config_cmd.app, name="config")
app.add_typer(outbox.app, name="outbox")
train.register(app)  # train, val, export, export-int8
inspect_cmd.register(app)  # inspect
demo.register(app)  # demo


if __name__ == "__main__":  # pragma: no cover
    app()
