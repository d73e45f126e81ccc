"""A large traceability store, written straight into the store's tables in big transactions.

``defects`` defects are spread over ``codes`` unit codes (a multinomial draw, so some codes have
none and a few have many) on the three configured lines. A textile roll has three inspections,
a ring or a module one; every code is packed into a box (a genealogy link; ten codes per box)
and has one ``processed`` process event, so a trace walks a real genealogy and event list.

Rows go in through SQLAlchemy Core ``executemany`` on the store's own ``Table`` objects (the
schema comes from the Alembic migrations, the column conversions from the models), never
through the API. The SQLite file is cached under ``var/bench/`` by size, seed and schema
revision, with the per-code defect counts next to it so look-ups can be checked.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Table

from linecheck.config import PROJECT_ROOT
from linecheck.kinds import Kind, get_kind, make_code
from linecheck.serving.api.services.lines import sync_lines
from linecheck.serving.store.db import Database, head_revision, sqlite_url, upgrade_head
from linecheck.serving.store.models import Defect, GenealogyLink, Inspection, ProcessEvent, Unit
from linecheck.serving.store.repositories.base import table_of

LINES_DIR = PROJECT_ROOT / "configs" / "lines"
LINES: tuple[tuple[str, Kind, str], ...] = (
    ("textile-01", Kind.TEXTILE, "cam1"),
    ("pv-01", Kind.PV, "el"),
    ("bearing-01", Kind.BEARING, "face"),
)
CODES_PER_BOX = 10
CHUNK_CODES = 20_000
T0 = datetime(2026, 1, 5, 6, 0, 0, tzinfo=UTC)
_ZONES = ("bore", "inner_race", "outer_race", "face")


@dataclass(frozen=True, kw_only=True)
class TraceStore:
    """A built store: its URL (and file, for SQLite) and how many defects each code has."""

    url: str
    codes: list[str]
    defect_counts: npt.NDArray[np.int64]
    path: Path | None = None


def code_of(index: int) -> tuple[str, str, Kind, str]:
    """(code, line id, kind, station) of code number ``index``: lines take turns."""
    line_id, kind, station = LINES[index % len(LINES)]
    return make_code(kind, index // len(LINES) + 1), line_id, kind, station


def _location(kind: Kind, rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """(location JSON, the indexed location columns the ingest service would derive)."""
    if kind is Kind.TEXTILE:
        along, across = float(rng.uniform(0, 20)), float(rng.uniform(0, 1.6))
        size = float(rng.uniform(0.005, 0.1))
        location = {"across_m": round(across, 3), "along_m": round(along, 3), "length_m": round(size, 3)}
        key = f"across:{int(across * 10) / 10:.1f}m"
        return location, {"location_key": key, "along_m": along, "size_m": size}
    if kind is Kind.PV:
        row, col = int(rng.integers(6)), int(rng.integers(10))
        return {"col": col, "row": row}, {
            "location_key": f"cell:r{row}c{col}",
            "cell_row": row,
            "cell_col": col,
        }
    zone = _ZONES[int(rng.integers(len(_ZONES)))]
    return {"zone": zone}, {"location_key": f"zone:{zone}", "zone": zone}


_DEFECT_NULLS = {"along_m": None, "size_m": None, "cell_row": None, "cell_col": None, "zone": None}


def _chunk_rows(
    first: int, last: int, counts: npt.NDArray[np.int64], rng: np.random.Generator
) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    """Rows of every table for codes ``first`` .. ``last - 1``, table by table (parents first)."""
    units, inspections, defects, links, events = [], [], [], [], []
    for index in range(first, last):
        code, line_id, kind, station = code_of(index)
        at = T0 + timedelta(seconds=30 * index)
        units.append({"code": code, "kind": kind.value, "line_id": line_id, "created_at": at})
        frames = 3 if kind is Kind.TEXTILE else 1
        n_defects = int(counts[index])
        per_frame = [n_defects // frames + (1 if f < n_defects % frames else 0) for f in range(frames)]
        for frame, n in enumerate(per_frame):
            inspection_id = f"bench{index:010d}f{frame}"
            captured = at + timedelta(seconds=frame)
            inspections.append(
                {
                    "id": inspection_id,
                    "code": code,
                    "code_status": "trigger" if kind is Kind.TEXTILE else "read",
                    "line_id": line_id,
                    "station": station,
                    "captured_at": captured,
                    "captured_tz": "+00:00",
                    "model_name": kind.value,
                    "model_version": "1",
                    "verdict": "fail" if n else "pass",
                    "reason": None,
                    "latency_ms": 12.5,
                    "frame_seq": index * 3 + frame,
                    "image_width": 640,
                    "image_height": 640,
                    "image_ref": None,
                    "roll_offset_m": frame * 0.5 if kind is Kind.TEXTILE else None,
                    "defect_count": n,
                    "content_hash": f"{index:064x}",
                    "created_at": captured,
                    "created_by": "bench",
                    "code_assigned_by": None,
                    "code_assigned_at": None,
                }
            )
            classes = get_kind(kind).classes
            for _ in range(n):
                x1, y1 = float(rng.uniform(0, 560)), float(rng.uniform(0, 560))
                location, columns = _location(kind, rng)
                name = classes[int(rng.integers(len(classes)))]
                defects.append(
                    {
                        "inspection_id": inspection_id,
                        "line_id": line_id,
                        "captured_at": captured,
                        "class_name": name,
                        "final_class": name,
                        "confidence": float(rng.uniform(0.3, 0.99)),
                        "x1": x1,
                        "y1": y1,
                        "x2": x1 + 40.0,
                        "y2": y1 + 30.0,
                        "location": location,
                        "crop_ref": None,
                        "review_state": "pending",
                        "reviewed_at": None,
                        **_DEFECT_NULLS,
                        **columns,
                    }
                )
        box = f"BOX{index // (CODES_PER_BOX * len(LINES)):08d}{line_id[:2].upper()}"
        links.append(
            {
                "parent_code": box,
                "child_code": code,
                "relation": "packed_in",
                "at": at + timedelta(hours=1),
                "created_at": at + timedelta(hours=1),
                "created_by": "bench",
            }
        )
        events.append(
            {
                "code": code,
                "type": "processed",
                "at": at,
                "at_tz": "+00:00",
                "line_id": line_id,
                "location": None,
                "detail": None,
                "created_at": at,
                "created_by": "bench",
            }
        )
    yield table_of(Unit), units
    yield table_of(Inspection), inspections
    yield table_of(Defect), defects
    yield table_of(GenealogyLink), links
    yield table_of(ProcessEvent), events


def fill(db: Database, counts: npt.NDArray[np.int64], seed: int, *, progress: bool = True) -> None:
    """Insert every code's rows (chunks of ``CHUNK_CODES`` codes, one transaction per chunk)."""
    rng = np.random.default_rng(seed + 1)
    total = len(counts)
    for first in range(0, total, CHUNK_CODES):
        last = min(total, first + CHUNK_CODES)
        with db.engine.begin() as conn:
            for table, rows in _chunk_rows(first, last, counts, rng):
                _insert(conn, table, rows)
        if progress:
            print(f"  ... {last}/{total} codes", flush=True)


