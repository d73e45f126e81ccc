"""Fixtures of the inspector tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from insp_helpers import LiveApi
from lc_demo_warmup import DemoWarmup

from linecheck.config import LineConfig, load_lines
from linecheck.inspect.settings import InspectorSettings
from linecheck.serving.api.testing import free_port
from linecheck.serving.store.testing import copy_sqlite, migrated_sqlite_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lines() -> dict[str, LineConfig]:
    return load_lines(ROOT / "configs" / "lines")


@pytest.fixture()
def settings(tmp_path: Path) -> InspectorSettings:
    return InspectorSettings(
        inspector_dir=tmp_path / "inspector",
        api_url="http://127.0.0.1:9",
        max_delay_ms=5,
        reconnect_min_s=0.1,
        reconnect_max_s=0.4,
        retry_min_s=0.1,
        retry_max_s=0.5,
        send_interval_s=0.05,
        queue_wait_s=1.0,
    )


@pytest.fixture(scope="session")
def api_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("insp-api-template"))


@pytest.fixture()
def live_api(api_template: Path, tmp_path: Path) -> Iterator[LiveApi]:
    """A real API on a fresh SQLite file, started; stopped at the end whatever the test did."""
    db_url = copy_sqlite(api_template, tmp_path / "api" / "linecheck.db")
    api = LiveApi(db_url, tmp_path / "api", free_port())
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="session")
def demo_anomaly_cache(demo_models: DemoWarmup | None) -> Path:
    """The demo's anomaly model for seed 1, trained once per session: a demo workdir's ``anomaly/``.

    Copy it into a test's demo workdir (``shutil.copytree``) and the demo reuses it instead of training.
    It trains in the background from the session's start (tests/lc_demo_warmup.py).
    """
    assert demo_models is not None
    return demo_models.wait() / "anomaly"


@pytest.fixture(scope="session")
def demo_cells_cache(demo_models: DemoWarmup | None) -> Path:
    """The demo's PV cell classifier for seed 1, trained once per session: a demo workdir's ``cells/``.

    Copy it into a test's demo workdir (``shutil.copytree``) and the demo reuses it instead of training.
    It trains in the background from the session's start (tests/lc_demo_warmup.py).
    """
    assert demo_models is not None
    return demo_models.wait() / "cells"
