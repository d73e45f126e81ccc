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


@pytest.fixture(scope="session", autouse=True)
def demo_models(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoWarmup | None]:
    """The demo's trained models, training in a child process from the session's start when a selected
    test needs them (tests/lc_demo_warmup.py); None otherwise."""
    if not any(FIXTURES & set(getattr(item, "fixturenames", ())) for item in request.session.items):
        yield None
        return
    warmup = DemoWarmup(tmp_path_factory.mktemp("demo-models"))
    try:
        yield warmup
    finally:
        warmup.close()
