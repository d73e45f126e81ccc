"""`linecheck config ...`: what linecheck reads from the environment."""

from __future__ import annotations

import typer

app = typer.Typer(help="Configuration: environment variables per service.", no_args_is_help=True)


@app.command("env")
def env() -> None:
    """Print every environment variable (name, default, meaning) per service, as README markdown."""
    from linecheck.settings_catalog import env_table

    typer.echo(env_table(), nl=False)
