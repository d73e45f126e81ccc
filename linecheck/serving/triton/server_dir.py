"""The files the bundled Triton server needs, assembled once under ``var/triton/server``.

``nvidia-pytriton`` ships ``tritonserver`` and the Python backend, with the backend's stub for
each Python version in a side folder. The server wants ``backends/python/`` holding the backend
library, its utilities and *the* stub; :func:`prepare_server_dir` builds that folder (a copy,
under a lock, rebuilt when the wheel or Python version changes) and says where everything is.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from linecheck.errors import ConfigError


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerLayout:
    """Files needed to run the bundled server."""

    binary: Path
    backend_dir: Path
    libs_dir: Path


def _pytriton_dir() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the embedded Triton server needs the 'nvidia-pytriton' package; it is not installed"
        )
    return Path(spec.origin).parent


def prepare_server_dir(server_dir: Path) -> ServerLayout:
    """Assemble (once) a backend directory for the bundled server under ``server_dir``.

    ``backends/python/`` gets the Python backend library and utilities plus the stub built for
    this interpreter's Python version. A stamp file records the wheel and Python versions; the
    directory is rebuilt when either changes.

    Raises:
        ConfigError: nvidia-pytriton is missing or has no stub for this Python version.

    """
    package = _pytriton_dir()
    bundled = package / "tritonserver"
    libs_dir = package.parent / "nvidia_pytriton.libs"
    binary = bundled / "bin" / "tritonserver"
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = bundled / "python_backend_stubs" / py / "triton_python_backend_stub"
    for needed in (binary, stub, bundled / "backends" / "python" / "libtriton_python.so"):
        if not needed.is_file():
            raise ConfigError(
                f"nvidia-pytriton at {package} lacks {needed.relative_to(package)} (Python {py})"
            )
    stamp_text = f"nvidia-pytriton {importlib.metadata.version('nvidia-pytriton')} python {py}\n"
    backend_dir = server_dir / "backends"
    stamp = server_dir / "STAMP"
    layout = ServerLayout(binary=binary, backend_dir=backend_dir, libs_dir=libs_dir)

    def prepared() -> bool:
        return (
            stamp.is_file()
            and stamp.read_text() == stamp_text
            and (backend_dir / "python" / stub.name).is_file()
        )

    if prepared():
        return layout
    server_dir.mkdir(parents=True, exist_ok=True)
    with (server_dir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be preparing the same folder
        if not prepared():
            _assemble_backends(bundled, stub, server_dir, backend_dir)
            stamp.write_text(stamp_text)
    return layout


def _assemble_backends(bundled: Path, stub: Path, server_dir: Path, backend_dir: Path) -> None:
    staging = server_dir / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(bundled / "backends", staging, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(stub, staging / "python" / stub.name)
    old = server_dir / f".old-{os.getpid()}"
    if backend_dir.exists():
        backend_dir.replace(old)
    staging.replace(backend_dir)
    shutil.rmtree(old, ignore_errors=True)
