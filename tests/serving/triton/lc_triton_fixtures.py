"""Session fixtures for Triton tests: a real tiny model, a registry, frames, ONE embedded server.

A pytest plugin module, so other test folders can share the same server: with
``tests/serving/triton`` on ``pythonpath``, the root conftest lists
``pytest_plugins = ["lc_triton_fixtures"]`` (until then ``tests/serving/triton/conftest.py``
imports the fixtures for this folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from lc_tiny_model import REPO_OPTIONS, make_frames, register_tiny, tiny_onnx

from linecheck.model.registry import Registry
from linecheck.serving.triton.embedded import EmbeddedTriton
from linecheck.serving.triton.repository import build_repository


@pytest.fixture(scope="session")
def tiny_raw_onnx() -> Path:
    """ONNX graph with the raw YOLOv8 head output (B, 4 + 4, A)."""
    return tiny_onnx("raw")


@pytest.fixture(scope="session")
def tiny_nms_onnx() -> Path:
    """ONNX graph exported with NMS inside: (B, 300, 6)."""
    return tiny_onnx("nms")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, tiny_raw_onnx: Path, tiny_nms_onnx: Path) -> Registry:
    """A registry with ``textile`` (raw layout) and ``bearing`` (nms layout), both promoted."""
    reg = Registry(tmp_path_factory.mktemp("registry"))
    register_tiny(reg, "textile", layout="raw", kind="textile")
    register_tiny(reg, "bearing", layout="nms", kind="bearing")
    return reg


@pytest.fixture(scope="session")
def frames() -> list[np.ndarray]:
    """Six distinct generated BGR frames of different sizes."""
    return make_frames(6, seed=5)


@pytest.fixture(scope="session")
def triton_repository(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Path:
    """An embedded-flavour repository with textile (raw), bearing (nms) and pv (raw, for swaps)."""
    register_tiny(registry, "pv", layout="raw", kind="pv")
    repo = tmp_path_factory.mktemp("triton-repo")
    build_repository(registry, repo, REPO_OPTIONS, names=["textile", "bearing", "pv"])
    return repo


@pytest.fixture(scope="session")
def triton_server(
    triton_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmbeddedTriton]:
    """ONE real embedded Triton server for the whole session (free ports, stopped at the end)."""
    log = tmp_path_factory.mktemp("triton-log") / "tritonserver.log"
    with EmbeddedTriton(triton_repository, ["textile", "bearing", "pv"], log_file=log) as server:
        yield server
