"""The line registry: line configs from YAML synced into the store, cached in memory for validation."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from linecheck.config import LineConfig, load_line, load_lines
from linecheck.errors import InvalidFieldError, NotFoundError
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories import lines as line_repo

_MISS_RELOAD_S = 1.0


def sync_lines(db: Database, directory: Path) -> list[str]:
    """Upsert every ``*.yaml`` line config in ``directory`` into the store; return their ids."""
    configs = load_lines(directory)
    with db.writer() as session:
        for line_id, config in configs.items():
            line_repo.upsert_line(session, config, actor=f"config:{directory / (line_id + '.yaml')}")
        session.commit()
    return sorted(configs)


def add_line_file(db: Database, path: Path, *, actor: str = "cli") -> LineConfig:
    """Validate one line YAML file and upsert it into the store."""
    config = load_line(path)
    with db.writer() as session:
        line_repo.upsert_line(session, config, actor=f"{actor}:{path}")
        session.commit()
    return config


class LineRegistry:
    """Line configs from the store, reloaded every ``ttl_s`` seconds or when an unknown id is asked for."""

    def __init__(self, db: Database, *, ttl_s: float) -> None:
        self._db = db
        self._ttl = ttl_s
        self._lines: dict[str, LineConfig] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def _reload(self) -> None:
        with self._db.reader() as session:
            rows = line_repo.list_lines(session)
        self._lines = {row.id: LineConfig.from_stored(row.config) for row in rows}
        self._loaded_at = time.monotonic()

    def get(self, line_id: str) -> LineConfig | None:
        """The config of ``line_id``, or None if no such line is registered."""
        with self._lock:
            age = time.monotonic() - self._loaded_at
            # An unknown id reloads at once (a line added by the CLI), but at most once a second.
            if age > self._ttl or (line_id not in self._lines and age > _MISS_RELOAD_S):
                self._reload()
            return self._lines.get(line_id)

    def require(self, line_id: str) -> LineConfig:
        """The config of ``line_id`` or :class:`NotFoundError`."""
        config = self.get(line_id)
        if config is None:
            raise NotFoundError(f"line_id={line_id!r} is not a registered line; known: {sorted(self._lines)}")
        return config

    def require_field(self, line_id: str, field: str = "line_id") -> LineConfig:
        """The config of ``line_id`` from a request body, or :class:`InvalidFieldError` naming ``field``."""
        config = self.get(line_id)
        if config is None:
            raise InvalidFieldError(field, line_id, f"not a registered line; known: {sorted(self.all())}")
        return config

    def all(self) -> dict[str, LineConfig]:
        """Every registered line."""
        with self._lock:
            if time.monotonic() - self._loaded_at > self._ttl:
                self._reload()
            return dict(self._lines)

    def invalidate(self) -> None:
        """Forget the cache (after a line was added through this process)."""
        with self._lock:
            self._loaded_at = float("-inf")
