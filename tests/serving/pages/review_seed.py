"""A real API on SQLite, seeded through its own endpoints with generated frames, crops and relations.

Used by the review-page browser tests and the from-reviews export tests. Everything is posted
over HTTP exactly as an inspector and a line system would (images, inspections, genealogy,
process events); nothing is written to the database behind the API's back.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

from linecheck.serving.api import testing as api_testing
from linecheck.serving.store.testing import copy_sqlite

TEXTILE_CODE = "RL0000000101"
PV_CODE = "PV000000000201"
#: The PLC job the module was inspected for: its MeasId and the encoder count at the trigger.
PV_TRIGGER = ("M-2026-0417", 52311)
BEARING_CODE = "BR0000000301"
LOT_CODE = "YARN-LOT-0042"
CARTON_CODE = "CARTON-0077"

# (class, confidence, bbox) per textile frame; frame i covers roll metres [0.5 i, 0.5 (i + 1)).
TEXTILE_FRAMES: list[list[tuple[str, float, tuple[int, int, int, int]]]] = [
    [("stain", 0.91, (60, 80, 110, 120))],
    [("hole", 0.62, (200, 40, 230, 70)), ("knot", 0.41, (40, 220, 70, 250))],
    [("broken_yarn", 0.55, (100, 10, 122, 300))],
    [],
]
# PV: (class, confidence, row, col) on a 6 x 10 module of 40 px cells.
PV_DEFECTS = [("crack", 0.83, 1, 2), ("dark_cell", 0.70, 4, 7)]
# Bearing: (class, confidence, zone, radius px, angle deg) on a 320 px frame (outer edge r = 150.4).
BEARING_DEFECTS = [("scratch", 0.77, "outer_race", 120.0, 45.0), ("rust", 0.66, "inner_race", 70.0, 180.0)]


@dataclass
class Stack:
    """The running API, its database, and one key per role."""

    base_url: str
    db_url: str
    data_dir: Path
    keys: dict[str, str]
    times: dict[str, datetime] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, path: str, who: str = "viewer", **params: Any) -> Any:
        response = httpx.get(f"{self.base_url}{path}", headers=self.headers(who), params=params, timeout=10)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def post(self, path: str, who: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.base_url}{path}", headers=self.headers(who), timeout=10, **kwargs)

    def key_id(self, who: str) -> str:
        return self.keys[who].split("_")[1]


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def textile_frame(rng: np.random.Generator, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """A 320 x 320 grey-fabric frame with a dark mark inside each box."""
    base = rng.normal(200, 6, (320, 320)).astype(np.float32)
    base[:, ::4] -= 18  # warp
    base[::4, :] -= 12  # weft
    image = cv2.cvtColor(np.clip(base, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    image[:, :, 0] = np.clip(image[:, :, 0].astype(np.int16) - 25, 0, 255).astype(np.uint8)
    for x1, y1, x2, y2 in boxes:
        cv2.ellipse(
            image,
            ((x1 + x2) // 2, (y1 + y2) // 2),
            ((x2 - x1) // 3, (y2 - y1) // 3),
            0,
            0,
            360,
            (60, 70, 80),
            -1,
        )
    return image


def pv_frame() -> np.ndarray:
    """A 400 x 240 electroluminescence image: 6 x 10 cells, one dark cell, one cracked cell."""
    image = np.full((240, 400), 150, np.uint8)
    for r in range(6):
        for c in range(10):
            image[r * 40 + 2 : r * 40 + 38, c * 40 + 2 : c * 40 + 38] = 190
    image[4 * 40 + 2 : 4 * 40 + 38, 7 * 40 + 2 : 7 * 40 + 38] = 70
    cv2.line(image, (85, 45), (115, 75), 60, 2)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)


def bearing_frame() -> np.ndarray:
    """A 320 x 320 ring face with a scratch on the outer race and rust on the inner race."""
    image = np.full((320, 320, 3), 25, np.uint8)
    cv2.circle(image, (160, 160), 150, (165, 165, 165), -1)
    cv2.circle(image, (160, 160), 96, (90, 90, 90), 3)
    cv2.circle(image, (160, 160), 42, (25, 25, 25), -1)
    cv2.line(image, (238, 238), (252, 252), (40, 40, 40), 2)
    cv2.circle(image, (90, 160), 8, (30, 60, 140), -1)
    return image


def _crop(image: np.ndarray, box: tuple[int, int, int, int], margin: int = 10) -> np.ndarray:
    x1, y1, x2, y2 = box
    h, w = image.shape[:2]
    return image[max(0, y1 - margin) : min(h, y2 + margin), max(0, x1 - margin) : min(w, x2 + margin)]


def _upload(stack: Stack, who: str, image: np.ndarray) -> str:
    response = httpx.post(
        f"{stack.base_url}/v1/images",
        content=_png(image),
        headers={**stack.headers(who), "Content-Type": "image/png"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["ref"])


def inspection_body(
    line_id: str, station: str, code: str, at: datetime, model: str, **extra: Any
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "line_id": line_id,
        "station": station,
        "code": code,
        "code_status": "trigger" if line_id.startswith("textile") else "read",
        "captured_at": at.isoformat(),
        "model_name": model,
        "model_version": "3",
        "latency_ms": 11.0,
        **extra,
    }


def _ingest(stack: Stack, who: str, body: dict[str, Any]) -> None:
    response = stack.post("/v1/inspections", who, json=body)
    assert response.status_code == 201, response.text


def seed(stack: Stack) -> None:
    """Post the textile roll, the PV module and the bearing ring with their frames and relations."""
    rng = np.random.default_rng(7)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    stack.times["start"] = start
    for i, defects in enumerate(TEXTILE_FRAMES):
        image = textile_frame(rng, [box for _, _, box in defects])
        body = inspection_body("textile-01", "cam1", TEXTILE_CODE, start + timedelta(minutes=i), "textile")
        body.update(
            frame_seq=i,
            image_width=320,
            image_height=320,
            image_ref=_upload(stack, "textile", image),
            roll_offset_m=0.5 * i,
            verdict="fail" if defects else "pass",
            defects=[
                {
                    "class_name": name,
                    "confidence": conf,
                    "bbox": list(box),
                    "location": {
                        "along_m": round(0.5 * i + (box[1] + box[3]) / 2 / 320 * 0.5, 4),
                        "across_m": round(0.6 + (box[0] + box[2]) / 2 / 320 * 0.5, 4),
                        "length_m": round((box[3] - box[1]) / 320 * 0.5, 4),
                        "width_m": round((box[2] - box[0]) / 320 * 0.5, 4),
                    },
                    "crop_ref": _upload(stack, "textile", _crop(image, box)),
                }
                for name, conf, box in defects
            ],
        )
        _ingest(stack, "textile", body)
    pv = pv_frame()
    pv_defects = []
    for name, conf, row, col in PV_DEFECTS:
        box = (col * 40 + 5, row * 40 + 5, col * 40 + 35, row * 40 + 35)
        pv_defects.append(
            {
                "class_name": name,
                "confidence": conf,
                "bbox": list(box),
                "location": {"row": row, "col": col},
                "crop_ref": _upload(stack, "pv", _crop(pv, box)),
            }
        )
    body = inspection_body("pv-01", "el", PV_CODE, start + timedelta(minutes=10), "pv")
    body.update(
        trigger_id=PV_TRIGGER[0],
        encoder_count=PV_TRIGGER[1],
        image_width=400,
        image_height=240,
        image_ref=_upload(stack, "pv", pv),
        verdict="fail",
        defects=pv_defects,
    )
    _ingest(stack, "pv", body)
    ring = bearing_frame()
    ring_defects = []
    for name, conf, zone, radius, angle in BEARING_DEFECTS:
        cx = 160 + radius * math.cos(math.radians(angle))
        cy = 160 + radius * math.sin(math.radians(angle))
        box = (round(cx - 10), round(cy - 10), round(cx + 10), round(cy + 10))
        ring_defects.append(
            {
                "class_name": name,
                "confidence": conf,
                "bbox": list(box),
                "location": {"zone": zone},
                "crop_ref": None,
            }
        )
    body = inspection_body("bearing-01", "face", BEARING_CODE, start + timedelta(minutes=20), "bearing")
    body.update(
        image_width=320,
        image_height=320,
        image_ref=_upload(stack, "bearing", ring),
        verdict="fail",
        defects=ring_defects,
    )
    _ingest(stack, "bearing", body)
    for parent, child, relation in (
        (TEXTILE_CODE, LOT_CODE, "made_from"),
        (CARTON_CODE, TEXTILE_CODE, "packed_in"),
    ):
        response = stack.post(
            "/v1/genealogy",
            "textile",
            json={"parent": parent, "child": child, "relation": relation, "at": start.isoformat()},
        )
        assert response.status_code == 201, response.text
    for minutes, kind, where in (
        (-30, "received", "beam store"),
        (5, "processed", "hall A"),
        (40, "packed", "warehouse A"),
    ):
        response = stack.post(
            f"/v1/units/{TEXTILE_CODE}/events",
            "textile",
            json={
                "type": kind,
                "at": (start + timedelta(minutes=minutes)).isoformat(),
                "line_id": "textile-01",
                "location": where,
            },
        )
        assert response.status_code == 201, response.text


@contextmanager
def running_stack(
    template: Path,
    directory: Path,
    *,
    seed_data: bool = True,
    settings: dict[str, Any] | None = None,
    lines_dir: Path | None = None,
) -> Iterator[Stack]:
    """Start the real API (uvicorn, SQLite in ``directory``), create keys, seed it; stop it on exit.

    ``seed_data=False`` leaves the store empty (but for the keys) for a test that posts its own;
    ``settings`` overrides API settings (``{"root_path": "/linecheck"}``); ``lines_dir``: line YAMLs
    other than the shipped ones.
    """
    db_url = copy_sqlite(template, directory / "linecheck.db")
    keys = {
        "textile": api_testing.create_key(db_url, "line", "textile-01"),
        "pv": api_testing.create_key(db_url, "line", "pv-01"),
        "bearing": api_testing.create_key(db_url, "line", "bearing-01"),
        "reviewer": api_testing.create_key(db_url, "reviewer", name="qa reviewer"),
        "viewer": api_testing.create_key(db_url, "viewer", name="qa viewer"),
    }
    with api_testing.run_api(db_url, directory, settings=settings, lines_dir=lines_dir) as base_url:
        stack = Stack(base_url=base_url, db_url=db_url, data_dir=directory, keys=keys)
        if seed_data:
            seed(stack)
        yield stack
