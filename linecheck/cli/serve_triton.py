"""`linecheck serve triton`: build the Triton model repository and run the embedded server."""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path

import typer

from linecheck.cli.common import errors_exit, open_registry
from linecheck.serving.triton.settings import get_triton_settings
from linecheck.stop_signals import interrupt_on_stop_signals

#: NVIDIA's Triton image matching the server bundled with nvidia-pytriton (Triton 2.51 = 24.10).
TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"


class FlavorChoice(StrEnum):
    """Repository flavour."""

    EMBEDDED = "embedded"
    GPU = "gpu"


def docker_command(
    repository: Path, models: list[str], grpc_port: int, http_port: int, metrics_port: int
) -> str:
    """The ``docker run --gpus all`` command serving a gpu-flavour repository with NVIDIA's image."""
    loads = " ".join(f"--load-model={m}" for m in models)
    return (
        f"docker run --gpus all --rm --shm-size=1g "
        f"-p {http_port}:8000 -p {grpc_port}:8001 -p {metrics_port}:8002 "
        f"-v {repository.resolve()}:/models:ro {TRITON_IMAGE} "
        f"tritonserver --model-repository=/models --model-control-mode=explicit {loads}"
    )


def shadow_candidates() -> list[tuple[str, str]]:
    """(model, version) of every ``shadow:`` entry of the lines in LINECHECK_LINES_DIR (if it exists)."""
    from linecheck.config import get_path_settings, load_lines

    lines_dir = get_path_settings().lines_dir
    if not lines_dir.is_dir():
        return []
    return [(ref.name, ref.version) for line in load_lines(lines_dir).values() for ref in line.shadow]


def register(app: typer.Typer) -> None:
    """Add ``serve triton`` to ``app``."""

    @app.command("triton")
    def triton(
        flavor: FlavorChoice = typer.Option(
            FlavorChoice.EMBEDDED, help="embedded (CPU, bundled server) or gpu"
        ),
        models: str = typer.Option(
            "", help="comma-separated registry models; default: every registered model"
        ),
        repository: Path | None = typer.Option(
            None, help="model repository folder (default: var/triton/repo)"
        ),
        registry: Path | None = typer.Option(None, help="model registry folder (default: models/)"),
        stage: str = typer.Option("production", help="registry stage (or version) to serve"),
        host: str | None = typer.Option(None, help="address to listen on (default: 127.0.0.1)"),
        grpc_port: int | None = typer.Option(None, help="(default: 8001)"),
        http_port: int | None = typer.Option(None, help="(default: 8000)"),
        metrics_port: int | None = typer.Option(None, help="(default: 8002)"),
        build_only: bool = typer.Option(False, "--build-only", help="write the repository and exit"),
        shadows: bool = typer.Option(
            True,
            "--shadows/--no-shadows",
            help="also serve the versions the lines' shadow: entries name, as NAME--VERSION",
        ),
    ) -> None:
        """Build the model repository from the registry and serve it with Triton (Ctrl-C stops it)."""
        from linecheck.serving.triton.embedded import EmbeddedTriton
        from linecheck.serving.triton.repository import RepositoryOptions, build_repository

        settings = get_triton_settings()
        repo = repository or settings.repository
        grpc = settings.grpc_port if grpc_port is None else grpc_port
        http = settings.http_port if http_port is None else http_port
        metrics = settings.metrics_port if metrics_port is None else metrics_port
        names = [m.strip() for m in models.split(",") if m.strip()] or None
        with errors_exit(code=2):
            served = build_repository(
                open_registry(registry),
                repo,
                RepositoryOptions.from_settings(settings, flavor=flavor.value),
                names=names,
                stage=stage,
                candidates=shadow_candidates() if shadows else (),
            )
        for model in served:
            typer.echo(
                f"repository: {model.path} version {model.version} ({', '.join(model.contract.classes)})"
            )
        loaded = [m.name for m in served]
        if flavor is FlavorChoice.GPU:
            typer.echo("serve it on a GPU host with NVIDIA's Triton image:")
            typer.echo("  " + docker_command(Path(repo), loaded, grpc, http, metrics))
            return
        if build_only:
            return
        server = EmbeddedTriton.from_settings(
            settings,
            loaded,
            repository=Path(repo),
            host=host or settings.host,
            grpc_port=grpc,
            http_port=http,
            metrics_port=metrics,
            log_sink=lambda line: typer.echo(f"[triton] {line}", err=True),
        )
        restore_signals = interrupt_on_stop_signals()  # Ctrl-C or `kill`: a clean stop
        try:
            with errors_exit(), server:
                typer.echo(
                    f"ready: grpc={server.grpc_url} http={server.http_url} metrics={server.metrics_url}"
                )
                typer.echo(f"models: {', '.join(loaded)}  (Ctrl-C to stop)")
                sys.stdout.flush()
                while server.pid is not None:
                    time.sleep(0.5)
                typer.echo(f"error: tritonserver exited; last log lines:\n{server.log_tail()}", err=True)
                raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.echo("stopped")
        finally:
            restore_signals()
