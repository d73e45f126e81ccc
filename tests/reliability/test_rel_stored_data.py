"""Reads never fail because of stored data.

Rows are written below the API, through the repository layer, with values the API refuses at its
door (so older versions, scripts or repairs could have left them): non-finite numbers in float and
JSON columns, NUL and control characters, offsets that are not ``+HH:MM`` within +-14:00, times at
the calendar limits. Every read of them answers 200 with strict JSON, and the EPCIS export of every
code involved validates against GS1's schema.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from rel_epcis import schema_errors, strict_json
from rel_helpers import Served, auth

from linecheck.serving.store.db import Database
from linecheck.serving.store.models import Defect, utcnow
from linecheck.serving.store.repositories import events as event_repo
from linecheck.serving.store.repositories import genealogy as genealogy_repo
from linecheck.serving.store.repositories import inspections as inspection_repo
from linecheck.serving.store.repositories import reviews as review_repo

NAN, INF = math.nan, math.inf
ROLL, LOT, BOX = "RL0000000901", "LOT-901", "BOX-901"


def _awkward(dialect: str) -> dict[str, Any]:
    """Values each database accepts below the API (PostgreSQL refuses NUL in text and NaN in JSONB)."""
    if dialect == "sqlite":
        return {
            "text": "nul\x00bell\x07esc\x1b[31m",
            "json": {"x": NAN, "y": [INF, -INF], "z\x00": "\x07", "deep": {"n": NAN}},
            "float": INF,  # SQLite stores NaN in a REAL column as NULL, but keeps infinities
        }
    return {
        "text": "bell\x07esc\x1b[31m\x7f",
        "json": {"x": 1e308, "y": [-1e308], "z\x07": "\x1b", "deep": {"n": 2**70}},
        "float": NAN,
    }


def _seed(url: str) -> dict[str, Any]:
    db = Database.from_url(url)
    awkward = _awkward(db.dialect)
    ids = {"not_inspected": uuid.uuid4().hex, "fail": uuid.uuid4().hex}
    start, end = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    try:
        with db.writer() as session:
            now = utcnow()
            inspection_repo.insert_units(
                session, [{"code": ROLL, "kind": "textile", "line_id": "textile-01", "created_at": now}]
            )
            base = {
                "code": ROLL,
                "code_status": "trigger",
                "line_id": "textile-01",
                "station": "cam1",
                "model_name": "textile",
                "model_version": "1",
                "frame_seq": 1,
                "image_width": 640,
                "image_height": 640,
                "image_ref": None,
                "content_hash": "0" * 64,
                "created_at": now,
                "created_by": "key:seed",
                "code_assigned_by": None,
                "code_assigned_at": None,
            }
            inspection_repo.insert_inspections(
                session,
                [
                    {
                        **base,
                        "id": ids["not_inspected"],
                        "captured_at": start,
                        "captured_tz": "+23:59",
                        "verdict": "not_inspected",
                        "reason": awkward["text"],
                        "latency_ms": awkward["float"],
                        "roll_offset_m": awkward["float"],
                        "defect_count": 0,
                    },
                    {
                        **base,
                        "id": ids["fail"],
                        "captured_at": end,
                        "captured_tz": "bad",
                        "verdict": "fail",
                        "reason": None,
                        "latency_ms": -awkward["float"],
                        "roll_offset_m": None,
                        "defect_count": 1,
                    },
                ],
            )
            inspection_repo.insert_defects(
                session,
                [
                    {
                        "inspection_id": ids["fail"],
                        "line_id": "textile-01",
                        "captured_at": end,
                        "class_name": "stain",
                        "final_class": "stain",
                        "confidence": awkward["float"],
                        "x1": 1.0,
                        "y1": 1.0,
                        "x2": awkward["float"],
                        "y2": 9.0,
                        "location": {"along_m": awkward["json"]["x"], **awkward["json"]},
                        "location_key": awkward["text"][:32],
                        "along_m": awkward["float"],
                        "size_m": awkward["float"],
                        "crop_ref": None,
                        "review_state": "pending",
                        "reviewed_at": None,
                    }
                ],
            )
            defect = session.query(Defect).filter(Defect.inspection_id == ids["fail"]).one()
            review_repo.add_review(
                session,
                defect,
                decision="confirm",
                new_class=None,
                reviewer="key:seed",
                at=end,
                comment=awkward["text"],
            )
            for parent, child, relation, at in (
                (ROLL, LOT, "made_from", start),
                (BOX, ROLL, "packed_in", end),
            ):
                genealogy_repo.add_link(
                    session,
                    parent=parent,
                    child=child,
                    relation=relation,
                    at=at,
                    at_tz="-99:99",
                    actor="key:seed",
                )
            for code, at in ((ROLL, start), (BOX, end), (LOT, end)):
                event_repo.add_event(
                    session,
                    code=code,
                    type="processed",
                    at=at,
                    at_tz="+14:01",
                    line_id=awkward["text"][:60],
                    location=awkward["text"],
                    detail=awkward["json"],
                    actor="key:seed",
                )
            session.commit()
    finally:
        db.dispose()
    return ids


def test_reads_of_awkward_stored_rows_answer_strict_json(served: Served) -> None:
    ids = _seed(served.url)
    viewer = auth(served.keys["viewer"])
    paths = [
        *(f"/v1/trace/{code}" for code in (ROLL, LOT, BOX)),
        f"/v1/units/{ROLL}",
        f"/v1/units/{ROLL}/grade",
        *(f"/v1/inspections/{i}" for i in ids.values()),
        "/v1/inspections?limit=500",
        "/v1/review/queue?state=all",
        "/v1/lines/textile-01/stats",
    ]
    with httpx.Client(base_url=served.base, headers=viewer, timeout=30) as http:
        for path in paths:
            answer = http.get(path)
            assert answer.status_code == 200, (path, answer.text[:1000])
            strict_json(answer.text)
        trace = http.get(f"/v1/trace/{ROLL}").json()
        assert [i["id"] for i in trace["inspections"]] == [ids["not_inspected"], ids["fail"]]
        assert len(trace["events"]) == 3 and len(trace["genealogy"]["children"]) == 1


def test_epcis_export_of_awkward_stored_rows_validates(served: Served) -> None:
    _seed(served.url)
    with httpx.Client(base_url=served.base, headers=auth(served.keys["viewer"]), timeout=30) as http:
        for code in (ROLL, LOT, BOX):
            answer = http.get(f"/v1/trace/{code}/epcis")
            assert answer.status_code == 200, (code, answer.text[:1000])
            document = strict_json(answer.text)
            assert schema_errors(document) == [], code
            events = document["epcisBody"]["eventList"]
            # every stored offset is out of range or malformed: exported as UTC rather than dropped
            assert {e["eventTimeZoneOffset"] for e in events} == {"+00:00"}
            assert len({e["eventID"] for e in events}) == len(events)


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_non_finite_detail_values_read_back_as_their_names(served: Served, value: float) -> None:
    db = Database.from_url(served.url)
    if db.dialect != "sqlite":
        db.dispose()
        pytest.skip("PostgreSQL's JSONB cannot hold non-finite numbers")
    try:
        with db.writer() as session:
            event_repo.add_event(
                session,
                code=LOT,
                type="received",
                at=utcnow(),
                at_tz="+00:00",
                line_id=None,
                location=None,
                detail={"x": value},
                actor="key:seed",
            )
            session.commit()
    finally:
        db.dispose()
    answer = httpx.get(f"{served.base}/v1/trace/{LOT}", headers=auth(served.keys["viewer"]))
    assert answer.status_code == 200
    assert strict_json(answer.text)["events"][0]["detail"] == {
        "x": str(value).replace("inf", "Infinity").replace("nan", "NaN")
    }
