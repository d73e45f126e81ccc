"""In-process ONNX Runtime detector on a real (tiny) exported YOLOv8 graph."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lc_tiny_model import CLASSES, IMGSZ

from linecheck.errors import InferenceError, ModelContractError
from linecheck.model.detector import Detector
from linecheck.model.processing import DecodeOptions
from linecheck.serving.triton.onnx_detector import OnnxDetector


@pytest.fixture(scope="module", params=["textile", "bearing"])
def detector(request, registry):
    det = OnnxDetector.from_registry(registry.get(request.param, "production"))
    yield det
    det.close()


def test_is_a_detector_with_the_card_identity(detector):
    assert isinstance(detector, Detector)
    assert detector.class_names == tuple(CLASSES)
    assert detector.model_name in {"textile", "bearing"}
    assert detector.model_version == "1"


def test_detections_lie_inside_each_original_image(detector, frames):
    results = detector.detect(frames)
    assert len(results) == len(frames)
    assert sum(len(r) for r in results) > 0
    for frame, det in zip(frames, results, strict=True):
        h, w = frame.shape[:2]
        assert (det.xyxy[:, [0, 2]] <= w).all() and (det.xyxy[:, [1, 3]] <= h).all()
        assert (det.xyxy >= 0).all() and (det.xyxy[:, 2:] >= det.xyxy[:, :2]).all()
        assert (det.confidence > 0.25).all()


def test_a_batch_gives_every_frame_its_own_detections(detector, frames):
    """The in-graph NMS export answers only the first image of a batch; the detector must not."""
    batched = detector.detect(frames)
    singles = [detector.detect([frame])[0] for frame in frames]
    assert sum(len(s) > 0 for s in singles) >= 2, "the tiny model should detect something in several frames"
    for one, many in zip(singles, batched, strict=True):
        np.testing.assert_allclose(many.xyxy, one.xyxy, atol=1e-3)
        np.testing.assert_array_equal(many.class_id, one.class_id)


def test_raw_and_nms_layouts_agree_at_the_same_thresholds(registry, frames):
    # The nms graph uses Ultralytics' export defaults (iou 0.7); decode the raw graph the same way.
    raw = OnnxDetector.from_registry(registry.get("textile"), options=DecodeOptions(iou=0.7))
    in_graph = OnnxDetector.from_registry(registry.get("bearing"))
    for a, b in zip(raw.detect(frames), in_graph.detect(frames), strict=True):
        assert len(a) == len(b)
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=0.05)
        np.testing.assert_array_equal(a.class_id, b.class_id)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"class_names": [*CLASSES, "extra"]}, "metadata names classes"),
        ({"class_names": ["a", "b", "c", "d"]}, "metadata names classes"),
        ({"imgsz": 640}, "640"),
        ({"input_name": "input"}, "input name"),
        ({"output_name": "out"}, "output name"),
    ],
)
def test_refuses_a_graph_that_does_not_match_the_declaration(tiny_raw_onnx, change, match):
    kwargs = {"class_names": CLASSES, "imgsz": IMGSZ, **change}
    with pytest.raises(ModelContractError, match=match):
        OnnxDetector(tiny_raw_onnx, **kwargs)


def test_refuses_a_card_without_onnx_and_a_missing_file(registry, tmp_path):
    version = registry.get("textile")
    no_onnx = dataclasses.replace(version, card=dataclasses.replace(version.card, onnx=None))
    with pytest.raises(ModelContractError, match="no 'onnx' section"):
        OnnxDetector.from_registry(no_onnx)
    with pytest.raises(ModelContractError, match="does not exist"):
        OnnxDetector(tmp_path / "missing.onnx", class_names=CLASSES, imgsz=IMGSZ)
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelContractError, match="not a readable ONNX"):
        OnnxDetector(tmp_path / "bad.onnx", class_names=CLASSES, imgsz=IMGSZ)


def test_wrong_input_tensor_and_closed_detector_raise(tiny_raw_onnx):
    det = OnnxDetector(tiny_raw_onnx, class_names=CLASSES, imgsz=IMGSZ)
    with pytest.raises(ModelContractError, match=r"expected \(N, 3, 320, 320\) float32"):
        det.infer(np.zeros((1, 3, 640, 640), np.float32))
    det.close()
    with pytest.raises(InferenceError, match="closed"):
        det.detect([np.zeros((8, 8, 3), np.uint8)])


@pytest.fixture(scope="module")
def onnx_without_metadata(tiny_raw_onnx, tmp_path_factory):
    """The raw graph with the exporter's metadata removed, so only the probe run can catch a bad card."""
    import onnx

    model = onnx.load(str(tiny_raw_onnx))
    del model.metadata_props[:]
    path = tmp_path_factory.mktemp("bare") / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("class_names", "layout", "match"),
    [
        ([*CLASSES, "extra"], "raw", r"5 classes need \(batch, 9, anchors\)"),
        (["one"], "raw", r"1 classes need \(batch, 5, anchors\)"),
        (CLASSES, "nms", r"expected \(batch, max_det, 6\)"),
    ],
)
def test_probe_run_refuses_an_output_that_does_not_fit_the_card(
    onnx_without_metadata, class_names, layout, match
):
    with pytest.raises(ModelContractError, match=match):
        OnnxDetector(onnx_without_metadata, class_names=class_names, imgsz=IMGSZ, output_layout=layout)


def test_probe_measures_output_dims(onnx_without_metadata):
    det = OnnxDetector(onnx_without_metadata, class_names=CLASSES, imgsz=IMGSZ)
    anchors = sum((IMGSZ // stride) ** 2 for stride in (8, 16, 32))
    assert det.output_dims == (4 + len(CLASSES), anchors)
    assert det.batch_limit == 0