def _insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(table.insert(), rows)


def defect_counts(defects: int, codes: int, seed: int) -> npt.NDArray[np.int64]:
    """How many defects each code gets: ``defects`` spread uniformly at random (sums exactly)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(defects, np.full(codes, 1.0 / codes)).astype(np.int64)


def cache_path(cache_dir: Path, defects: int, codes: int, seed: int) -> Path:
    """Cache file of a store of this size, seed and schema revision."""
    return cache_dir / f"trace-{defects}d-{codes}c-s{seed}-{head_revision()}.db"


def build_sqlite(
    cache_dir: Path, defects: int, codes: int, seed: int, *, rebuild: bool = False
) -> TraceStore:
    """The cached SQLite store of this size (built, migrated and analysed on first use)."""
    path = cache_path(cache_dir, defects, codes, seed)
    counts = defect_counts(defects, codes, seed)
    store = TraceStore(
        url=sqlite_url(path), path=path, codes=[code_of(i)[0] for i in range(codes)], defect_counts=counts
    )
    if path.is_file() and not rebuild:
        return store
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob(f"trace-{defects}d-{codes}c-s{seed}-*.db"):
        stale.unlink()  # the same store for an older schema revision
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    db = Database.from_url(sqlite_url(staging))
    try:
        upgrade_head(db.engine)
        sync_lines(db, LINES_DIR)
        fill(db, counts, seed)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
        staging.replace(path)
    finally:
        db.dispose()
        for leftover in (staging, Path(f"{staging}-wal"), Path(f"{staging}-shm")):
            leftover.unlink(missing_ok=True)
    return store


def copy_store(store: TraceStore, target: Path) -> TraceStore:
    """A working copy of ``store`` at ``target`` (the API writes keys and lines into it)."""
    if store.path is None:
        raise ValueError(f"store at {store.url} is not a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store.path, target)
    return TraceStore(
        url=sqlite_url(target), path=target, codes=store.codes, defect_counts=store.defect_counts
    )


def fill_database(url: str, defects: int, codes: int, seed: int) -> TraceStore:
    """Build the same store into an empty database at ``url`` (PostgreSQL; not cached)."""
    counts = defect_counts(defects, codes, seed)
    db = Database.from_url(url)
    try:
        upgrade_head(db.engine)
        sync_lines(db, LINES_DIR)
        fill(db, counts, seed)
        if db.dialect == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        db.dispose()
    return TraceStore(url=url, codes=[code_of(i)[0] for i in range(codes)], defect_counts=counts)
