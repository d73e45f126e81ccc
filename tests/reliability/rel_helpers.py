"""Helpers of the reliability tests: valid bodies per line, a blank detector, paging through the API.

Module name is unique across test folders (imported as ``rel_helpers`` via the rootdir conftest path).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import numpy.typing as npt

from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind, get_kind
from linecheck.messages import Detections

LINES = {"textile-01": Kind.TEXTILE, "bearing-01": Kind.BEARING, "pv-01": Kind.PV}
_STATION = {"textile-01": "cam1", "bearing-01": "face", "pv-01": "el"}
_LOCATION = {
    Kind.TEXTILE: {"along_m": 1.5, "across_m": 0.2},
    Kind.BEARING: {"zone": "face"},
    Kind.PV: {"row": 1, "col": 2},
}


@dataclass(frozen=True)
class Served:
    """A real API (``base`` URL) over the store at ``url``, with one key per role and scope."""

    base: str
    url: str
    keys: dict[str, str]


def code_for(line_id: str, n: int) -> str:
    """The ``n``-th code matching the line's code pattern."""
    kind = LINES[line_id]
    return {Kind.TEXTILE: f"RL{n:010d}", Kind.BEARING: f"BR{n:010d}", Kind.PV: f"PV{n:012d}"}[kind]


def inspection(
    line_id: str, n: int, *, defects: int = 1, image_ref: str | None = None, inspection_id: str | None = None
) -> dict[str, Any]:
    """A valid inspection of unit ``n`` of ``line_id`` with ``defects`` defects."""
    kind = LINES[line_id]
    return {
        "id": inspection_id or uuid.uuid4().hex,
        "line_id": line_id,
        "station": _STATION[line_id],
        "code": code_for(line_id, n),
        "code_status": "trigger" if kind is Kind.TEXTILE else "read",
        "captured_at": datetime.now(UTC).isoformat(),
        "model_name": kind.value,
        "model_version": "1",
        "verdict": "fail" if defects else "pass",
        "image_width": 640,
        "image_height": 640,
        "image_ref": image_ref,
        "defects": [
            {
                "class_name": get_kind(kind).classes[i % len(get_kind(kind).classes)],
                "confidence": 0.9,
                "bbox": [10 + i, 10, 60 + i, 60],
                "location": _LOCATION[kind],
            }
            for i in range(defects)
        ],
    }


def auth(key: str) -> dict[str, str]:
    """Bearer header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def stored_inspections(base_url: str, key: str, **params: object) -> list[dict[str, Any]]:
    """Every stored inspection matching ``params``, paged through the API."""
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=base_url, headers=auth(key), timeout=30) as http:
        while True:
            page = http.get("/v1/inspections", params={"limit": 500, "offset": len(out), **params})
            page.raise_for_status()
            items = page.json()["items"]
            out.extend(items)
            if len(items) < 500:
                return out


def metric_value(text: str, name: str, **labels: str) -> float:
    """Value of one sample of a Prometheus text exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        metric, _, raw_labels = sample.partition("{")
        got = ",".join(sorted(p for p in raw_labels.rstrip("}").split(",") if p))
        if metric == name and got == want:
            return float(value)
    return 0.0


def noise_png(seed: int, side: int = 256) -> bytes:
    """An incompressible PNG of about ``3 * side**2`` bytes."""
    image = np.random.default_rng(seed).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


class BlankDetector:
    """A detector that finds nothing (every frame passes), optionally slow; counts frames seen."""

    def __init__(self, kind: Kind, *, delay_s: float = 0.0) -> None:
        self.kind = kind
        self.delay_s = delay_s
        self.frames = 0
        self.sizes: list[tuple[int, int]] = []

    @property
    def class_names(self) -> tuple[str, ...]:
        return get_kind(self.kind).classes

    @property
    def model_name(self) -> str:
        return self.kind.value

    @property
    def model_version(self) -> str:
        return "1"

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        if self.delay_s:
            time.sleep(self.delay_s)
        self.frames += len(images)
        self.sizes.extend(image.shape[:2] for image in images)
        return [
            Detections(
                xyxy=np.zeros((0, 4), np.float32),
                confidence=np.zeros(0, np.float32),
                class_id=np.zeros(0, np.int64),
                class_names=self.class_names,
            )
            for _ in images
        ]

    def close(self) -> None:
        pass


class MjpegCamera:
    """A real HTTP MJPEG camera on loopback that can be unplugged and plugged back on its port."""

    def __init__(self, port: int = 0, *, side: int = 64) -> None:
        self.online = threading.Event()
        self.online.set()
        self.sent = 0
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                while camera.online.is_set():
                    # a textured frame, new each time: a flat one is what the frame checks refuse
                    image = np.random.default_rng(camera.sent).integers(
                        30, 220, (side, side, 3), dtype=np.uint8
                    )
                    _ok, buf = cv2.imencode(".jpg", image)
                    head = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
                    try:
                        self.wfile.write(head + buf.tobytes() + b"\r\n")
                        self.wfile.flush()
                    except OSError:
                        return
                    camera.sent += 1
                    time.sleep(0.05)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def unplug(self) -> None:
        if self.online.is_set():
            self.online.clear()
            self.server.shutdown()
            self.server.server_close()


def fast_settings(workdir: Path, **overrides: object) -> InspectorSettings:
    """Inspector settings with short back-offs, so a test sees recovery within seconds."""
    values: dict[str, object] = {
        "inspector_dir": workdir,
        "max_delay_ms": 5,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.5,
        "retry_min_s": 0.1,
        "retry_max_s": 0.5,
        "send_interval_s": 0.05,
        "send_batch": 5,
        "api_timeout_s": 5,
    }
    values.update(overrides)
    return InspectorSettings(**values)  # type: ignore[arg-type]
