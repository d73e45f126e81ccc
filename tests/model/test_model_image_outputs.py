"""Decoding classify / anomaly outputs and tiling wide frames: pure functions and a fake detector."""

from __future__ import annotations

import numpy as np
import pytest

from linecheck.errors import InvalidFieldError, ModelContractError
from linecheck.messages import Detections
from linecheck.model.image_outputs import anomaly_regions, decode_anomaly, decode_classify
from linecheck.model.processing import DecodeOptions, letterbox, postprocess
from linecheck.model.tiling import TiledDetector, merge_tiles, tile_origins


@pytest.mark.parametrize(
    ("probs", "conf", "expected_ids"),
    [([[0.9, 0.2]], 0.5, [0]), ([[0.6, 0.8]], 0.5, [1, 0]), ([[0.1, 0.2]], 0.5, []), ([[0.5, 0.5]], 0.5, [])],
)
def test_classify_gives_one_whole_input_box_per_class_above_conf(probs, conf, expected_ids):
    xyxy, scores, ids = decode_classify(np.asarray(probs, np.float32), 2, imgsz=64, conf=conf)
    assert ids.tolist() == expected_ids
    assert (xyxy == [0, 0, 64, 64]).all() and (scores > conf).all()


def test_classify_output_of_the_wrong_shape_is_a_contract_error():
    with pytest.raises(ModelContractError, match=r"expected \(1, 3\)"):
        decode_classify(np.zeros((1, 2), np.float32), 3, imgsz=64, conf=0.5)


def test_anomaly_regions_are_boxed_in_input_pixels_with_their_peak():
    amap = np.zeros((8, 8), np.float32)
    amap[1:3, 1:3] = [[0.6, 0.7], [0.55, 0.9]]
    amap[6, 5:8] = 0.8
    boxes, scores, _ = anomaly_regions(amap, imgsz=64)
    assert scores.tolist() == pytest.approx([0.9, 0.8])
    assert boxes.tolist() == [[8, 8, 24, 24], [40, 48, 64, 56]]


def test_a_map_at_the_threshold_has_no_region_and_one_class_is_required():
    assert len(anomaly_regions(np.full((4, 4), 0.5, np.float32), imgsz=32)[0]) == 0
    with pytest.raises(ModelContractError, match="one class"):
        decode_anomaly(np.zeros((4, 4), np.float32), 2, imgsz=32, conf=0.25, max_det=10)


def test_postprocess_maps_a_classification_back_to_the_whole_original_image():
    image = np.zeros((50, 100, 3), np.uint8)
    _, placement = letterbox(image, 64)
    out = postprocess(
        np.asarray([[[0.8]]], np.float32), [placement], ["defective"], "classify", DecodeOptions()
    )
    assert out[0].xyxy.tolist() == [[0.0, 0.0, 100.0, 50.0]]


@pytest.mark.parametrize(
    ("size", "tile", "overlap", "expected"),
    [
        ((256, 64), 64, 0, [(0, 0), (64, 0), (128, 0), (192, 0)]),
        ((100, 64), 64, 16, [(0, 0), (36, 0)]),
        ((50, 40), 64, 8, [(0, 0)]),
        ((128, 128), 64, 32, [(x, y) for y in (0, 32, 64) for x in (0, 32, 64)]),
    ],
)
def test_tiles_cover_the_frame_with_the_overlap_and_end_at_its_edge(size, tile, overlap, expected):
    assert tile_origins(*size, tile, overlap=overlap) == expected


@pytest.mark.parametrize(("tile", "overlap"), [(0, 0), (64, 64), (64, -1)])
def test_bad_tiling_is_refused(tile, overlap):
    with pytest.raises(InvalidFieldError):
        tile_origins(100, 100, tile, overlap=overlap)


def _det(boxes, scores, ids):
    return Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.asarray(scores, np.float32),
        class_id=np.asarray(ids, np.int64),
        class_names=("hole", "stain"),
    )


def test_a_defect_seen_by_two_overlapping_tiles_is_merged_into_one():
    parts = [_det([[50, 10, 64, 20]], [0.9], [0]), _det([[2, 10, 16, 20]], [0.8], [0])]
    merged = merge_tiles(parts, [(0, 0), (48, 0)], iou=0.45)
    assert len(merged) == 1 and merged.xyxy.tolist() == [[50, 10, 64, 20]]


class _Recorder:
    class_names = ("hole", "stain")
    model_name, model_version = "fake", "1"

    def __init__(self):
        self.calls = []

    def detect(self, images):
        self.calls.append([im.shape for im in images])
        return [_det([[1, 1, 5, 5]], [0.7], [1]) for _ in images]

    def close(self):
        pass


def test_tiled_detector_sends_every_tile_of_every_frame_in_one_call():
    inner = _Recorder()
    frames = [np.zeros((64, 256, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)]
    out = TiledDetector(inner, tile=64, overlap=0).detect(frames)
    assert len(inner.calls) == 1 and len(inner.calls[0]) == 5
    assert sorted(out[0].xyxy[:, 0].tolist()) == [1, 65, 129, 193] and len(out[1]) == 1
