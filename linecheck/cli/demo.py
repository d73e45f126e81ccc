"""`linecheck demo`: embedded Triton + API on SQLite + simulated lines (textile with an anomaly model too)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console

from linecheck.cli.common import err_console, errors_exit

# Not a terminal (CI logs, `make demo > log`): wide enough that the summary tables stay readable.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the root app."""

    @app.command("demo")
    def demo(
        duration: float = typer.Option(60.0, help="Seconds the simulated lines run."),
        exit_after: bool = typer.Option(
            False, "--exit", help="Stop everything after the summary (default: keep the API up until Ctrl-C)."
        ),
        summary_json: Path | None = typer.Option(None, help="Write the summary as JSON here (for scripts)."),
        port: int = typer.Option(8080, help="API port."),
        host: str = typer.Option("127.0.0.1", help="API address."),
        seed: int = typer.Option(1, help="Synthetic line seed."),
        rate_scale: float = typer.Option(1.0, help="Multiply every camera's frame rate from configs/lines."),
        workdir: Path | None = typer.Option(
            None, help="Demo data folder [default: var/demo] (wiped at start, but for anomaly/ and cells/)."
        ),
        anomaly: bool = typer.Option(
            True,
            help="Run an anomaly model next to the textile line's detector (union verdict, heat maps on the "
            "review page); trained from the simulated line's good frames at the first start (about 15 s), "
            "then reused from WORKDIR/anomaly/.",
        ),
        cells: bool = typer.Option(
            True,
            help="Run a cell classifier on every cell of the PV line's modules (union verdict, row/col of "
            "each flagged cell); trained from the simulated line's cells at the first start (about 60 s), "
            "then reused from WORKDIR/cells/.",
        ),
    ) -> None:
        """Run the whole system for a minute on simulated lines, then print a summary and trace look-ups."""
        from linecheck.inspect.demo import Demo, DemoOptions

        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        options = DemoOptions(
            duration_s=duration,
            exit_after=exit_after,
            summary_json=summary_json,
            port=port,
            host=host,
            seed=seed,
            rate_scale=rate_scale,
            anomaly=anomaly,
            cells=cells,
        )
        if workdir is not None:
            options.workdir = workdir
        with errors_exit():
            summary = Demo(options, console).run()
        if not summary:
            raise typer.Exit(code=1)
        if summary["outbox"]["pending"]:
            err_console.print(
                f"[red]error:[/red] {summary['outbox']['pending']} inspection(s) never reached the API"
            )
            raise typer.Exit(code=1)
