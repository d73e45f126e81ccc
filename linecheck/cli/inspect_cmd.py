"""`linecheck inspect`: run the line-side inspector with a live status line."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live

from linecheck.cli.common import console, err_console, errors_exit
from linecheck.errors import ConfigError
from linecheck.stop_signals import interrupt_on_stop_signals


def register(app: typer.Typer) -> None:
    """Add ``inspect`` to the root app."""

    @app.command("inspect")
    def inspect(
        line: list[str] = typer.Option(
            ..., "--line", "-l", help="Line id (configs/lines/<id>.yaml); repeatable."
        ),
        source: list[str] = typer.Option(
            [],
            "--source",
            "-s",
            help="Frame source URI (synth://<kind>?seed=1&rate=4, folder, video, rtsp://, http://, usb:N); "
            "one per --line, in order. Default: the cameras in the line config.",
        ),
        station: str | None = typer.Option(
            None, help="Station name for --source [default: the line's first camera]."
        ),
        runtime: str = typer.Option(
            "triton", help="triton (server at LINECHECK_TRITON_URL) or onnx (in-process)."
        ),
        triton_url: str | None = typer.Option(
            None, help="Triton gRPC address host:port [default: settings]."
        ),
        api_url: str | None = typer.Option(
            None, help="Traceability API base URL [default: LINECHECK_INSPECTOR_API_URL]."
        ),
        api_key: str | None = typer.Option(
            None, help="Line API key [default: LINECHECK_INSPECTOR_API_KEY].", show_default=False
        ),
        send: bool = typer.Option(
            True, "--send/--no-send", help="--no-send keeps results in the outbox only."
        ),
        inspector_dir: Path | None = typer.Option(None, help="Outbox folder [default: var/inspector]."),
        metrics_port: int | None = typer.Option(
            None,
            help="Serve /metrics, /status and POST /trigger here (0: off) "
            "[default: LINECHECK_INSPECTOR_METRICS_PORT].",
        ),
        trigger_file: Path | None = typer.Option(
            None, help="File holding the current unit code (trigger-coded lines, e.g. a roll label scanner)."
        ),
        duration: float | None = typer.Option(
            None, help="Stop after this many seconds [default: run until the sources end or Ctrl-C]."
        ),
        signal_file: Path | None = typer.Option(
            None, help="Append a reject-signal JSON line per frame here (reject: fail or not_inspected)."
        ),
        signal_url: str | None = typer.Option(
            None, help="POST the reject-signal JSON of every frame to this URL."
        ),
        lines_dir: Path | None = typer.Option(None, help="Line configs folder [default: configs/lines]."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No live status line (logs only)."),
    ) -> None:
        """Inspect frames from a line: read codes, infer, judge, keep every result and send it to the API."""
        from linecheck.config import load_lines
        from linecheck.inspect.api_client import ApiClient
        from linecheck.inspect.detectors import detector_factories, shadow_specs
        from linecheck.inspect.metrics import InspectorMetrics
        from linecheck.inspect.reject import HttpSignal, JsonLinesSignal, RejectSink, SignalOutput
        from linecheck.inspect.service import InspectorService, SourceSpec
        from linecheck.inspect.settings import InspectorSettings
        from linecheck.inspect.status_view import status_view
        from linecheck.inspect.triggers import FileTrigger, TriggerBoard
        from linecheck.settings_env import read_settings

        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        trigger: FileTrigger | None = None
        with errors_exit():
            known = load_lines(lines_dir)
            unknown = [lid for lid in line if lid not in known]
            if unknown:
                raise ConfigError(f"--line {unknown[0]!r}: no such line; known: {', '.join(sorted(known))}")
            configs = [known[lid] for lid in line]
            if source and len(source) != len(configs):
                raise ConfigError(
                    f"--source given {len(source)} time(s) for {len(configs)} --line(s): give one per line"
                )
            specs = None
            if source:
                specs = [
                    SourceSpec(line_id=cfg.id, station=station or cfg.cameras[0].station, uri=uri)
                    for cfg, uri in zip(configs, source, strict=True)
                ]
            overrides: dict[str, Any] = {}
            for key, value in (
                ("api_url", api_url),
                ("api_key", api_key),
                ("inspector_dir", inspector_dir),
                ("metrics_port", metrics_port),
            ):
                if value is not None:
                    overrides[key] = value
            settings = read_settings(InspectorSettings, **overrides)  # options checked like their variables
            if runtime not in ("triton", "onnx"):
                raise ConfigError(f"--runtime {runtime!r}: expected triton or onnx")
            detectors = detector_factories(
                configs,
                "triton" if runtime == "triton" else "onnx",
                triton_url=triton_url,
                timeout_s=settings.infer_timeout_s * 0.8,
            )
            shadows = shadow_specs(
                configs,
                "triton" if runtime == "triton" else "onnx",
                triton_url=triton_url,
                timeout_s=settings.infer_timeout_s * 0.8,
            )
            board = TriggerBoard()
            client = (
                ApiClient(
                    settings.api_url,
                    settings.api_key,
                    timeout_s=settings.api_timeout_s,
                    ca_file=settings.api_ca_file,
                )
                if send
                else None
            )
            metrics = InspectorMetrics()
            sinks: list[RejectSink] = []
            if signal_file is not None:
                sinks.append(JsonLinesSignal(signal_file))
            if signal_url is not None:
                sinks.append(HttpSignal(signal_url))
            rejects = SignalOutput(sinks, metrics)
            service = InspectorService(
                configs,
                detectors=detectors,
                settings=settings,
                client=client,
                sources=specs,
                board=board,
                metrics=metrics,
                sinks=[rejects] if sinks else [],
                shadows=shadows,
            )
            if trigger_file is not None:
                trigger_lines = [c.id for c in configs if c.code_source == "trigger"] or [configs[0].id]
                trigger = FileTrigger(board, trigger_lines[0], trigger_file)
                trigger.poll()  # the current code is known before the first frame
            service.start()
        if trigger is not None:
            trigger.start()
        restore_signals = interrupt_on_stop_signals()  # Ctrl-C or `kill`: a clean stop
        # every frame read is judged (or not_inspected past its deadline) within deadline + one call
        drain_s = max(60.0, settings.deadline_s + settings.infer_timeout_s)
        started = time.monotonic()
        interrupted = False
        try:
            live_console = Console(quiet=True) if quiet else console
            with Live(
                status_view(service.status()), console=live_console, refresh_per_second=4, transient=False
            ) as live:
                while True:
                    if service.wait_sources(0.25):
                        break
                    if duration is not None and time.monotonic() - started >= duration:
                        break
                    live.update(status_view(service.status()))
                console.print("[dim]stopping: finishing the frames already read…[/dim]")
                service.drain(drain_s)
                service.wait_delivered(10.0)
                live.update(status_view(service.status()))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            restore_signals()
            if trigger is not None:
                trigger.stop()
            final = service.status()
            service.stop(drain_timeout_s=30.0 if interrupted else drain_s, deliver_timeout_s=5.0)
            rejects.close()
        outbox = final.get("outbox") or {}
        console.print(
            f"{final['frames_in']} frame(s) in {final['elapsed_s']:.0f} s; "
            f"outbox: {outbox.get('pending', 0)} pending, "
            f"{outbox.get('sent', 0)} sent, {outbox.get('rejected', 0)} rejected"
            + (" (interrupted)" if interrupted else "")
        )
        if final.get("errors"):
            for name, error in final["errors"].items():
                err_console.print(f"[red]{name}:[/red] {error}")
            raise typer.Exit(code=1)
