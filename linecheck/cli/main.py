"""Root of the ``linecheck`` CLI; each command group lives in its own module."""

from __future__ import annotations

import faulthandler
import signal

import typer

from linecheck.cli import config_cmd, data, db, demo, inspect_cmd, keys, lines, models, outbox, serve, train

if hasattr(signal, "SIGUSR1"):
    # `kill -USR1 <pid>` prints every thread's Python stack to stderr and the command runs on:
    # where a service that does not stop (or answer) is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)

app = typer.Typer(
    name="linecheck",
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
