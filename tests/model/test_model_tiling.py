"""Tiles of wide frames: pieces of a defect cut by tile edges become one box; the tile size from the card."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from linecheck.config import LineConfig, ModelRef
from linecheck.inspect.detectors import _with_extras
from linecheck.messages import Detections
from linecheck.model.card import ModelCard
from linecheck.model.tiling import TiledDetector, merge_tiles, native_tile, tile_origins

CLASSES = ("hole", "stain")


class DarkRegions:
    """A small real detector: each 8-connected region darker than 60 is a ``hole`` (confidence 0.9)."""

    class_names = CLASSES
    model_name, model_version = "dark", "1"

    def __init__(self, native_tile: int = 0) -> None:
        self.native_tile = native_tile
        self.calls: list[int] = []

    def detect(self, images):
        self.calls.append(len(images))
        out = []
        for image in images:
            mask = (image.min(axis=2) < 60).astype(np.uint8)
            count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            boxes = [[x, y, x + w, y + h] for x, y, w, h in stats[1:count, :4].tolist()]
            out.append(
                Detections(
                    xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                    confidence=np.full(len(boxes), 0.9, np.float32),
                    class_id=np.zeros(len(boxes), np.int64),
                    class_names=CLASSES,
                )
            )
        return out

    def close(self):
        pass


def _frame(width: int, height: int, *dark: tuple[int, int, int, int]) -> np.ndarray:
    image = np.full((height, width, 3), 180, np.uint8)
    for x1, y1, x2, y2 in dark:
        image[y1:y2, x1:x2] = 20
    return image


@pytest.mark.parametrize(
    ("dark", "expected"),
    [
        # straddles the seam of tiles 0..64 and 48..112: each tile sees a piece, IoU of the pieces < 0.45
        ([(30, 10, 80, 20)], [[30, 10, 80, 20]]),
        # a weft break across the whole width: one defect, not one per tile
        ([(0, 30, 256, 33)], [[0, 30, 256, 33]]),
        # inside the 16-pixel overlap: seen whole by both tiles, the copies merge
        ([(50, 40, 60, 50)], [[50, 40, 60, 50]]),
        # two defects either side of a seam, apart: two boxes
        ([(20, 5, 40, 15), (70, 5, 90, 15)], [[20, 5, 40, 15], [70, 5, 90, 15]]),
        # across a row seam of a square frame (tiles 0..64 and 48..112 down the frame too)
        ([(10, 40, 20, 100)], [[10, 40, 20, 100]]),
    ],
)
def test_a_defect_cut_by_tile_edges_comes_back_as_one_box(dark, expected):
    height = 112 if expected == [[10, 40, 20, 100]] else 64
    frame = _frame(256, height, *dark)
    (found,) = TiledDetector(DarkRegions(), tile=64, overlap=16).detect([frame])
    assert sorted(found.xyxy.tolist()) == expected
    assert found.names() == ["hole"] * len(expected)


def test_pieces_of_different_classes_or_rows_stay_apart():
    def part(box, cls):
        return Detections(
            xyxy=np.asarray([box], np.float32),
            confidence=np.asarray([0.8], np.float32),
            class_id=np.asarray([cls], np.int64),
            class_names=CLASSES,
        )

    # both pieces reach the seam at x = 64 (tile 0) / 48 (tile 1) but name different classes
    merged = merge_tiles(
        [part([30, 10, 64, 20], 0), part([0, 10, 30, 20], 1)],
        [(0, 0), (48, 0)],
        iou=0.45,
        tile=64,
        frame=(112, 64),
    )
    assert len(merged) == 2
    # same class, but the pieces do not overlap down the frame
    merged = merge_tiles(
        [part([30, 10, 64, 20], 0), part([0, 30, 30, 40], 0)],
        [(0, 0), (48, 0)],
        iou=0.45,
        tile=64,
        frame=(112, 64),
    )
    assert len(merged) == 2


def test_a_box_at_the_frames_own_edge_is_not_a_cut_piece():
    frame = _frame(112, 64, (100, 10, 112, 20), (0, 40, 10, 50))
    (found,) = TiledDetector(DarkRegions(), tile=64, overlap=16).detect([frame])
    assert sorted(found.xyxy.tolist()) == [[0, 40, 10, 50], [100, 10, 112, 20]]


def test_every_tile_of_every_frame_goes_in_one_inner_call():
    inner = DarkRegions()
    frames = [_frame(4096, 256), _frame(4096, 256), _frame(200, 100)]
    TiledDetector(inner, tile=256, overlap=32).detect(frames)
    assert inner.calls == [19 + 19 + 1] == [2 * len(tile_origins(4096, 256, 256, overlap=32)) + 1]


@pytest.mark.parametrize(
    ("training", "expected"),
    [
        ({"task": "anomaly", "options": {"tile": 256, "imgsz": 256}}, 256),
        ({"task": "anomaly", "options": {"tile": 0}}, 0),
        ({"task": "classify", "options": {"imgsz": 224}}, 0),
        ({}, 0),
    ],
)
def test_the_card_records_the_training_tile(training, expected):
    card = ModelCard(name="m", version=1, kind="textile", classes=["anomaly"], imgsz=256, training=training)
    assert card.native_tile == expected


@pytest.mark.parametrize(
    ("ref", "trained_on", "expected"),
    [
        (ModelRef(name="fab"), 256, 256),  # unset: the card's tile
        (ModelRef(name="fab", tile=128), 256, 128),  # the line's own tile wins
        (ModelRef(name="fab", tile=0), 256, None),  # 0: whole frames, whatever the card says
        (ModelRef(name="fab"), 0, None),  # trained on whole frames
    ],
)
def test_a_line_without_tile_uses_the_tile_the_model_was_trained_on(ref, trained_on, expected):
    line = LineConfig(id="tx", kind="textile", classes=["hole", "stain"], model=ref)
    built = _with_extras(line, lambda name, version, classes: DarkRegions(native_tile=trained_on))
    if expected is None:
        assert not isinstance(built, TiledDetector)
    else:
        assert isinstance(built, TiledDetector) and (built.tile, built.overlap) == (expected, 32)


class Untagged:
    """A detector that does not say which tile its model was trained on."""

    class_names = CLASSES
    model_name, model_version = "plain", "1"

    def detect(self, images):
        return DarkRegions().detect(images)

    def close(self):
        pass


def test_a_detector_that_does_not_know_its_training_tile_runs_on_whole_frames():
    assert (native_tile(Untagged()), native_tile(DarkRegions(native_tile=256))) == (0, 256)
    line = LineConfig(id="tx", kind="textile", classes=["hole", "stain"], model=ModelRef(name="fab"))
    assert isinstance(_with_extras(line, lambda name, version, classes: Untagged()), Untagged)
