from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from linecheck.datasets.convert.mask import convert_mask, mask_boxes, parse_value_map
from linecheck.datasets.yolo import load_yolo, validate_yolo
from linecheck.errors import ConversionError, InvalidFieldError


def write_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), mask)


def blobs(shape: tuple[int, int] = (50, 100)) -> np.ndarray:
    """Two defects: rows 10..19 x cols 20..39 (value 255) and rows 30..34 x cols 70..79 (value 255)."""
    mask = np.zeros(shape, np.uint8)
    mask[10:20, 20:40] = 255
    mask[30:35, 70:80] = 255
    mask[45, 5] = 255  # a 1-pixel speck
    return mask


@pytest.fixture
def fabric(tmp_path: Path, image_writer: Callable[..., Path]) -> Path:
    src = tmp_path / "fabric"
    for stem in ("f1", "f2", "f3"):
        image_writer(src / "images" / f"{stem}.png", (100, 50))
    write_mask(src / "masks" / "f1_mask.png", blobs())
    write_mask(src / "masks" / "f2.png", np.zeros((50, 100), np.uint8))
    return src  # f3 has no mask: defect-free


def test_mask_components_become_boxes(fabric: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    report = convert_mask(fabric, dst, class_name="hole", min_area=4)
    assert report.names == ("hole",)
    assert (report.images, report.boxes, report.backgrounds) == (3, 2, 2)
    assert [(s.path.name, s.reason) for s in report.skipped] == [
        ("f1_mask.png", "1 component(s) smaller than 4 px left out")
    ]
    assert list(validate_yolo(dst)) == []
    samples = {s.image.stem: s for s in load_yolo(dst).samples()}
    expected = [[0, 30 / 100, 15 / 50, 20 / 100, 10 / 50], [0, 75 / 100, 32.5 / 50, 10 / 100, 5 / 50]]
    got = samples["f1"].boxes
    np.testing.assert_allclose(got[np.argsort(got[:, 1])], expected)
    assert samples["f2"].is_background and samples["f3"].is_background


def test_min_area_one_keeps_the_speck(fabric: Path, tmp_path: Path) -> None:
    report = convert_mask(fabric, tmp_path / "out", min_area=1)
    assert report.boxes == 3 and report.skipped == []


def test_value_map_gives_classes_and_reports_unmapped_values(tmp_path: Path, image_writer) -> None:
    src = tmp_path / "src"
    image_writer(src / "images" / "a.png", (100, 50))
    mask = np.zeros((50, 100), np.uint8)
    mask[0:10, 0:10] = 1
    mask[20:30, 50:70] = 2
    mask[40:50, 90:100] = 3
    mask[0:5, 90:100] = 9
    write_mask(src / "masks" / "a.png", mask)
    report = convert_mask(src, tmp_path / "out", value_map={1: "hole", 2: "stain", 3: "hole"})
    assert report.names == ("hole", "stain")
    assert report.per_class == {"hole": 2, "stain": 1}
    assert [s.reason for s in report.skipped] == ["pixel values [9] not in the value map left out"]
    boxes = load_yolo(tmp_path / "out").samples()[0].boxes
    assert sorted(boxes[:, 0].tolist()) == [0.0, 0.0, 1.0]


def test_nested_folders_like_mvtec_and_ground_truth_folder(tmp_path: Path, image_writer) -> None:
    src = tmp_path / "src"
    for defect in ("cut", "hole"):
        image_writer(src / "images" / defect / "000.png", (40, 40))
        mask = np.zeros((40, 40), np.uint8)
        mask[5:15, 5:15] = 255
        write_mask(src / "ground_truth" / defect / "000_mask.png", mask)
    report = convert_mask(src, tmp_path / "out")
    assert report.images == 2 and report.boxes == 2
    assert sorted(p.name for p in (tmp_path / "out/images").iterdir()) == ["cut__000.png", "hole__000.png"]


def test_problem_masks_are_skipped_with_reasons(fabric: Path, tmp_path: Path) -> None:
    colour = np.zeros((50, 100, 3), np.uint8)
    colour[:, :, 2] = 255
    write_mask(fabric / "masks" / "f2.png", colour)
    write_mask(fabric / "masks" / "f3.png", np.zeros((10, 10), np.uint8))  # wrong aspect ratio
    write_mask(fabric / "masks" / "orphan.png", np.zeros((50, 100), np.uint8))
    report = convert_mask(fabric, tmp_path / "out")
    assert report.images == 1
    assert sorted((s.path.name, s.reason) for s in report.skipped) == [
        ("f1_mask.png", "1 component(s) smaller than 4 px left out"),
        ("f2.png", "colour mask: expected one channel (or equal channels)"),
        ("f3.png", "mask is 10x10 but its image is 100x50"),
        ("orphan.png", "no image for this mask"),
    ]


def test_half_size_mask_scales(tmp_path: Path, image_writer) -> None:
    src = tmp_path / "src"
    image_writer(src / "images" / "a.png", (200, 100))
    mask = np.zeros((50, 100), np.uint8)
    mask[0:25, 0:50] = 255
    write_mask(src / "masks" / "a.png", mask)
    convert_mask(src, tmp_path / "out")
    np.testing.assert_allclose(load_yolo(tmp_path / "out").samples()[0].boxes, [[0, 0.25, 0.25, 0.5, 0.5]])


@pytest.mark.parametrize(
    ("threshold", "boxes"),
    [(0, 2), (100, 1), (200, 0)],
)
def test_threshold(threshold: int, boxes: int) -> None:
    mask = np.zeros((20, 20), np.uint8)
    mask[0:5, 0:5] = 50
    mask[10:15, 10:15] = 150
    rows, dropped, unmapped = mask_boxes(mask, None, threshold=threshold, min_area=1)
    assert rows.shape == (boxes, 5) and dropped == 0 and unmapped == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1=hole", {1: "hole"}),
        (" 1=hole, 2 = stain ", {1: "hole", 2: "stain"}),
        ("255=defect", {255: "defect"}),
    ],
)
def test_parse_value_map(text: str, expected: dict[int, str]) -> None:
    assert parse_value_map(text) == expected


@pytest.mark.parametrize("text", ["hole", "1=", "=hole", "x=hole", "0=hole", "1=a,1=b", "-1=a"])
def test_parse_value_map_refuses(text: str) -> None:
    with pytest.raises(InvalidFieldError, match="value_map"):
        parse_value_map(text)


def test_layout_and_options_are_checked(tmp_path: Path) -> None:
    (tmp_path / "src" / "images").mkdir(parents=True)
    with pytest.raises(ConversionError, match="masks folder"):
        convert_mask(tmp_path / "src", tmp_path / "out")
    with pytest.raises(InvalidFieldError, match="min_area"):
        convert_mask(tmp_path / "src", tmp_path / "out", min_area=0)
