"""``ApiSettings``: everything the API reads from the environment (prefix ``LINECHECK_API_``)."""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from linecheck.config import PROJECT_ROOT, DirectorySetting
from linecheck.serving.store.db import sqlite_url
from linecheck.settings_env import ServiceSettings, read_settings, shown


class ApiSettings(ServiceSettings):
    """Settings of the traceability API; ``LINECHECK_API_DATABASE_URL`` etc. override the defaults.

    ``data_dir`` and ``lines_dir`` are the shared ``LINECHECK_DATA_DIR`` and ``LINECHECK_LINES_DIR``.
    """

    model_config = SettingsConfigDict(env_prefix="LINECHECK_API_")
    env_title: ClassVar[str] = "Traceability API (`linecheck serve api`, `linecheck db`, `keys`, `lines`)"

    data_dir: DirectorySetting = Field(
        PROJECT_ROOT / "var",
        validation_alias="LINECHECK_DATA_DIR",
        description="SQLite file and images live here by default",
    )
    lines_dir: DirectorySetting = Field(
        PROJECT_ROOT / "configs" / "lines",
        validation_alias="LINECHECK_LINES_DIR",
        description="line YAML files synced at start",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL the API serves requests with; default: SQLite at "
        "<data_dir>/linecheck.db. On PostgreSQL, a least-privilege role (see owner_database_url)",
    )
    owner_database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the role owning the tables (PostgreSQL): migrations, grants and "
        "line sync at start, and `linecheck db` / `keys` / `lines`, run as it; default: database_url",
    )
    images_dir: Path | None = Field(None, description="image store root; default: <data_dir>/images")
    migrate_on_start: bool = Field(True, description="run `alembic upgrade head` when the API starts")
    sync_lines_on_start: bool = Field(True, description="upsert configs/lines/*.yaml into the store at start")
    host: str = Field("127.0.0.1", description="bind address of `linecheck serve api`")
    port: int = Field(8000, ge=0, le=65535, description="port of `linecheck serve api`")
    ssl_certfile: Path | None = Field(
        None, description="PEM certificate (chain) `linecheck serve api` serves HTTPS with (with ssl_keyfile)"
    )
    ssl_keyfile: Path | None = Field(None, description="PEM private key of ssl_certfile")
    root_path: str = Field(
        "",
        description="path prefix the API is served under behind a reverse proxy (/linecheck: the docs, the "
        "QA pages and their API calls use it; requests are answered with or without it)",
    )
    max_batch: int = Field(500, ge=1, le=5000, description="most inspections in one POST")
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0, description="largest request body accepted")
    max_image_bytes: int = Field(20 * 1024 * 1024, gt=0, description="largest image upload accepted")
    sqlite_busy_timeout_ms: int = Field(15000, ge=0, description="how long SQLite waits on a locked database")
    db_pool_size: int = Field(10, ge=1, description="database connections per API process")
    rate_limit_per_s: float = Field(
        200.0,
        ge=0,
        description="requests per second one API key may make (token bucket in this process; 0: no limit)",
    )
    rate_limit_burst: int = Field(
        400, ge=1, description="requests one key may make at once before the rate applies"
    )
    key_cache_seconds: float = Field(
        10.0,
        ge=0,
        le=600,
        description="how long a verified key is trusted in memory: a revoked key keeps working at most this "
        "long on each API process (0: the store is asked on every request; at most 600)",
    )
    auth_failure_rate_per_s: float = Field(
        1.0,
        ge=0,
        description="failed authentications per second one client address may make; beyond the burst it gets "
        "429 with Retry-After (token bucket in this process; 0: no limit)",
    )
    auth_failure_burst: int = Field(
        20, ge=1, description="failed authentications one client address may make before the rate applies"
    )
    line_cache_seconds: float = Field(10.0, ge=0, description="how long line configs are cached in memory")
    shift_starts: list[time] = Field(
        default_factory=lambda: [time(6), time(14), time(22)], description="shift start times, local"
    )
    shift_timezone: str = Field("UTC", description="IANA zone the shift start times are in")
    stats_idle_gap_s: float = Field(
        300.0,
        gt=0,
        description="a gap between frames longer than this is a stop (throughput counts running time)",
    )
    epcis_base_uri: str = Field(
        "urn:linecheck:", description="prefix of the URIs given to codes, lines and extension fields in EPCIS"
    )
    trace_max_depth: int = Field(10, ge=0, description="genealogy levels followed up and down")
    min_free_disk_mb: int = Field(
        256,
        ge=0,
        description="/readyz answers 507 when the SQLite database's or the image store's filesystem has less "
        "free space than this, in MiB (0: no check)",
    )
    image_retention_pass_days: int | None = Field(
        None,
        ge=1,
        description="days the full frame of an inspection judged pass with no defect is kept after its "
        "capture, then deleted (the record stays); unset: kept for ever",
    )
    image_retention_defect_days: int | None = Field(
        None,
        ge=1,
        description="days every other frame (fail, not_inspected, or with a defect) and every defect crop "
        "and heat map is kept after capture; unset: kept for ever. At least the pass days. Images of "
        "pending defects, unread codes and golden samples are never deleted",
    )
    image_prune_interval_s: float = Field(
        3600.0,
        ge=0,
        description="seconds between image retention runs inside the API when a retention is set (0: none in "
        "the API; run `linecheck db prune-images` instead)",
    )
    image_prune_batch: int = Field(
        500, ge=1, le=5000, description="images decided per transaction by an image retention run"
    )

    @field_validator("shift_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not a known IANA time zone") from None
        return value

    @field_validator("root_path")
    @classmethod
    def _path_prefix(cls, value: str) -> str:
        if value and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError("expected '' or a path such as /linecheck (no trailing slash, no query)")
        return value

    @field_validator("epcis_base_uri")
    @classmethod
    def _uri_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S*", value):
            raise ValueError("expected a URI prefix such as urn:acme: or https://id.acme.com/")
        return value

    @field_validator("shift_starts")
    @classmethod
    def _sorted_shifts(cls, value: list[time]) -> list[time]:
        if not value:
            raise ValueError("expected at least one start time")
        return sorted(set(value))

    @field_validator("ssl_certfile", "ssl_keyfile")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("no such file")
        return value

    @model_validator(mode="after")
    def _certificate_and_key(self) -> ApiSettings:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError(
                f"{shown(self, 'ssl_certfile')}, {shown(self, 'ssl_keyfile')}: HTTPS needs both, or neither"
            )
        return self

    @model_validator(mode="after")
    def _defect_images_outlive_pass_frames(self) -> ApiSettings:
        passed, defect = self.image_retention_pass_days, self.image_retention_defect_days
        if passed is not None and defect is not None and defect < passed:
            raise ValueError(
                f"{shown(self, 'image_retention_defect_days')} is shorter than "
                f"{shown(self, 'image_retention_pass_days')}: the images of defects are kept at least as "
                "long as pass frames"
            )
        return self

    def resolved_database_url(self) -> str:
        """The database URL to use."""
        return self.database_url or sqlite_url(self.data_dir / "linecheck.db")

    def resolved_owner_database_url(self) -> str:
        """The database URL migrations and administration use (the tables' owner)."""
        return self.owner_database_url or self.resolved_database_url()

    def resolved_images_dir(self) -> Path:
        """The image store root to use."""
        return self.images_dir or self.data_dir / "images"


@lru_cache(maxsize=1)
def get_api_settings() -> ApiSettings:
    """The process-wide settings, read once from the environment."""
    return read_settings(ApiSettings)
