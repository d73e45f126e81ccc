"""Launch the real Triton Inference Server binary bundled with the ``nvidia-pytriton`` wheel.

The wheel ships ``tritonserver`` (CPU-capable) and the Python backend;
:func:`~linecheck.serving.triton.server_dir.prepare_server_dir` assembles a backend directory
under ``var/triton/server`` once; :class:`EmbeddedTriton` starts the server as a
subprocess in explicit model-control mode, waits (bounded) for readiness, keeps the log tail
(and forwards lines if asked), and stops it with SIGTERM, then SIGKILL after a timeout.

No orphan survives: the server runs in its own process group (stopped as a group, so the
Python-backend stubs go too), ``atexit`` stops it when the interpreter exits, and on Linux the
kernel sends it SIGTERM if the thread that started it dies (``die_with_parent``), which covers
a SIGKILLed test run. Start it from a thread that lives as long as the server should.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import httpx

from linecheck.errors import ConfigError, ModelNotReadyError, ServerUnavailableError
from linecheck.serving.triton.server_dir import ServerLayout, prepare_server_dir
from linecheck.serving.triton.settings import TritonSettings, get_triton_settings

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedTriton:
    """The bundled Triton server as a context manager.

    Example::

        with EmbeddedTriton(repo, ["textile"]) as server:
            detector = TritonDetector("textile", url=server.grpc_url)

    Ports left at 0 are picked free at start-up. ``models`` are loaded at start; more can be
    (re)loaded with :meth:`load` (explicit model-control mode).
    """

    def __init__(
        self,
        repository: Path,
        models: Sequence[str] = (),
        *,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        http_port: int = 0,
        metrics_port: int = 0,
        server_dir: Path | None = None,
        startup_timeout_s: float = 60.0,
        stop_timeout_s: float = 10.0,
        log_verbose: int = 0,
        log_file: Path | None = None,
        log_sink: Callable[[str], None] | None = None,
        die_with_parent: bool = True,
    ) -> None:
        """Describe the server; nothing starts until :meth:`start` (or ``with``)."""
        self.repository = Path(repository).resolve()
        self.models = list(models)
        self.host = host
        self._ports = {"grpc": grpc_port, "http": http_port, "metrics": metrics_port}
        self._server_dir = server_dir or get_triton_settings().server_dir
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._log_verbose = log_verbose
        self._log_file = log_file
        self._log_sink = log_sink
        self._die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=200)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: TritonSettings,
        models: Sequence[str] = (),
        *,
        repository: Path | None = None,
        **kwargs: object,
    ) -> EmbeddedTriton:
        """A server configured from :class:`TritonSettings` (keyword arguments override)."""
        options: dict[str, object] = {
            "host": settings.host,
            "grpc_port": settings.grpc_port,
            "http_port": settings.http_port,
            "metrics_port": settings.metrics_port,
            "server_dir": settings.server_dir,
            "startup_timeout_s": settings.startup_timeout_s,
            "stop_timeout_s": settings.stop_timeout_s,
            "log_verbose": settings.log_verbose,
            **kwargs,
        }
        return cls(repository or settings.repository, models, **options)  # type: ignore[arg-type]

    # -- addresses ---------------------------------------------------------------------------
    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host

    @property
    def grpc_port(self) -> int:
        """Port of the gRPC endpoint (known once started when it was 0)."""
        return self._ports["grpc"]

    @property
    def http_port(self) -> int:
        """HTTP port."""
        return self._ports["http"]

    @property
    def metrics_port(self) -> int:
        """Prometheus metrics port."""
        return self._ports["metrics"]

    @property
    def grpc_url(self) -> str:
        """``host:port`` for tritonclient's gRPC client."""
        return f"{self._client_host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """``host:port`` for tritonclient's HTTP client."""
        return f"{self._client_host}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        """Full URL of Triton's Prometheus metrics."""
        return f"http://{self._client_host}:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, None when stopped."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def log_tail(self, lines: int = 40) -> str:
        """The server's last ``lines`` log lines."""
        with self._lock:
            return "\n".join(list(self._tail)[-lines:])

    # -- lifecycle ---------------------------------------------------------------------------
    def _command(self, layout: ServerLayout) -> list[str]:
        return [
            str(layout.binary),
            f"--model-repository={self.repository}",
            f"--backend-directory={layout.backend_dir}",
            "--model-control-mode=explicit",
            *[f"--load-model={name}" for name in self.models],
            "--disable-auto-complete-config",
            "--strict-readiness=true",
            f"--exit-timeout-secs={max(1, int(self.stop_timeout_s))}",
            f"--log-verbose={self._log_verbose}",
            f"--grpc-address={self.host}",
            f"--grpc-port={self.grpc_port}",
            f"--http-address={self.host}",
            f"--http-port={self.http_port}",
            f"--metrics-address={self.host}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
        ]

    def _environment(self, layout: ServerLayout) -> dict[str, str]:
        env = dict(os.environ)
        libs = str(layout.libs_dir)
        env["LD_LIBRARY_PATH"] = (
            f"{libs}{os.pathsep}{env['LD_LIBRARY_PATH']}" if env.get("LD_LIBRARY_PATH") else libs
        )
        # The Python-backend stub looks up `python3` on PATH and adopts that environment's prefix and
        # site-packages (it ignores PYTHONPATH): put this interpreter's bin/ first.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _read_log(self, stream: IO[bytes]) -> None:
        sink = self._log_file.open("a", encoding="utf-8") if self._log_file else None
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._lock:
                    self._tail.append(line)
                if sink:
                    sink.write(line + "\n")
                    sink.flush()
                if self._log_sink:
                    self._log_sink(line)
        finally:
            if sink:
                sink.close()
            stream.close()

    def start(self) -> Self:
        """Start the server and wait until it is ready with every requested model loaded.

        Raises:
            ServerUnavailableError: it exited during start-up or was not ready in time (the
                message holds the server's last log lines); it has been stopped.
            ConfigError: the repository folder or the bundled server is missing.

        """
        if self._proc is not None:
            return self
        if not self.repository.is_dir():
            raise ConfigError(f"Triton model repository {self.repository} does not exist (build it first)")
        layout = prepare_server_dir(self._server_dir)
        for key, port in self._ports.items():
            if port == 0:
                self._ports[key] = free_port(self._client_host)
        if self._log_file:
            self._log_file.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            self._command(layout),
            env=self._environment(layout),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group: stopped as a group, and deaf to the terminal's Ctrl-C (we stop it).
            start_new_session=True,
            preexec_fn=_die_with_parent if self._die_with_parent and sys.platform == "linux" else None,
        )
        assert self._proc.stdout is not None
        self._reader = threading.Thread(
            target=self._read_log, args=(self._proc.stdout,), name="tritonserver-log", daemon=True
        )
        self._reader.start()
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://{self.http_url}/v2/health/ready"
        assert self._proc is not None
        with httpx.Client(timeout=1.0) as http:
            while True:
                code = self._proc.poll()
                if code is not None:
                    self._join_reader()
                    raise ServerUnavailableError(
                        f"tritonserver exited with code {code} during start-up "
                        f"(repository {self.repository}); last log lines:\n{self.log_tail()}"
                    )
                try:
                    if http.get(url).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise ServerUnavailableError(
                        f"tritonserver at {url} was not ready after {self.startup_timeout_s:.0f} s; "
                        f"last log lines:\n{self.log_tail()}"
                    )
                time.sleep(0.1)

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def stop(self) -> None:
        """Stop the server (SIGTERM to its group, SIGKILL after ``stop_timeout_s``); idempotent."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                proc.wait(timeout=10)
        self._signal_group(signal.SIGKILL)  # stragglers (stubs) of the group, if any
        self._join_reader()
        self._proc = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- model control -----------------------------------------------------------------------
    def _post(self, path: str) -> httpx.Response:
        url = f"http://{self.http_url}{path}"
        try:
            with httpx.Client(timeout=self.startup_timeout_s) as http:
                return http.post(url)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"Triton at {self.http_url} cannot be reached: {exc}") from exc

    def load(self, model: str) -> None:
        """(Re)load ``model`` from the repository; a new version swaps in without dropping requests.

        Raises:
            ModelNotReadyError: Triton refused or failed to load it (its error message is included).

        """
        response = self._post(f"/v2/repository/models/{model}/load")
        if response.status_code != 200:
            raise ModelNotReadyError(
                f"Triton at {self.http_url} could not load model {model!r}: {_error_text(response)}"
            )

    def unload(self, model: str) -> None:
        """Unload ``model`` (requests already running finish first)."""
        response = self._post(f"/v2/repository/models/{model}/unload")
        if response.status_code != 200:
            raise ModelNotReadyError(
                f"Triton at {self.http_url} could not unload model {model!r}: {_error_text(response)}"
            )

    def _probe(self, path: str) -> bool:
        try:
            with httpx.Client(timeout=1.0) as http:
                return http.get(f"http://{self.http_url}{path}").status_code == 200
        except httpx.TransportError:
            return False

    def is_live(self) -> bool:
        """Whether the server process answers at all (its liveness probe)."""
        return self._probe("/v2/health/live")

    def is_ready(self) -> bool:
        """Whether the server is ready: strict readiness, so every loaded model must be ready too."""
        return self._probe("/v2/health/ready")

    def model_ready(self, model: str, version: int | None = None) -> bool:
        """Whether ``model`` (a given version, or the served one) is ready."""
        return self._probe(f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/ready")


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"
    return str(body.get("error", body)) if isinstance(body, dict) else str(body)
