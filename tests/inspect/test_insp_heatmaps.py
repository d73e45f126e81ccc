"""Anomaly heat maps from the detector to the API: the verdict keeps each region's map with its
defect, the outbox renders it over the crop and uploads it, the API stores and serves the ref.

The end-to-end test runs a real ONNX anomaly graph (in-process ONNX Runtime) in a union with a
detector, the real outbox and sender, and the real API (uvicorn on SQLite) with a line that lists
the ``anomaly`` class.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import numpy.typing as npt
import pytest
from insp_helpers import wait_until
from lc_anomaly_graph import expected_map, write_anomaly_graph

from linecheck.config import LineConfig, load_lines
from linecheck.errors import InvalidFieldError
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.heatmap_image import render_heatmap
from linecheck.inspect.kinds import logic_for
from linecheck.inspect.messages import CodedFrame, DefectRecord, InferredFrame, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox, crop_rect
from linecheck.inspect.sender import SenderWorker
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.verdict import judge
from linecheck.messages import CodeStatus, Detections, Frame, Verdict
from linecheck.model.union import UnionDetector
from linecheck.serving.api.testing import create_key, run_api
from linecheck.serving.store.testing import copy_sqlite
from linecheck.serving.triton.onnx_detector import OnnxDetector

ROOT = Path(__file__).resolve().parents[2]
CODE = "RL0000000042"


def _decode(data: bytes) -> npt.NDArray[np.uint8]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


# -- rendering ------------------------------------------------------------------------------------


def test_the_map_is_blended_over_the_box_in_absolute_colours_and_the_margin_stays_the_crop() -> None:
    crop = np.full((40, 60, 3), 128, np.uint8)
    heat = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)  # low on the left, high on the right
    out = render_heatmap(crop, heat, (10, 10, 50, 30))
    assert out.shape == crop.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:10], crop[:10])  # margin above the box
    np.testing.assert_array_equal(out[:, :10], crop[:, :10])  # margin left of it
    np.testing.assert_array_equal(out[30:], crop[30:])
    low, high = out[20, 11].astype(int), out[20, 48].astype(int)  # BGR
    assert low[0] > low[2] + 40, f"level 0 is blue, got BGR {low}"
    assert high[2] > high[0] + 40, f"level 1 is red, got BGR {high}"
    half = render_heatmap(crop, np.full((1, 1), 0.5, np.float32), (10, 10, 50, 30))[20, 30].astype(int)
    assert half[1] > max(half[0], half[2]), f"the threshold (0.5) is green, got BGR {half}"


@pytest.mark.parametrize(
    ("crop", "heat", "field"),
    [
        (np.zeros((8, 8), np.uint8), np.ones((2, 2), np.float32), "crop"),
        (np.zeros((8, 8, 3), np.float32), np.ones((2, 2), np.float32), "crop"),
        (np.zeros((8, 8, 3), np.uint8), np.ones((2,), np.float32), "heat"),
        (np.zeros((8, 8, 3), np.uint8), np.ones((0, 2), np.float32), "heat"),
    ],
)
def test_rendering_refuses_what_is_not_a_crop_and_a_map(
    crop: np.ndarray, heat: np.ndarray, field: str
) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        render_heatmap(crop, heat, (1, 1, 6, 6))
    assert caught.value.field == field


# -- verdict and outbox ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lines_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped lines, textile-01 with an anomaly model's class added to its detector's."""
    folder = tmp_path_factory.mktemp("lines")
    for path in (ROOT / "configs" / "lines").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.stem == "textile-01":
            before = "classes: [hole, stain, broken_yarn, knot]"
            assert before in text
            text = text.replace(before, "classes: [hole, stain, broken_yarn, knot, anomaly]")
        (folder / path.name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def line(lines_dir: Path) -> LineConfig:
    return load_lines(lines_dir)["textile-01"]


def _inferred(line: LineConfig, image: npt.NDArray[np.uint8], detections: Detections) -> InferredFrame:
    frame = Frame(
        line_id=line.id,
        station=line.cameras[0].station,
        seq=3,
        captured_at=datetime.now(UTC),
        image=image,
        meta={"roll_offset_m": 1.5},
    )
    coded = CodedFrame(frame=frame, line=line, code=CODE, code_status=CodeStatus.TRIGGER, received_at=0.0)
    return InferredFrame(
        coded=coded, detections=detections, model_name="textile", model_version="1", latency_ms=2.0
    )


def test_judge_gives_an_anomaly_defect_its_map_and_a_detector_defect_none(line: LineConfig) -> None:
    heat = np.full((2, 3), 0.9, np.float32)
    found = Detections(
        xyxy=np.array([[4, 4, 20, 20], [16, 8, 40, 24], [0, 0, 2, 2]], np.float32),
        confidence=np.array([0.8, 0.95, 0.1], np.float32),  # the last is below its threshold
        class_id=np.array([1, 4, 4], np.int64),
        class_names=tuple(line.classes),
        heatmaps=(None, heat, np.ones((1, 1), np.float32)),
    )
    result = judge(_inferred(line, np.zeros((64, 64, 3), np.uint8), found), logic_for(line))
    assert [(d.class_name, d.heatmap is not None) for d in result.defects] == [
        ("stain", False),
        ("anomaly", True),
    ]
    assert result.defects[1].heatmap is heat


def _result(
    line: LineConfig, image: npt.NDArray[np.uint8], defects: tuple[DefectRecord, ...]
) -> InspectionResult:
    return InspectionResult(
        line_id=line.id,
        station="cam1",
        code=CODE,
        code_status=CodeStatus.TRIGGER,
        captured_at=datetime.now(UTC),
        model_name="textile",
        model_version="1",
        verdict=Verdict.FAIL,
        frame_seq=1,
        image_width=int(image.shape[1]),
        image_height=int(image.shape[0]),
        defects=defects,
        image=image,
    )


def test_the_outbox_keeps_the_heat_map_over_the_crop_and_sends_its_ref(
    tmp_path: Path, line: LineConfig
) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(60, 90, (96, 128, 3), dtype=np.uint8)
    heat = np.array([[0.2, 0.9], [0.95, 1.0]], np.float32)
    location = {"along_m": 1.0, "across_m": 0.2, "length_m": 0.1, "width_m": 0.1}
    defects = (
        DefectRecord(
            class_name="anomaly", confidence=0.9, bbox=(40, 30, 80, 70), location=location, heatmap=heat
        ),
        DefectRecord(class_name="stain", confidence=0.8, bbox=(4, 4, 20, 20), location=location),
    )
    outbox = Outbox(tmp_path / "outbox.sqlite")
    try:
        inspection_id = outbox.add(_result(line, image, defects))
        row = outbox.get(inspection_id)
        assert row is not None
        anomaly, stain = row.payload["defects"]
        assert (
            anomaly["crop_ref"] and anomaly["heatmap_ref"] and anomaly["heatmap_ref"] != anomaly["crop_ref"]
        )
        assert stain["crop_ref"] and "heatmap_ref" not in stain  # sent as absent: stored as null
        assert anomaly["heatmap_ref"] in row.image_refs
        files = {img.ref: img for img in outbox.images_to_upload(row.image_refs)}
        heat_file = files[anomaly["heatmap_ref"]]
        assert heat_file.media_type == "image/jpeg"
        data = heat_file.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == anomaly["heatmap_ref"]  # content-addressed like crops
        over, crop = _decode(data), _decode(files[anomaly["crop_ref"]].path.read_bytes())
        x1, y1, x2, y2 = crop_rect(image, defects[0].bbox)
        assert over.shape == crop.shape == (y2 - y1, x2 - x1, 3)  # the crop's box
        inner = np.abs(over.astype(int) - crop.astype(int))[30 - y1 : 70 - y1, 40 - x1 : 80 - x1]
        margin = np.abs(over.astype(int) - crop.astype(int))[: 30 - y1 - 2]
        assert inner.mean() > 25 and margin.mean() < 6
    finally:
        outbox.close()


# -- end to end -----------------------------------------------------------------------------------


@pytest.fixture
def api(lines_dir: Path, tmp_path: Path, api_template: Path) -> Iterator[tuple[str, str, str]]:
    """The real API on SQLite with the anomaly line: (base URL, line key, viewer key)."""
    db_url = copy_sqlite(api_template, tmp_path / "api" / "linecheck.db")
    line_key = create_key(db_url, "line", ["textile-01"], name="inspector")
    viewer_key = create_key(db_url, "viewer", name="viewer")
    with run_api(db_url, tmp_path / "api", lines_dir=lines_dir) as base:
        yield base, line_key, viewer_key


class _Stain:
    """A detector finding one stain in every frame (heat maps are for anomaly regions only)."""

    class_names = ("hole", "stain", "broken_yarn", "knot")
    model_name, model_version = "textile", "1"

    def detect(self, images: list[npt.NDArray[np.uint8]]) -> list[Detections]:
        return [
            Detections(
                xyxy=np.array([[2, 40, 10, 60]], np.float32),
                confidence=np.array([0.9], np.float32),
                class_id=np.array([1], np.int64),
                class_names=self.class_names,
            )
            for _ in images
        ]

    def close(self) -> None:
        pass


def test_an_anomaly_region_reaches_the_api_with_its_heat_map(
    api: tuple[str, str, str], line: LineConfig, settings: InspectorSettings, tmp_path: Path
) -> None:
    base, line_key, viewer_key = api
    anomaly = OnnxDetector(
        write_anomaly_graph(tmp_path / "anomaly.onnx"),
        class_names=["anomaly"],
        imgsz=64,
        output_layout="anomaly",
        model_name="textile-anomaly",
        model_version="1",
    )
    detector = UnionDetector([_Stain(), anomaly])
    image = np.zeros((64, 64, 3), np.uint8)
    image[8:24, 16:40] = 255
    [found] = detector.detect([image])
    result = judge(_inferred(line, image, found), logic_for(line))
    assert [d.class_name for d in result.defects] == ["stain", "anomaly"]
    np.testing.assert_allclose(result.defects[1].heatmap, expected_map(image)[1:3, 2:5], atol=1e-6)

    outbox = Outbox(tmp_path / "outbox.sqlite")
    stop = threading.Event()
    worker = SenderWorker(
        outbox=outbox,
        client=ApiClient(base, line_key),
        settings=settings,
        metrics=InspectorMetrics(),
        stop=stop,
    )
    inspection_id = outbox.add(result)
    worker.start()
    try:
        assert wait_until(lambda: outbox.counts()["sent"] == 1), outbox.rows()
    finally:
        stop.set()
        worker.join(5)
        outbox.close()

    headers = {"Authorization": f"Bearer {viewer_key}"}
    stored = httpx.get(f"{base}/v1/inspections/{inspection_id}", headers=headers, timeout=10).json()
    by_class = {d["class_name"]: d for d in stored["defects"]}
    assert by_class["stain"]["heatmap_ref"] is None and by_class["stain"]["crop_ref"]
    ref = by_class["anomaly"]["heatmap_ref"]
    assert ref and ref != by_class["anomaly"]["crop_ref"]
    got = httpx.get(f"{base}/v1/images/{ref}", headers=headers, timeout=10)
    assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == ref
    crop = httpx.get(f"{base}/v1/images/{by_class['anomaly']['crop_ref']}", headers=headers, timeout=10)
    assert _decode(got.content).shape == _decode(crop.content).shape
