"""Valid inspection bodies per line kind, to be modified by each test (a test sees what it changes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def textile(code: str = "RL0000000042", *, at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid textile inspection with one stain at 6.12 m."""
    body: dict[str, Any] = {
        "id": new_id(),
        "line_id": "textile-01",
        "station": "cam1",
        "code": code,
        "code_status": "trigger",
        "captured_at": (at or T0).isoformat(),
        "model_name": "textile",
        "model_version": "1",
        "verdict": "fail",
        "latency_ms": 12.5,
        "frame_seq": 12,
        "image_width": 640,
        "image_height": 640,
        "image_ref": None,
        "roll_offset_m": 6.0,
        "defects": [
            {
                "class_name": "stain",
                "confidence": 0.91,
                "bbox": [10, 20, 50, 60],
                "location": {"along_m": 6.12, "across_m": 0.33, "length_m": 0.02, "width_m": 0.01},
                "crop_ref": None,
            }
        ],
    }
    body.update(overrides)
    return body


def pv(
    code: str = "PV000000000001", cells: list[tuple[str, int, int]] | None = None, **overrides: Any
) -> dict[str, Any]:
    defects = [
        {"class_name": c, "confidence": 0.8, "bbox": [1, 1, 20, 20], "location": {"row": r, "col": k}}
        for c, r, k in (cells or [])
    ]
    body = textile(
        line_id="pv-01",
        station="el",
        code=code,
        code_status="read",
        model_name="pv",
        roll_offset_m=None,
        verdict="fail" if defects else "pass",
        defects=defects,
    )
    body.update(overrides)
    return body


def bearing(
    code: str = "BR0000000007", defects: list[tuple[str, str]] | None = None, **overrides: Any
) -> dict[str, Any]:
    items = [
        {"class_name": c, "confidence": 0.7, "bbox": [5, 5, 30, 30], "location": {"zone": z}}
        for c, z in defects or []
    ]
    body = textile(
        line_id="bearing-01",
        station="face",
        code=code,
        code_status="read",
        model_name="bearing",
        roll_offset_m=None,
        verdict="fail" if items else "pass",
        defects=items,
    )
    body.update(overrides)
    return body


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
