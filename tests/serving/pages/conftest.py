"""Fixtures of the review-page tests: a seeded real API per module, and one headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from review_browser import require_browser, start_chrome
from review_seed import Stack, running_stack

from linecheck.serving.store.testing import migrated_sqlite_template


@pytest.fixture(scope="session")
def pages_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("pages-template"))


@pytest.fixture(scope="module")
def stack(pages_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real API on SQLite, seeded over HTTP; shared by the tests of one module (in order)."""
    with running_stack(pages_sqlite_template, tmp_path_factory.mktemp("pages-api")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_browser()
    driver = start_chrome(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()
