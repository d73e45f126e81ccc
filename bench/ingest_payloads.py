"""Inspection events as the line-side inspector sends them, for the ingest benchmark.

Events rotate over the three configured lines (textile-01, pv-01, bearing-01); each carries 0-5
defects (uniform) with the location its line kind expects, and a unit code: a textile roll is
``ROLL_FRAMES`` consecutive frames of one code, a ring or a module is one frame.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from linecheck.kinds import Kind, get_kind, make_code

LINES: tuple[tuple[str, Kind, str], ...] = (
    ("textile-01", Kind.TEXTILE, "cam1"),
    ("pv-01", Kind.PV, "el"),
    ("bearing-01", Kind.BEARING, "face"),
)
ROLL_FRAMES = 20
MAX_DEFECTS = 5
T0 = datetime(2026, 11, 23, 6, 0, 0, tzinfo=UTC)
_ZONES = ("bore", "inner_race", "outer_race", "face")


def _location(kind: Kind, rng: random.Random, offset_m: float) -> dict[str, Any]:
    if kind is Kind.TEXTILE:
        return {
            "along_m": round(offset_m + rng.uniform(0, 0.5), 3),
            "across_m": round(rng.uniform(0, 1.6), 3),
            "length_m": round(rng.uniform(0.005, 0.1), 3),
            "width_m": round(rng.uniform(0.005, 0.05), 3),
        }
    if kind is Kind.PV:
        return {"row": rng.randrange(6), "col": rng.randrange(10)}
    return {"zone": rng.choice(_ZONES)}


def _defect(kind: Kind, rng: random.Random, offset_m: float) -> dict[str, Any]:
    x1, y1 = rng.uniform(0, 560), rng.uniform(0, 560)
    x2, y2 = x1 + rng.uniform(4, 80), y1 + rng.uniform(4, 80)
    return {
        "class_name": rng.choice(get_kind(kind).classes),
        "confidence": round(rng.uniform(0.3, 0.99), 4),
        "bbox": [round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)],
        "location": _location(kind, rng, offset_m),
        "crop_ref": None,
    }


def event(index: int, rng: random.Random) -> dict[str, Any]:
    """The ``index``-th event of the stream (lines take turns)."""
    line_id, kind, station = LINES[index % len(LINES)]
    per_line = index // len(LINES)
    frame = per_line % ROLL_FRAMES if kind is Kind.TEXTILE else 0
    serial = per_line // ROLL_FRAMES if kind is Kind.TEXTILE else per_line
    offset_m = frame * 0.5 if kind is Kind.TEXTILE else 0.0
    defects = [_defect(kind, rng, offset_m) for _ in range(rng.randint(0, MAX_DEFECTS))]
    return {
        "id": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
        "line_id": line_id,
        "station": station,
        "code": make_code(kind, serial + 1),
        "code_status": "trigger" if kind is Kind.TEXTILE else "read",
        "captured_at": (T0 + timedelta(milliseconds=50 * index)).isoformat(timespec="milliseconds"),
        "model_name": kind.value,
        "model_version": "1",
        "verdict": "fail" if defects else "pass",
        "reason": None,
        "latency_ms": round(rng.uniform(5, 40), 2),
        "frame_seq": per_line,
        "image_width": 640,
        "image_height": 640,
        "image_ref": None,
        "roll_offset_m": offset_m if kind is Kind.TEXTILE else None,
        "defects": defects,
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class Request:
    """One POST body, ready to send, and what it holds."""

    body: bytes
    events: int
    defects: int
    resend: bool = False


def requests(count: int, batch: int, seed: int) -> list[Request]:
    """``count`` events in POST bodies of ``batch`` (a single inspection when ``batch`` is 1)."""
    rng = random.Random(seed)
    out: list[Request] = []
    for start in range(0, count, batch):
        items = [event(i, rng) for i in range(start, min(start + batch, count))]
        payload: Any = items[0] if batch == 1 else {"inspections": items}
        out.append(
            Request(
                body=json.dumps(payload).encode(),
                events=len(items),
                defects=sum(len(item["defects"]) for item in items),
            )
        )
    return out


def unit_codes(count: int) -> int:
    """How many distinct unit codes ``count`` events name."""
    codes: set[str] = set()
    for index in range(count):
        _, kind, _ = LINES[index % len(LINES)]
        per_line = index // len(LINES)
        serial = per_line // ROLL_FRAMES if kind is Kind.TEXTILE else per_line
        codes.add(make_code(kind, serial + 1))
    return len(codes)
