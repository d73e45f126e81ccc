"""Settings of the test harness: which real servers and browser the tests use (``LINECHECK_TEST_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from linecheck.settings_env import ServiceSettings, read_settings


class HarnessSettings(ServiceSettings):
    """Where the tests find PostgreSQL and headless Chromium."""

    model_config = SettingsConfigDict(env_prefix="LINECHECK_TEST_")
    env_title: ClassVar[str] = "Tests"

    postgres_url: str | None = Field(
        None, description="PostgreSQL server for the store tests; unset: try the local defaults"
    )
    chromium: Path = Field(Path("/usr/bin/chromium"), description="browser for the review-page tests")
    chromedriver: Path = Field(Path("/usr/bin/chromedriver"), description="its ChromeDriver")


@lru_cache(maxsize=1)
def get_harness_settings() -> HarnessSettings:
    """Return the process-wide :class:`HarnessSettings` (read once from the environment)."""
    return read_settings(HarnessSettings)
