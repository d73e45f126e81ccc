"""Databases and a real API server for the API benchmarks.

* :func:`sqlite_database` - a fresh SQLite file under ``var/bench/`` (removed afterwards).
* :func:`postgres_database` - a uniquely named database on the local PostgreSQL server, dropped
  afterwards (None when no server answers).
* :func:`api_server` - ``linecheck serve api`` (uvicorn) in its own process, as in production:
  the benchmark's clients do not share its interpreter or its GIL; per-key rate limit off.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from linecheck.serving.api.testing import run_api_process
from linecheck.serving.store.db import sqlite_url
from linecheck.serving.store.testing import find_postgres, temporary_postgres_database


@contextmanager
def sqlite_database(directory: Path) -> Iterator[str]:
    """URL of a new SQLite file in ``directory``; the directory is removed on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield sqlite_url(directory / "linecheck.db")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """URL of a new, uniquely named PostgreSQL database (dropped on exit), or None with no server."""
    server, why = find_postgres()
    if server is None:
        print(f"postgresql: not reachable ({why}); skipped")
        yield None
        return
    with temporary_postgres_database(server, prefix="linecheck_bench") as url:
        yield url


@contextmanager
def api_server(database_url: str, data_dir: Path, *, workers: int = 1) -> Iterator[tuple[str, int]]:
    """(base URL, pid) of ``linecheck serve api`` on ``database_url`` in a child process (stopped on exit).

    The per-key rate limit is switched off (``LINECHECK_API_RATE_LIMIT_PER_S=0``): a benchmark
    measures what the server can take, not what one key is allowed.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {"LINECHECK_API_RATE_LIMIT_PER_S": "0"}
    with run_api_process(database_url, data_dir, workers=workers, env=env) as (base_url, process):
        yield base_url, process.pid
