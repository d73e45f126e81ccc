"""Pure pre/post-processing shared by the Triton and ONNX Runtime detectors."""

from __future__ import annotations

import numpy as np
import pytest

from linecheck.errors import InferenceError, InvalidFieldError, ModelContractError
from linecheck.model.processing import (
    PAD_VALUE,
    DecodeOptions,
    Letterbox,
    box_iou,
    decode_nms,
    decode_raw,
    letterbox,
    nms,
    postprocess,
    preprocess,
    scale_boxes,
)

NAMES = ("a", "b", "c")


@pytest.mark.parametrize(
    ("height", "width", "imgsz", "scale", "pad_x", "pad_y"),
    [
        (480, 640, 320, 0.5, 0, 40),  # landscape: 320x240 placed 40 rows down
        (640, 480, 320, 0.5, 40, 0),  # portrait
        (320, 320, 320, 1.0, 0, 0),  # already the right size
        (100, 200, 320, 1.6, 0, 80),  # upscaled: 320x160
        (50, 1000, 100, 0.1, 0, 47),  # very wide: 100x5 -> (100-5)//2 = 47
    ],
)
def test_letterbox_places_image_centered(height, width, imgsz, scale, pad_x, pad_y):
    image = np.full((height, width, 3), 7, np.uint8)
    canvas, placement = letterbox(image, imgsz)
    assert canvas.shape == (imgsz, imgsz, 3)
    assert placement == Letterbox(
        scale=pytest.approx(scale), pad_x=pad_x, pad_y=pad_y, width=width, height=height
    )
    new_w, new_h = round(width * scale), round(height * scale)
    assert (canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] == 7).all()
    padding = np.ones((imgsz, imgsz), bool)
    padding[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = False
    assert (canvas[padding] == PAD_VALUE).all()


def test_preprocess_converts_bgr_hwc_uint8_to_rgb_chw_unit_float():
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 10, 20, 30  # B, G, R
    batch, placements = preprocess([image, image[:2]], 4)
    assert batch.shape == (2, 3, 4, 4)
    assert batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, :, 0, 0], [30 / 255, 20 / 255, 10 / 255], rtol=1e-6)
    assert placements[1].pad_y == 1
    np.testing.assert_allclose(batch[1, :, 0, 0], [PAD_VALUE / 255] * 3, rtol=1e-6)


@pytest.mark.parametrize(
    ("images", "field"),
    [
        ([], "images"),
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)], "images[1]"),
        ([np.zeros((4, 4, 3), np.float32)], "images[0]"),
        ([np.zeros((4, 4, 4), np.uint8)], "images[0]"),
        ([np.zeros((0, 4, 3), np.uint8)], "images[0]"),
        (["not an image"], "images[0]"),
    ],
)
def test_preprocess_rejects_bad_images_naming_the_index(images, field):
    with pytest.raises(InvalidFieldError) as info:
        preprocess(images, 32)
    assert info.value.field == field


@pytest.mark.parametrize(("height", "width"), [(480, 640), (640, 480), (123, 457), (320, 320)])
def test_scale_boxes_undoes_letterbox(height, width):
    _, placement = letterbox(np.zeros((height, width, 3), np.uint8), 320)
    original = np.array([[10, 20, 100, 90], [0, 0, width, height]], np.float32)
    in_input = original * placement.scale + np.array([placement.pad_x, placement.pad_y] * 2, np.float32)
    np.testing.assert_allclose(scale_boxes(in_input, placement), original, atol=1e-3)


def test_scale_boxes_clips_to_the_image():
    placement = Letterbox(scale=1.0, pad_x=0, pad_y=10, width=50, height=30)
    out = scale_boxes(np.array([[-5, 0, 60, 60]], np.float32), placement)
    np.testing.assert_array_equal(out, [[0, 0, 50, 30]])


