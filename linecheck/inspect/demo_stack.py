"""The servers behind the demo: embedded Triton with the starter models and the API on SQLite.

:class:`DemoStack` builds the Triton model repository from the registry's production
versions, starts the bundled server, migrates a fresh SQLite database, creates one line key
per line (and a viewer key for look-ups) and serves the API with uvicorn on a background
thread. Everything stops, in reverse order, when the stack is closed.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from linecheck.config import LineConfig, ModelRef, model_of
from linecheck.errors import ConfigError, RegistryError, ServerUnavailableError

log = logging.getLogger(__name__)


def line_models(line: LineConfig) -> list[ModelRef]:
    """The line's main model and its extra models."""
    return [line.model or ModelRef(name=model_of(line)), *line.extra_models]


class BackgroundApi:
    """The traceability API served by uvicorn on a thread of this process."""

    def __init__(self, app: Any, *, host: str, port: int) -> None:
        import uvicorn

        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            raise ConfigError(
                f"--port {port}: cannot listen on {host}:{port}: {exc} (pick another port)"
            ) from exc
        self.port = int(self._sock.getsockname()[1])
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        )
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="demo-api", daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start serving and wait until uvicorn has started (migrations run in its lifespan)."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServerUnavailableError(f"API on {self.url} stopped during start-up (see the log above)")
            if time.monotonic() > deadline:
                raise ServerUnavailableError(f"API on {self.url} not started after {timeout_s:.0f}s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving (graceful, bounded)."""
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()


@dataclass(kw_only=True)
class DemoStack:
    """Triton + API for a set of lines, rooted at ``workdir``.

    Attributes:
        lines: the lines the demo runs (their models must be in the registry).
        workdir: where the repository, database, images and logs go (wiped of old runs first).
        registry_root: the model registry (starter models).
        extra_registries: more registries, for models ``registry_root`` does not hold (the demo's
            anomaly model, trained into its own registry).
        host, port: where the API listens.

    """

    lines: Sequence[LineConfig]
    workdir: Path
    registry_root: Path
    lines_dir: Path
    extra_registries: Sequence[Path] = ()
    host: str = "127.0.0.1"
    port: int = 8080
    triton_url: str = ""
    api_url: str = ""
    line_keys: dict[str, str] = field(default_factory=dict)
    viewer_key: str = ""
    reviewer_key: str = ""
    models: dict[str, str] = field(default_factory=dict)
    model_classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    triton: Any = None  # the running EmbeddedTriton (model load / unload)
    _stack: ExitStack = field(default_factory=ExitStack)

    def fresh_workdir(self) -> None:
        """Remove the previous run's database, images, outboxes and repository."""
        for name in ("linecheck.db", "linecheck.db-wal", "linecheck.db-shm"):
            (self.workdir / name).unlink(missing_ok=True)
        for name in ("images", "inspector", "triton-repo"):
            shutil.rmtree(self.workdir / name, ignore_errors=True)
        self.workdir.mkdir(parents=True, exist_ok=True)

    def start_triton(self) -> None:
        """Build the repository from the registry's production versions and start the server."""
        from linecheck.model.registry import Registry
        from linecheck.serving.triton.embedded import EmbeddedTriton
        from linecheck.serving.triton.repository import RepositoryOptions, build_repository
        from linecheck.serving.triton.settings import get_triton_settings

        names = sorted({ref.name for line in self.lines for ref in line_models(line)})
        registries = [Registry(root) for root in (self.registry_root, *self.extra_registries)]
        holder = {}
        for registry in reversed(registries):  # the first registry holding a model serves it
            holder.update({name: registry for name in names if name in registry.names()})
        missing = [n for n in names if n not in holder]
        if missing:
            raise RegistryError(
                f"starter model(s) {missing} are not in the registry at {self.registry_root}; "
                "the demo serves the registry's production versions (see `linecheck models list`)"
            )
        settings = get_triton_settings()
        repo = self.workdir / "triton-repo"
        served = []
        for registry in registries:
            mine = [n for n in names if holder[n] is registry]
            if mine:
                options = RepositoryOptions.from_settings(settings)
                served += build_repository(registry, repo, options, names=mine)
        self.models = {s.name: str(s.version) for s in sorted(served, key=lambda s: s.name)}
        self.model_classes = {s.name: tuple(s.contract.classes) for s in served}
        server = EmbeddedTriton.from_settings(
            settings,
            names,
            repository=repo,
            grpc_port=0,
            http_port=0,
            metrics_port=0,
            log_file=self.workdir / "tritonserver.log",
        )
        self._stack.enter_context(server)
        self.triton = server
        self.triton_url = server.grpc_url

    def start_api(self) -> None:
        """Migrate a fresh SQLite database, create the keys and serve the API."""
        from linecheck.serving.api.app import create_app
        from linecheck.serving.api.settings import ApiSettings
        from linecheck.serving.store import keys
        from linecheck.serving.store.db import Database, sqlite_url, upgrade_head
        from linecheck.settings_env import read_settings

        url = sqlite_url(self.workdir / "linecheck.db")
        db = Database.from_url(url)
        try:
            upgrade_head(db.engine)  # Alembic owns the schema
            self.line_keys = {
                line.id: keys.create_key(db, "line", line.id, name=f"demo {line.id}", created_by="demo")
                for line in self.lines
            }
            self.viewer_key = keys.create_key(db, "viewer", name="demo viewer", created_by="demo")
            self.reviewer_key = keys.create_key(db, "reviewer", name="demo QA", created_by="demo")
        finally:
            db.dispose()
        settings = read_settings(
            ApiSettings, database_url=url, data_dir=self.workdir, lines_dir=self.lines_dir
        )
        api = BackgroundApi(create_app(settings), host=self.host, port=self.port)
        api.start()
        self._stack.callback(api.stop)
        self.api_url = api.url

    def start(self) -> DemoStack:
        """Fresh workdir, Triton, then the API."""
        try:
            self.fresh_workdir()
            self.start_triton()
            self.start_api()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop the API, then Triton."""
        self._stack.close()

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
