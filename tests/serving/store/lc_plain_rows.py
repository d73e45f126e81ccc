"""Rows written as plain SQL, with the columns of an older revision (for migration tests)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

T = "2026-12-05 10:00:00.000000"


def inspection_rows(
    *, line_id: str, kind: str, code: str, inspection_id: str, station: str, code_status: str,
    size: int, defect_count: int,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """One line, its unit and one failed inspection: rows of ``lines``, ``units``, ``inspections``."""
    return {
        "lines": dict(id=line_id, kind=kind, name="", config="{}", created_at=T, updated_at=T, updated_by=""),
        "units": dict(code=code, kind=kind, line_id=line_id, created_at=T),
        "inspections": dict(
            id=inspection_id, code=code, code_status=code_status, line_id=line_id, station=station,
            captured_at=T, captured_tz="+00:00", verdict="fail", image_width=size, image_height=size,
            defect_count=defect_count, content_hash="0" * 64, created_at=T, created_by="key:seed",
        ),
    }  # fmt: skip


def insert_rows(conn: sa.Connection, rows: dict[str, dict[str, Any]]) -> None:
    """Insert one row per table, in the order given."""
    for table, values in rows.items():
        conn.execute(sa.table(table, *(sa.column(k) for k in values)).insert().values(**values))
