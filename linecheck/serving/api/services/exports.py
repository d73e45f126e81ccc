"""Exports: the defects of a period as CSV (streamed a page at a time, one short read per page)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories import reviews as review_repo
from linecheck.serving.store.repositories.actors import actor_names
from linecheck.serving.store.repositories.exports import defects_page

PAGE = 1000
COLUMNS = (
    "defect_id", "line_id", "station", "code", "captured_at", "model", "model_version", "source",
    "model_class", "final_class", "confidence", "review_state", "x1", "y1", "x2", "y2",
    "final_x1", "final_y1", "final_x2", "final_y2", "location_key", "location",
    "last_decision", "last_reviewer", "last_reviewer_name", "last_reviewed_at",
)  # fmt: skip


def _line(values: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


def defects_csv(
    db: Database, lines: LineRegistry, line_id: str, since: datetime, until: datetime
) -> Iterator[str]:
    """The header, then one CSV row per defect of ``line_id`` captured in [since, until)."""
    lines.require(line_id)
    yield _line(list(COLUMNS))
    after: tuple[datetime, int] | None = None
    while True:
        with db.reader() as session:
            rows = defects_page(session, line_id, since, until, after=after, limit=PAGE)
            history = review_repo.reviews_for_defects(session, [row.id for row in rows])
            names = actor_names(session, {found[-1].reviewer for found in history.values()})
        for row in rows:
            last = history.get(row.id, [None])[-1]
            final = row.final_bbox or [None] * 4
            yield _line(
                [
                    row.id, row.line_id, row.station, row.code or "", row.captured_at.isoformat(),
                    row.model_name or "", row.model_version or "", row.source, row.class_name,
                    row.final_class, f"{row.confidence:.4f}", row.review_state, row.x1, row.y1, row.x2,
                    row.y2, *final, row.location_key or "",
                    json.dumps(row.location, sort_keys=True) if row.location else "",
                    last.decision if last else "", last.reviewer if last else "",
                    names.get(last.reviewer, "") if last else "", last.at.isoformat() if last else "",
                ]
            )  # fmt: skip
        if len(rows) < PAGE:
            return
        after = (rows[-1].captured_at, rows[-1].id)
