"""Embedded server lifecycle: start-up failures, clean stops, no orphan after Ctrl-C, SIGTERM or SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lc_processes import stacks_then_kill
from lc_tiny_model import register_tiny
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.errors import ConfigError, ModelNotReadyError, ServerUnavailableError
from linecheck.model.registry import Registry
from linecheck.serving.triton.embedded import EmbeddedTriton, free_port
from linecheck.serving.triton.repository import RepositoryOptions, add_model_version
from linecheck.serving.triton.server_dir import prepare_server_dir

pytestmark = pytest.mark.triton

ROOT = Path(__file__).resolve().parents[3]
LINECHECK = Path(sys.executable).with_name("linecheck")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (e.g. a unique repository path)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and _alive(int(proc.name)) and int(proc.name) != os.getpid():
                found.append(int(proc.name))
    return found


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return []
        time.sleep(0.1)
    return pids


@pytest.fixture
def broken_repository(tmp_path, registry):
    """A repository whose only model cannot load (its ONNX file is garbage)."""
    repo = tmp_path / "repo"
    add_model_version(repo, registry.get("textile"), RepositoryOptions())
    (repo / "textile" / "1" / "model.onnx").write_bytes(b"garbage")
    return repo


def test_a_model_that_fails_to_load_stops_start_up_with_the_log_tail(broken_repository):
    server = EmbeddedTriton(broken_repository, ["textile"], startup_timeout_s=60)
    with pytest.raises(ServerUnavailableError, match="exited with code") as info:
        server.start()
    assert "textile" in str(info.value) and "last log lines" in str(info.value)
    assert server.pid is None
    assert _wait_gone(_processes_mentioning(str(broken_repository))) == []


def test_loading_a_broken_model_into_a_running_server_is_model_not_ready(broken_repository):
    with EmbeddedTriton(broken_repository) as server:
        with pytest.raises(ModelNotReadyError, match="could not load model 'textile'"):
            server.load("textile")
        assert server.is_live() and server.pid is not None
        assert not server.model_ready("textile")


SLEEPY_CONFIG = """
name: "sleepy"
backend: "python"
max_batch_size: 0
input { name: "x" data_type: TYPE_FP32 dims: 1 }
output { name: "y" data_type: TYPE_FP32 dims: 1 }
"""
SLEEPY_MODEL = """
import time


class TritonPythonModel:
    def initialize(self, args):
        time.sleep(120)
"""


def test_readiness_wait_is_bounded_and_kills_the_backend_stubs(tmp_path):
    repo = tmp_path / "repo"
    (repo / "sleepy" / "1").mkdir(parents=True)
    (repo / "sleepy" / "config.pbtxt").write_text(SLEEPY_CONFIG)
    (repo / "sleepy" / "1" / "model.py").write_text(SLEEPY_MODEL)
    server = EmbeddedTriton(repo, ["sleepy"], startup_timeout_s=2, stop_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(ServerUnavailableError, match="not ready after 2 s"):
        server.start()
    assert time.monotonic() - started < 10
    assert server.pid is None
    # The Python-backend stub names the model's path on its command line: it must be gone too.
    assert _wait_gone(_processes_mentioning(str(repo))) == []


def test_server_dir_is_assembled_once_and_rebuilt_when_stale(tmp_path):
    layout = prepare_server_dir(tmp_path / "server")
    stub = layout.backend_dir / "python" / "triton_python_backend_stub"
    assert os.access(stub, os.X_OK) and (layout.backend_dir / "python" / "libtriton_python.so").is_file()
    assert layout.binary.is_file() and layout.libs_dir.is_dir()
    marker = layout.backend_dir / "python" / "marker"
    marker.write_text("kept while the stamp matches")
    assert prepare_server_dir(tmp_path / "server") == layout and marker.exists()
    (tmp_path / "server" / "STAMP").write_text("nvidia-pytriton 0.0.1 python 3.0\n")
    prepare_server_dir(tmp_path / "server")
    assert not marker.exists() and stub.is_file()


def test_missing_repository_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        EmbeddedTriton(tmp_path / "nope").start()


def test_stop_is_idempotent_and_leaves_nothing_behind(tmp_path):
    (tmp_path / "empty").mkdir()
    server = EmbeddedTriton(tmp_path / "empty")
    with server:
        pid = server.pid
        assert pid is not None and server.is_ready()
    server.stop()
    assert not _alive(pid) and not server.is_ready()


def test_server_dies_with_a_killed_parent(tmp_path):
    """SIGKILL of the Python process that started it (no atexit runs) must not leave an orphan."""
    (tmp_path / "empty").mkdir()
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from linecheck.serving.triton.embedded import EmbeddedTriton
        server = EmbeddedTriton(Path({str(tmp_path / "empty")!r})).start()
        print(server.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        server_pid = int(parent.stdout.readline())
        assert _alive(server_pid)
    finally:
        parent.kill()
        parent.wait()
    assert _wait_gone([server_pid]) == [], "tritonserver outlived its killed parent"


@pytest.fixture
def cli_registry(tmp_path):
    reg = Registry(tmp_path / "registry")
    register_tiny(reg, "textile")
    return reg


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_ctrl_c_or_sigterm_then_stops_cleanly(tmp_path, cli_registry, sig):
    repo = tmp_path / "repo"
    ports = [str(free_port()) for _ in range(3)]
    cmd = [
        str(LINECHECK), "serve", "triton", "--registry", str(cli_registry.root), "--repository", str(repo),
        "--grpc-port", ports[0], "--http-port", ports[1], "--metrics-port", ports[2],
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ready:"):
                break
        assert lines and lines[-1].startswith("ready:"), "".join(lines) + proc.stderr.read()
        assert f"127.0.0.1:{ports[0]}" in lines[-1] and f"http://127.0.0.1:{ports[2]}/metrics" in lines[-1]
        servers = _processes_mentioning(str(repo))
        assert any("tritonserver" in Path(f"/proc/{p}/cmdline").read_text() for p in servers)
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            stacks = stacks_then_kill(proc)[-8000:]
            pytest.fail(f"serve triton still running 60 s after {sig!r}; its threads:\n{stacks}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "[triton]" in err, "server log lines are forwarded"
    assert _wait_gone(servers) == []


def test_cli_build_only_and_gpu_flavour_print_what_to_run(tmp_path, cli_registry):
    runner = CliRunner()
    base = ["serve", "triton", "--registry", str(cli_registry.root), "--repository", str(tmp_path / "repo")]
    result = runner.invoke(app, [*base, "--build-only"])
    assert result.exit_code == 0, result.output
    assert "textile" in result.output and (tmp_path / "repo" / "textile" / "config.pbtxt").is_file()
    result = runner.invoke(app, [*base, "--flavor", "gpu", "--models", "textile"])
    assert result.exit_code == 0, result.output
    assert "docker run --gpus all" in result.output
    assert f"{(tmp_path / 'repo').resolve()}:/models" in result.output
    assert "--load-model=textile" in result.output
    assert 'platform: "onnxruntime_onnx"' in (tmp_path / "repo" / "textile" / "config.pbtxt").read_text()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--models", "glass"], "'glass' is not in the registry"),
        (["--stage", "staging"], "no version at stage"),
    ],
)
def test_cli_reports_registry_problems(tmp_path, cli_registry, args, match):
    result = CliRunner().invoke(
        app,
        ["serve", "triton", "--registry", str(cli_registry.root), "--repository", str(tmp_path / "r"), *args],
    )
    assert result.exit_code == 2
    assert match in result.output