@pytest.mark.parametrize(
    ("boxes", "scores", "iou", "max_det", "kept"),
    [
        ([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], [0.9, 0.8, 0.7], 0.5, 10, [0, 2]),
        ([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], [0.8, 0.9, 0.7], 0.5, 10, [1, 2]),
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.9, 0.8], 0.9, 10, [0, 1]),  # IoU 0.68 < 0.9: both stay
        ([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], [0.5, 0.9, 0.7], 0.5, 2, [1, 2]),
        ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.5, 0.5], 0.5, 10, [0]),  # tie keeps the first
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], 1 / 3, 10, [0, 1]),  # IoU == threshold: kept
    ],
)
def test_nms_table(boxes, scores, iou, max_det, kept):
    result = nms(np.array(boxes, np.float32), np.array(scores, np.float32), iou, max_det)
    assert result.tolist() == kept


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_matches_torchvision(seed):
    torch = pytest.importorskip("torch")
    from torchvision.ops import nms as tv_nms

    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, (300, 2)).astype(np.float32)
    wh = rng.uniform(5, 60, (300, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + wh], axis=1)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    expected = tv_nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.45).numpy()
    assert nms(boxes, scores, 0.45, 1000).tolist() == expected.tolist()


def test_box_iou_of_disjoint_touching_and_identical_boxes():
    ious = box_iou(
        np.array([0, 0, 10, 10], np.float32),
        np.array([[10, 0, 20, 10], [0, 0, 10, 10], [0, 0, 5, 10]], np.float32),
    )
    np.testing.assert_allclose(ious, [0.0, 1.0, 0.5])


def _raw(anchors: list[tuple[float, float, float, float, list[float]]], nc: int = 3) -> np.ndarray:
    """Build a raw (4 + nc, A) output from (cx, cy, w, h, class scores) anchors."""
    out = np.zeros((4 + nc, len(anchors)), np.float32)
    for i, (cx, cy, w, h, scores) in enumerate(anchors):
        out[:4, i] = cx, cy, w, h
        out[4:, i] = scores
    return out


@pytest.mark.parametrize(
    ("anchors", "options", "expected_boxes", "expected_classes"),
    [
        # two overlapping boxes of different classes survive class-aware NMS
        (
            [(50, 50, 20, 20, [0.9, 0, 0]), (51, 51, 20, 20, [0, 0.8, 0])],
            DecodeOptions(),
            [[40, 40, 60, 60], [41, 41, 61, 61]],
            [0, 1],
        ),
        # ... but not class-agnostic NMS
        (
            [(50, 50, 20, 20, [0.9, 0, 0]), (51, 51, 20, 20, [0, 0.8, 0])],
            DecodeOptions(agnostic=True),
            [[40, 40, 60, 60]],
            [0],
        ),
        # same class overlapping: the better one stays
        (
            [(50, 50, 20, 20, [0.5, 0, 0]), (51, 51, 20, 20, [0.7, 0, 0])],
            DecodeOptions(),
            [[41, 41, 61, 61]],
            [0],
        ),
        # threshold is strict; best class per anchor wins
        (
            [(10, 10, 4, 4, [0.25, 0, 0]), (30, 30, 4, 4, [0.1, 0.2, 0.6])],
            DecodeOptions(conf=0.25),
            [[28, 28, 32, 32]],
            [2],
        ),
        # max_det keeps the best
        (
            [(10, 10, 4, 4, [0.3, 0, 0]), (30, 30, 4, 4, [0.9, 0, 0]), (60, 60, 4, 4, [0.5, 0, 0])],
            DecodeOptions(max_det=2),
            [[28, 28, 32, 32], [58, 58, 62, 62]],
            [0, 0],
        ),
        # max_candidates trims before NMS
        (
            [(10, 10, 4, 4, [0.3, 0, 0]), (30, 30, 4, 4, [0.9, 0, 0]), (60, 60, 4, 4, [0.5, 0, 0])],
            DecodeOptions(max_candidates=1),
            [[28, 28, 32, 32]],
            [0],
        ),
        ([(10, 10, 4, 4, [0.1, 0.1, 0.1])], DecodeOptions(), [], []),
    ],
)
def test_decode_raw_table(anchors, options, expected_boxes, expected_classes):
    xyxy, scores, classes = decode_raw(_raw(anchors), 3, options)
    np.testing.assert_allclose(xyxy, np.array(expected_boxes, np.float32).reshape(-1, 4))
    assert classes.tolist() == expected_classes
    assert (np.diff(scores) <= 0).all()


