"""`linecheck serve triton|api`: run the inference server or the traceability API."""

from __future__ import annotations

import typer

from linecheck.cli import serve_api, serve_triton

app = typer.Typer(help="Run the Triton inference server or the traceability API.", no_args_is_help=True)
serve_triton.register(app)
serve_api.register(app)
