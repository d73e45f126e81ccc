"""Test-wide settings: Ultralytics stays offline and writes its settings inside var/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lc_demo_warmup import FIXTURES, DemoWarmup

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(ROOT / "var" / "ultralytics"))

# One real embedded Triton server per session, shared by every test folder that asks for it.
pytest_plugins = ["lc_triton_fixtures"]


def _needs_demo_models(item: pytest.Item) -> bool:
    return bool(FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """The tests of the demo's trained models run last: their training has the whole session to finish."""
    items[:] = [i for i in items if not _needs_demo_models(i)] + [i for i in items if _needs_demo_models(i)]


@pytest.fixture(scope="session")
def demo_models(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoWarmup | None]:
    """The demo's trained models, training in a child process (tests/lc_demo_warmup.py) when a selected test
    needs them; None otherwise. :func:`_warm_demo_models` starts it early."""
    if not any(_needs_demo_models(item) for item in request.session.items):
        yield None
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # xdist's workers share the run's temporary folder and one training
        warmup = DemoWarmup.shared(tmp_path_factory.getbasetemp().parent)
    else:
        warmup = DemoWarmup(tmp_path_factory.mktemp("demo-models"))
    try:
        yield warmup
    finally:
        warmup.close(others=bool(worker))


@pytest.fixture(autouse=True)
def _warm_demo_models(request: pytest.FixtureRequest) -> None:
    """Start the demo models' training at the first test past the benchmarks' smoke runs (CPU-heavy
    trainings of their own), so it runs beside the lighter tests that follow."""
    if "bench" not in request.node.path.parts:
        request.getfixturevalue("demo_models")
