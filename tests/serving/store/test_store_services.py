"""The write and read paths end to end on each backend: ingest, genealogy, events, review, trace, stats."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from linecheck.errors import ConflictError, InvalidFieldError, NotFoundError
from linecheck.serving.api.metrics import ApiMetrics
from linecheck.serving.api.schemas import GenealogyIn, InspectionIn, ProcessEventIn, ReviewIn
from linecheck.serving.api.services import records, review
from linecheck.serving.api.services.grades import grade_unit
from linecheck.serving.api.services.ingest import IngestService
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.stats import line_stats
from linecheck.serving.api.services.trace import trace_code
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import Defect, Inspection, Unit
from linecheck.serving.store.repositories.reviews import QueueFilter

T0 = datetime(2026, 11, 23, 10, tzinfo=UTC)
LINE_KEY = KeyInfo(id="k1", role="line", lines=("textile-01",))
REVIEWER = KeyInfo(id="k2", role="reviewer", lines=())


def _inspection(n: int, code: str = "RL0000000001", **extra: Any) -> InspectionIn:
    body: dict[str, Any] = {
        "id": f"insp-{n:04d}",
        "line_id": "textile-01",
        "station": "cam1",
        "code": code,
        "code_status": "trigger",
        "captured_at": T0 + timedelta(seconds=n),
        "model_name": "textile",
        "model_version": "3",
        "verdict": "fail",
        "image_width": 640,
        "image_height": 640,
        "roll_offset_m": 0.5 * n,
        "defects": [
            {
                "class_name": "knot",
                "confidence": 0.6,
                "bbox": [1, 2, 30, 40],
                "location": {"along_m": 0.5 * n + 0.1, "across_m": 1.05, "length_m": 0.05},
            }
        ],
    }
    body.update(extra)
    return InspectionIn.model_validate(body)


@pytest.fixture
def lines(db: Database) -> LineRegistry:
    return LineRegistry(db, ttl_s=60)


@pytest.fixture
def ingest(db: Database, lines: LineRegistry) -> IngestService:
    return IngestService(db, lines, ApiMetrics())


def _count(db: Database, model: Any) -> int:
    with db.reader() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_ingest_is_idempotent_and_atomic(db: Database, ingest: IngestService) -> None:
    items = [_inspection(n) for n in range(5)]
    assert [o.status for o in ingest.ingest(items[:3], LINE_KEY, batch=True)] == ["created"] * 3
    assert [o.status for o in ingest.ingest(items, LINE_KEY, batch=True)] == ["duplicate"] * 3 + [
        "created"
    ] * 2
    changed = _inspection(1, verdict="pass", defects=[])
    with pytest.raises(ConflictError) as info:
        ingest.ingest([_inspection(9), changed], LINE_KEY, batch=True)
    assert getattr(info.value, "fields", None) == [("inspections[1].id", "insp-0001")]
    bad = _inspection(10, code="RL1")
    with pytest.raises(InvalidFieldError):
        ingest.ingest([_inspection(11), bad], LINE_KEY, batch=True)
    assert (_count(db, Inspection), _count(db, Defect), _count(db, Unit)) == (5, 5, 1)


def test_large_batch_in_one_transaction(db: Database, ingest: IngestService) -> None:
    items = [_inspection(n, code=f"RL{n:010d}") for n in range(500)]
    outcomes = ingest.ingest(items, LINE_KEY, batch=True)
    assert sum(o.status == "created" for o in outcomes) == 500
    assert (_count(db, Inspection), _count(db, Defect), _count(db, Unit)) == (500, 500, 500)


def test_trace_review_and_grade(db: Database, ingest: IngestService, lines: LineRegistry) -> None:
    ingest.ingest([_inspection(n) for n in range(4)], LINE_KEY, batch=True)
    records.add_genealogy(
        db, GenealogyIn(parent="BOX-1", child="RL0000000001", relation="packed_in"), LINE_KEY
    )
    assert not records.add_genealogy(
        db, GenealogyIn(parent="BOX-1", child="RL0000000001", relation="packed_in"), LINE_KEY
    )
    event = ProcessEventIn(type="shipped", at=T0 + timedelta(hours=2))
    assert records.add_event(db, lines, "BOX-1", event, LINE_KEY)
    assert not records.add_event(db, lines, "BOX-1", event, LINE_KEY)
    queue = review.review_queue(db, QueueFilter(), limit=10, offset=0)
    assert queue.total == 4
    first = queue.items[0].defect.id
    review.review_defect(db, lines, first, ReviewIn(decision="reject"), REVIEWER)
    trace = trace_code(db, "RL0000000001", max_depth=5)
    assert [lk.parent for lk in trace.genealogy.parents] == ["BOX-1"]
    assert [e.type for e in trace.events] == ["shipped"]
    assert len(trace.inspections) == 4
    assert trace.inspections[-1].defects[0].reviews[0].reviewer == "key:k2"
    assert [(m.model_version, m.inspections) for m in trace.model_versions] == [("3", 4)]
    grade = grade_unit(db, lines, "RL0000000001")
    # 4 frames x 0.5 m: max offset 1.5 + 0.5 = 2.0 m; 0.05 m (1.97 in) knots score 1 pt each.
    # The queue is newest first, so the knot at 1.6 m was rejected; 0.1 and 0.6 m -> yard 0 (2 pts),
    # 1.1 m -> yard 1 (1 pt): total 3 points
    # 3 x 3600 / ((2.0 / 0.9144) yd x (1.6 / 0.0254) in) = 10800 / 137.78 = 78.39
    assert grade.detail["total_points"] == 3
    assert grade.detail["points_per_100yd2"] == pytest.approx(78.39, abs=0.01)
    assert (grade.grade, grade.defects_excluded) == ("rejected", 1)
    with pytest.raises(NotFoundError):
        trace_code(db, "RL9999999999", max_depth=5)


def test_stats_on_each_backend(db: Database, ingest: IngestService, lines: LineRegistry) -> None:
    ingest.ingest([_inspection(n, code=f"RL{n % 2:010d}") for n in range(6)], LINE_KEY, batch=True)
    stats = line_stats(
        db,
        lines,
        "textile-01",
        since=T0 - timedelta(hours=4),
        until=T0 + timedelta(hours=4),
        starts=[time(6), time(14)],
        zone="UTC",
    )
    morning = [s for s in stats.shifts if s.inspections]
    assert len(morning) == 1
    assert (morning[0].units, morning[0].failed_units, morning[0].defects_by_class) == (2, 2, {"knot": 6})
    assert morning[0].top_locations == [{"location": "across:1.0m", "defects": 6}]
    # six frames one second apart: 5 s of running time (the gaps, in SQL on each backend)
    assert morning[0].running_s == pytest.approx(5.0)
    assert stats.totals is not None and stats.totals.frames_per_hour == pytest.approx(6 * 3600 / 5.0)


def test_queue_counts_are_bounded(db: Database, ingest: IngestService) -> None:
    from linecheck.serving.store.repositories.inspections import InspectionFilter, count_inspections
    from linecheck.serving.store.repositories.reviews import count_queue

    ingest.ingest([_inspection(n) for n in range(5)], LINE_KEY, batch=True)
    with db.reader() as session:
        assert count_queue(session, QueueFilter(), cap=100) == 5
        assert count_queue(session, QueueFilter(), cap=2) == 3  # stops at cap + 1: "more than 2"
        assert count_inspections(session, InspectionFilter(line_id="textile-01"), cap=3) == 4
        assert count_inspections(session, InspectionFilter(line_id="pv-01"), cap=3) == 0