@pytest.mark.parametrize("shape", [(8, 10), (6, 10), (7,)])
def test_decode_raw_refuses_a_layout_that_does_not_fit_the_classes(shape):
    with pytest.raises(ModelContractError, match="3 classes"):
        decode_raw(np.zeros(shape, np.float32), 3, DecodeOptions())


@pytest.mark.parametrize(
    ("rows", "conf", "max_det", "expected_scores", "expected_classes"),
    [
        ([[0, 0, 5, 5, 0.9, 2], [1, 1, 6, 6, 0.2, 1], [0, 0, 0, 0, 0, 0]], 0.25, 10, [0.9], [2]),
        ([[0, 0, 5, 5, 0.3, 0], [1, 1, 6, 6, 0.8, 1]], 0.25, 10, [0.8, 0.3], [1, 0]),
        ([[0, 0, 5, 5, 0.3, 0], [1, 1, 6, 6, 0.8, 1]], 0.25, 1, [0.8], [1]),
    ],
)
def test_decode_nms_table(rows, conf, max_det, expected_scores, expected_classes):
    _, scores, classes = decode_nms(np.array(rows, np.float32), 3, DecodeOptions(conf=conf, max_det=max_det))
    np.testing.assert_allclose(scores, expected_scores)
    assert classes.tolist() == expected_classes


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (np.zeros((4, 5), np.float32), r"\(max_det, 6\)"),
        (np.array([[0, 0, 5, 5, 0.9, 3]], np.float32), "class ids"),
    ],
)
def test_decode_nms_refuses_bad_rows(rows, match):
    with pytest.raises(ModelContractError, match=match):
        decode_nms(rows, 3, DecodeOptions())


def test_postprocess_maps_each_image_back_to_its_own_pixels():
    placements = [
        Letterbox(scale=0.5, pad_x=0, pad_y=40, width=640, height=480),
        Letterbox(scale=1.0, pad_x=0, pad_y=0, width=320, height=320),
    ]
    outputs = np.stack([_raw([(50, 90, 20, 20, [0.9, 0, 0])]), _raw([(100, 100, 10, 10, [0, 0, 0.8])])])
    results = postprocess(outputs, placements, NAMES, "raw", DecodeOptions())
    np.testing.assert_allclose(results[0].xyxy, [[80, 80, 120, 120]])  # (40..60 - pad 40) / 0.5 vertically
    np.testing.assert_allclose(results[1].xyxy, [[95, 95, 105, 105]])
    assert [r.names() for r in results] == [["a"], ["c"]]


@pytest.mark.parametrize("batch", [1, 3])
def test_postprocess_refuses_a_result_count_that_differs_from_the_image_count(batch):
    placements = [Letterbox(scale=1.0, pad_x=0, pad_y=0, width=8, height=8)] * 2
    with pytest.raises(InferenceError, match="for 2 images"):
        postprocess(np.zeros((batch, 7, 4), np.float32), placements, NAMES, "raw", DecodeOptions())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"conf": 1.5}, "conf"),
        ({"iou": -0.1}, "iou"),
        ({"max_det": 0}, "max_det"),
        ({"max_candidates": 0}, "max_candidates"),
    ],
)
def test_decode_options_validate(kwargs, field):
    with pytest.raises(InvalidFieldError) as info:
        DecodeOptions(**kwargs)
    assert info.value.field == field


def test_uint8_frames_normalised_by_the_server_equal_the_client_preprocessing():
    """The embedded server gets letterboxed uint8 frames; its model must see exactly ``preprocess``."""
    from linecheck.model.processing import letterbox_batch, normalise
    from linecheck.serving.triton.python_model import TritonPythonModel

    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((48, 64), (64, 30), (64, 64))]
    frames, placements = letterbox_batch(images, 64)
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8
    reference, ref_placements = preprocess(images, 64)
    assert placements == ref_placements
    np.testing.assert_array_equal(normalise(frames), reference)
    server = TritonPythonModel()
    server.takes_frames, server.input_dtype = True, np.float32
    np.testing.assert_array_equal(server._model_input(frames), reference)
    server.input_dtype = np.float16  # an fp16 graph gets the same values, rounded once
    np.testing.assert_array_equal(server._model_input(frames), reference.astype(np.float16))
