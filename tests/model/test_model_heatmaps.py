"""Anomaly heat maps ride with their detections: decoded per region, cut with the box, kept through
tiling and model unions, and the same from an ONNX graph run in-process (Triton shares the decoder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lc_anomaly_graph import expected_map, write_anomaly_graph

from linecheck.errors import InvalidFieldError
from linecheck.messages import Detections
from linecheck.model.heatmaps import join_heatmaps
from linecheck.model.image_outputs import anomaly_regions, decode_anomaly
from linecheck.model.processing import DecodeOptions, letterbox, postprocess
from linecheck.model.tiling import TiledDetector
from linecheck.model.union import UnionDetector
from linecheck.serving.triton.onnx_detector import OnnxDetector


def _two_regions() -> np.ndarray:
    amap = np.zeros((8, 8), np.float32)
    amap[1:3, 1:3] = [[0.6, 0.7], [0.55, 0.9]]
    amap[6, 5:8] = [0.8, 0.3, 0.75]  # two cells apart in row 6 ...
    amap[5, 6] = 0.52  # ... joined diagonally through (5, 6): one region over rows 5-6, cols 5-7
    return amap


def test_each_region_keeps_the_cells_under_its_box_best_first() -> None:
    amap = _two_regions()
    boxes, scores, maps = anomaly_regions(amap, imgsz=64)
    assert scores.tolist() == pytest.approx([0.9, 0.8])
    assert boxes.tolist() == [[8, 8, 24, 24], [40, 40, 64, 56]]
    np.testing.assert_array_equal(maps[0], amap[1:3, 1:3])
    np.testing.assert_array_equal(maps[1], amap[5:7, 5:8])
    assert all(m.dtype == np.float32 for m in maps)
    maps[0][0, 0] = 9.0
    assert amap[1, 1] == pytest.approx(0.6), "a region's map is a copy, not a view of the output"


@pytest.mark.parametrize(("conf", "kept"), [(0.85, [0.9]), (0.5, [0.9, 0.8]), (0.95, [])])
def test_decode_drops_the_maps_of_regions_below_conf_with_their_boxes(conf: float, kept: list[float]) -> None:
    amap = _two_regions()
    boxes, scores, ids, maps = decode_anomaly(amap, 1, imgsz=64, conf=conf, max_det=10)
    assert scores.tolist() == pytest.approx(kept)
    assert len(maps) == len(boxes) == len(ids) == len(kept)
    if kept:
        np.testing.assert_array_equal(maps[0], amap[1:3, 1:3])


def test_a_region_reaching_into_the_letterbox_padding_loses_the_cells_off_the_image() -> None:
    # A 64 x 32 frame sits in rows 16..48 of the 64 px input: map rows 0-1 and 6-7 are padding.
    _, placement = letterbox(np.zeros((32, 64, 3), np.uint8), 64)
    amap = np.zeros((8, 8), np.float32)
    amap[1:4, 2:4] = [[0.6, 0.61], [0.7, 0.71], [0.8, 0.81]]  # rows 1..3: input y 8..32
    [found] = postprocess(amap[None], [placement], ["anomaly"], "anomaly", DecodeOptions())
    assert found.xyxy.tolist() == [[16.0, 0.0, 32.0, 16.0]]  # clipped to the frame's top edge
    np.testing.assert_array_equal(found.heatmaps[0], amap[2:4, 2:4])  # row 1 was padding


@pytest.mark.parametrize("layout", ["raw", "nms", "classify"])
def test_other_layouts_carry_no_map(layout: str) -> None:
    _, placement = letterbox(np.zeros((64, 64, 3), np.uint8), 64)
    outputs = {
        "raw": np.array([[[32.0], [32.0], [10.0], [10.0], [0.9]]], np.float32),
        "nms": np.array([[[1, 1, 9, 9, 0.9, 0]]], np.float32),
        "classify": np.array([[[0.9]]], np.float32),
    }
    [found] = postprocess(outputs[layout], [placement], ["stain"], layout, DecodeOptions())
    assert len(found) == 1 and found.heatmaps == (None,)


def _det(boxes: list[list[float]], heatmaps: tuple, names: tuple[str, ...] = ("anomaly",)) -> Detections:
    return Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.full(len(boxes), 0.9, np.float32),
        class_id=np.zeros(len(boxes), np.int64),
        class_names=names,
        heatmaps=heatmaps,
    )


@pytest.mark.parametrize(
    ("heatmaps", "field"),
    [
        ((None,), "heatmaps"),  # one map for two boxes
        ((np.ones((2, 2), np.float64), None), "heatmaps[0]"),
        ((None, np.ones((2,), np.float32)), "heatmaps[1]"),
        ((None, np.ones((0, 3), np.float32)), "heatmaps[1]"),
    ],
)
def test_detections_refuse_maps_that_do_not_fit(heatmaps: tuple, field: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        _det([[0, 0, 4, 4], [4, 4, 8, 8]], heatmaps)
    assert caught.value.field == field


def test_filtering_keeps_each_map_with_its_box() -> None:
    first, second = np.full((1, 1), 0.6, np.float32), np.full((2, 2), 0.7, np.float32)
    found = _det([[0, 0, 4, 4], [4, 4, 8, 8], [8, 8, 9, 9]], (first, None, second))
    kept = found.filter(np.array([False, True, True]))
    assert kept.heatmaps[0] is None and kept.heatmaps[1] is second
    assert _det([[0, 0, 4, 4]], ()).heatmaps == (None,)  # left out: no map


class _Fixed:
    """A detector answering the same detections for every image (what tiling and unions see)."""

    model_version = "1"

    def __init__(self, name: str, answer: Detections) -> None:
        self.model_name = name
        self.class_names = answer.class_names
        self._answer = answer

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        return [self._answer for _ in images]

    def close(self) -> None:
        pass


def test_a_union_keeps_the_anomaly_maps_and_none_for_the_detector() -> None:
    heat = np.full((2, 3), 0.8, np.float32)
    detector = _Fixed("fabric", _det([[1, 1, 5, 5]], (), names=("stain",)))
    anomaly = _Fixed("fabric-anomaly", _det([[8, 8, 20, 16]], (heat,)))
    [found] = UnionDetector([detector, anomaly]).detect([np.zeros((32, 32, 3), np.uint8)])
    assert found.names() == ["stain", "anomaly"]
    assert found.heatmaps[0] is None and found.heatmaps[1] is heat


def test_tiles_keep_each_region_map_with_its_box_in_frame_pixels() -> None:
    heat = np.full((2, 2), 0.9, np.float32)
    inner = _Fixed("fabric-anomaly", _det([[8, 8, 24, 24]], (heat,)))
    [found] = TiledDetector(inner, tile=64, overlap=0).detect([np.zeros((64, 192, 3), np.uint8)])
    assert sorted(found.xyxy[:, 0].tolist()) == [8, 72, 136]
    assert all(h is heat for h in found.heatmaps)


class _Halves:
    """An anomaly model: the left piece of one region in a dark tile, its right piece in a bright one."""

    class_names = ("anomaly",)
    model_name, model_version = "fabric-anomaly", "1"

    def detect(self, images: list[np.ndarray]) -> list[Detections]:
        left = _det([[40, 8, 64, 24]], (np.full((2, 3), 0.6, np.float32),))  # reaches the tile's right edge
        right = _det([[0, 8, 36, 24]], (np.full((2, 3), 0.9, np.float32),))  # from the next tile's left edge
        return [right if image[0, 0, 0] else left for image in images]

    def close(self) -> None:
        pass


def test_pieces_of_a_region_stitched_across_tiles_get_their_maps_joined() -> None:
    frame = np.zeros((64, 112, 3), np.uint8)  # tiles at x 0 and 48 (16 px overlap)
    frame[:, 48:] = 200
    [found] = TiledDetector(_Halves(), tile=64, overlap=16).detect([frame])
    assert found.xyxy.tolist() == [[40, 8, 84, 24]]
    [joined] = found.heatmaps
    assert joined is not None and joined.shape == (2, 6)  # 44 px at the finer 8 px cells
    np.testing.assert_allclose(joined[:, 0], 0.6)  # only the left piece covers x 40..48
    np.testing.assert_allclose(joined[:, 1:], 0.9)  # the right piece, higher where both lie


def test_joined_pieces_of_a_region_make_one_map_over_their_box() -> None:
    left = np.array([[0.6, 0.7]], np.float32)  # spans x 0..16 (8 px cells)
    right = np.array([[0.8, 0.9, 1.0]], np.float32)  # spans x 16..40
    joined = join_heatmaps(
        np.array([[0, 0, 16, 8], [16, 0, 40, 8]], np.float32), [left, right], (0, 0, 40, 8)
    )
    np.testing.assert_allclose(joined, [[0.6, 0.7, 0.8, 0.9, 1.0]])
    only = join_heatmaps(np.array([[0, 0, 16, 8]], np.float32), [left], (0, 0, 16, 8))
    assert only is left
    assert join_heatmaps(np.array([[0, 0, 16, 8]], np.float32), [None], (0, 0, 16, 8)) is None
    with pytest.raises(InvalidFieldError):
        join_heatmaps(np.array([[0, 0, 16, 8]], np.float32), [left], (5, 0, 5, 8))


def test_onnx_runtime_gives_each_region_its_part_of_the_map(tmp_path: Path) -> None:
    detector = OnnxDetector(
        write_anomaly_graph(tmp_path / "anomaly.onnx"),
        class_names=["anomaly"],
        imgsz=64,
        output_layout="anomaly",
    )
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[8:24, 16:40] = 255  # cells rows 1-2, cols 2-4
    frame[48:56, 48:64] = 160  # cells row 6, cols 6-7: 160 / 255 = 0.63
    found, blank = detector.detect([frame, np.zeros((64, 64, 3), np.uint8)])
    assert found.xyxy.tolist() == [[16, 8, 40, 24], [48, 48, 64, 56]]
    want = expected_map(frame)
    np.testing.assert_allclose(found.heatmaps[0], want[1:3, 2:5], atol=1e-6)
    np.testing.assert_allclose(found.heatmaps[1], want[6:7, 6:8], atol=1e-6)
    assert len(blank) == 0 and blank.heatmaps == ()
