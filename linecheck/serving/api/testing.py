"""Start a REAL API for tests and benchmarks: uvicorn in a thread or in a child process.

Example::

    from linecheck.serving.api.testing import run_api, create_key

    with run_api(database_url, tmp_path) as base_url:
        key = create_key(database_url, "line", "textile-01")
        httpx.post(f"{base_url}/v1/inspections", json=body, headers={"Authorization": f"Bearer {key}"})

Both helpers migrate the database and sync ``configs/lines`` (or ``lines_dir``) at start-up,
exactly as ``linecheck serve api`` does.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from linecheck.config import PROJECT_ROOT
from linecheck.errors import ServerUnavailableError
from linecheck.serving.api.app import create_app
from linecheck.serving.api.settings import ApiSettings
from linecheck.serving.store import keys
from linecheck.serving.store.db import Database, upgrade_head
from linecheck.settings_env import env_name, read_settings

DEFAULT_LINES_DIR = PROJECT_ROOT / "configs" / "lines"


def _settings(
    database_url: str, data_dir: Path, lines_dir: Path | None, overrides: dict[str, Any] | None
) -> ApiSettings:
    return read_settings(
        ApiSettings,
        database_url=database_url,
        data_dir=Path(data_dir),
        lines_dir=lines_dir or DEFAULT_LINES_DIR,
        **(overrides or {}),
    )


@contextmanager
def run_api(
    database_url: str,
    data_dir: Path,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    lines_dir: Path | None = None,
    settings: dict[str, Any] | None = None,
    startup_timeout_s: float = 30.0,
) -> Iterator[str]:
    """Serve the API with uvicorn in a background thread; yield its base URL (``http://host:port``).

    ``port=0`` picks a free port. ``settings`` overrides :class:`ApiSettings` fields
    (e.g. ``{"max_batch": 10}``). The server is stopped when the block exits.
    """
    app = create_app(_settings(database_url, data_dir, lines_dir, settings))
    try:
        with serve_app(
            app, host=host, port=port, name="linecheck-api", startup_timeout_s=startup_timeout_s
        ) as url:
            yield url
    finally:
        # A start-up that failed never reaches the lifespan's shutdown: release its pool here.
        app.state.context.close()


@contextmanager
def serve_app(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "uvicorn",
    startup_timeout_s: float = 30.0,
) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn in a background thread; yield ``http://host:port``; stop on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive():
                raise ServerUnavailableError(
                    f"{name} on {host}:{bound_port} stopped during start-up (see log)"
                )
            if time.monotonic() > deadline:
                raise ServerUnavailableError(
                    f"{name} on {host}:{bound_port} not started after {startup_timeout_s}s"
                )
            time.sleep(0.02)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def run_api_process(
    database_url: str,
    data_dir: Path,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    lines_dir: Path | None = None,
    workers: int = 1,
    env: dict[str, str] | None = None,
    startup_timeout_s: float = 60.0,
    tls_ca: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``linecheck serve api`` as a child process; yield (base URL, process).

    The process can be killed by the caller (fault tests); it is terminated on exit otherwise.
    ``tls_ca``: the API serves HTTPS (its certificate and key in ``env``), signed by this CA.
    """
    port = port or free_port(host)
    child_env = dict(os.environ)
    child_env.update(
        {
            env_name(ApiSettings, "database_url"): database_url,
            env_name(ApiSettings, "data_dir"): str(data_dir),
            env_name(ApiSettings, "lines_dir"): str(lines_dir or DEFAULT_LINES_DIR),
        }
    )
    child_env.update(env or {})
    cmd: Sequence[str] = [
        sys.executable, "-m", "linecheck.cli.main", "serve", "api",
        "--host", host, "--port", str(port), "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=child_env)
    base = f"{'https' if tls_ca else 'http'}://{host}:{port}"
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else True
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise ServerUnavailableError(
                    f"`{' '.join(cmd)}` exited with {proc.returncode} during start-up"
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0, verify=verify).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ServerUnavailableError(f"API at {base} not healthy after {startup_timeout_s}s")
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def create_key(
    database: str | Database, role: str, line_id: str | Sequence[str] | None = None, *, name: str = "test"
) -> str:
    """Create an API key in the store at ``database`` (URL or :class:`Database`); return it in full.

    Migrates the schema first, so it works before the API has ever started on that database.
    """
    db = Database.from_url(database) if isinstance(database, str) else database
    try:
        upgrade_head(db.engine)
        return keys.create_key(db, role, line_id, name=name, created_by="testing")
    finally:
        if isinstance(database, str):
            db.dispose()
