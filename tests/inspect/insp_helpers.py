"""Test seams for the inspector: detectors implementing the Detector protocol without a server.

``TableDetector`` answers with the synthetic ground truth of images it has been shown
beforehand (looked up by content hash), so pipeline tests know exactly what must come out.
End-to-end tests use real Triton instead.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import numpy.typing as npt

from linecheck.config import LineConfig
from linecheck.datasets.synth import iter_units
from linecheck.datasets.synth.camera import smear_codes
from linecheck.errors import InferenceError, ServerUnavailableError
from linecheck.inspect.gate import UnitOutcome
from linecheck.inspect.messages import DefectRecord, InspectionResult
from linecheck.kinds import Kind, get_kind
from linecheck.messages import CodeStatus, Detections, Verdict
from linecheck.serving.api.testing import create_key, run_api

Truth = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]


def image_key(image: npt.NDArray[np.uint8]) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def truth_table(line: LineConfig, *, seed: int, units: int, smeared: bool = False) -> dict[str, Truth]:
    """Content hash -> ground truth of every frame of the first ``units`` synthetic units.

    ``smeared``: also know the frames with their code painted over (``synth://...&unreadable=N``).
    """
    table: dict[str, Truth] = {}
    for unit in itertools.islice(iter_units(line.kind, seed=seed, line=line), units):
        for frame in unit.frames:
            table[image_key(frame.image)] = (frame.boxes, frame.class_ids)
            if smeared:
                table[image_key(smear_codes(frame.image))] = (frame.boxes, frame.class_ids)
    return table


class TableDetector:
    """Returns the known ground truth (confidence ``confidence``), no boxes for unknown images."""

    def __init__(
        self,
        kind: Kind,
        table: dict[str, Truth] | None = None,
        *,
        confidence: float = 0.9,
        delay_s: float = 0.0,
        broken: threading.Event | None = None,
        hang: threading.Event | None = None,
    ) -> None:
        self.kind = kind
        self.table = table or {}
        self.confidence = confidence
        self.delay_s = delay_s
        self.broken = broken
        self.hang = hang
        self.calls: list[int] = []
        self.closed = False

    @property
    def class_names(self) -> tuple[str, ...]:
        return get_kind(self.kind).classes

    @property
    def model_name(self) -> str:
        return self.kind.value

    @property
    def model_version(self) -> str:
        return "7"

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        if self.broken is not None and self.broken.is_set():
            raise ServerUnavailableError("test: server down")
        if self.hang is not None and self.hang.is_set():
            time.sleep(3.0)
            raise InferenceError("test: hung call finally returned")
        self.calls.append(len(images))
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for image in images:
            boxes, ids = self.table.get(
                image_key(image), (np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
            )
            out.append(
                Detections(
                    xyxy=boxes.astype(np.float32),
                    confidence=np.full(len(boxes), self.confidence, np.float32),
                    class_id=ids.astype(np.int64),
                    class_names=self.class_names,
                )
            )
        return out

    def close(self) -> None:
        self.closed = True


class LiveApi:
    """The real API (uvicorn in a thread) on a fixed port, which a test can stop and start again."""

    def __init__(self, db_url: str, data_dir: Path, port: int, *, lines_dir: Path | None = None) -> None:
        self.db_url = db_url
        self.data_dir = data_dir
        self.port = port
        self.lines_dir = lines_dir
        self.url = f"http://127.0.0.1:{port}"
        self._stack: ExitStack | None = None
        self.line_key = create_key(db_url, "line", ["textile-01", "bearing-01", "pv-01"], name="inspector")
        self.viewer_key = create_key(db_url, "viewer", name="test viewer")

    def start(self) -> None:
        self._stack = ExitStack()
        self._stack.enter_context(
            run_api(self.db_url, self.data_dir, port=self.port, lines_dir=self.lines_dir)
        )

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(
            self.url + path, params=params, headers={"Authorization": f"Bearer {self.viewer_key}"}, timeout=10
        )

    def inspections(self, **params: object) -> list[dict]:
        """Every stored inspection matching ``params`` (paged through)."""
        out: list[dict] = []
        while True:
            page = self.get("/v1/inspections", limit=500, offset=len(out), **params)
            page.raise_for_status()
            items = page.json()["items"]
            out.extend(items)
            if len(items) < 500:
                return out


def bearing_result(
    code: str | None = "BR0000000001",
    *,
    verdict: Verdict = Verdict.PASS,
    seq: int = 0,
    defects: int = 0,
    line_id: str = "bearing-01",
    **kw: object,
) -> InspectionResult:
    """A bearing inspection as the judge makes one, with its frame (``kw`` overrides any field)."""
    image = np.zeros((64, 96, 3), np.uint8)
    cv2.circle(image, (48, 32), 20 + seq % 7, (0, 0, 200 + seq % 50), -1)
    recs = tuple(
        DefectRecord(
            class_name="dent",
            confidence=0.8,
            bbox=(10.0 + i, 10.0, 30.0 + i, 40.0),
            location={"zone": "face"},
        )
        for i in range(defects)
    )
    fields: dict = dict(
        line_id=line_id,
        station="face",
        code=code,
        code_status=CodeStatus.READ if code else CodeStatus.UNREAD,
        captured_at=datetime.now(UTC),
        model_name="bearing",
        model_version="1",
        verdict=Verdict.FAIL if defects else verdict,
        frame_seq=seq,
        image_width=96,
        image_height=64,
        defects=recs,
        image=image,
        latency_ms=3.2,
    )
    fields.update(kw)
    return InspectionResult(**fields)


def wait_until(predicate: Callable[[], object], timeout: float = 15.0) -> bool:
    """Ask ``predicate`` every 20 ms until it is true or ``timeout`` seconds pass; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


class Decisions:
    """A decision sink of the reject gate that keeps every unit's outcome (thread-safe)."""

    def __init__(self) -> None:
        self.items: list[UnitOutcome] = []
        self.lock = threading.Lock()

    def decide(self, outcome: UnitOutcome) -> None:
        with self.lock:
            self.items.append(outcome)
