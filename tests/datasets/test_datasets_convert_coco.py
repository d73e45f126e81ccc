from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from linecheck.datasets.convert.coco import convert_coco
from linecheck.datasets.yolo import load_yolo, validate_yolo
from linecheck.errors import ConversionError


def coco(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
            {"id": 2, "file_name": "sub/b.png", "width": 100, "height": 50},
            {"id": 3, "file_name": "c.png", "width": 100, "height": 50},
        ],
        "categories": [{"id": 7, "name": "stain"}, {"id": 3, "name": "hole"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 5, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 7, "bbox": [90, 40, 20, 20], "segmentation": [[1, 2]]},
            {"id": 3, "image_id": 2, "category_id": 7, "bbox": [0, 0, 50, 25]},
            {"id": 4, "image_id": 2, "category_id": 3, "bbox": [0, 0, 100, 50], "iscrowd": 1},
            {"id": 5, "image_id": 2, "category_id": 3, "bbox": [5, 5, 0, 10]},
        ],
    }
    data.update(overrides)
    return data


@pytest.fixture
def coco_src(tmp_path: Path, image_writer: Callable[..., Path]) -> Path:
    src = tmp_path / "coco"
    for name in ("a.jpg", "sub/b.png", "c.png"):
        image_writer(src / "images" / name, (100, 50))
    (src / "annotations").mkdir()
    (src / "annotations" / "instances.json").write_text(json.dumps(coco()))
    return src


def test_coco_converts_with_contiguous_ids_in_category_order(coco_src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out"
    report = convert_coco(coco_src, dst)
    assert report.names == ("hole", "stain")  # category ids 3, 7
    assert (report.images, report.boxes, report.backgrounds) == (3, 3, 1)
    assert report.per_class == {"hole": 1, "stain": 2}
    assert sorted(s.reason for s in report.skipped) == [
        "annotations[3]: crowd annotation (iscrowd=1) left out",
        "annotations[4]: bbox [5, 5, 0, 10] has no area",
    ]
    assert list(validate_yolo(dst)) == []
    samples = {s.image.stem: s for s in load_yolo(dst).samples()}
    assert set(samples) == {"a", "sub__b", "c"}
    # [10, 5, 20, 10] on 100x50 -> centre (20, 10); [90, 40, 20, 20] clipped to [90, 40, 100, 50]
    np.testing.assert_allclose(samples["a"].boxes, [[0, 0.2, 0.2, 0.2, 0.2], [1, 0.95, 0.9, 0.1, 0.2]])
    np.testing.assert_allclose(samples["sub__b"].boxes, [[1, 0.25, 0.25, 0.5, 0.5]])
    assert samples["c"].is_background


def test_json_file_and_images_option(coco_src: Path, tmp_path: Path) -> None:
    json_file = tmp_path / "elsewhere.json"
    json_file.write_text(json.dumps(coco()))
    report = convert_coco(json_file, tmp_path / "out", images_dir=coco_src / "images")
    assert report.images == 3 and report.source == json_file


def test_missing_and_unreadable_images_are_skipped(coco_src: Path, tmp_path: Path) -> None:
    (coco_src / "images" / "c.png").unlink()
    (coco_src / "images" / "a.jpg").write_bytes(b"")
    report = convert_coco(coco_src, tmp_path / "out")
    assert report.images == 1
    skipped = {s.path.name: s.reason for s in report.skipped if not s.reason.startswith("annotations[")}
    assert skipped["a.jpg"] == "image file is empty (0 bytes)"
    assert skipped["instances.json"].startswith("image 'c.png' not found")
    assert len(skipped) == 2


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (coco(images={}), "'images' must be a list"),
        (coco(annotations=[1]), r"annotations\[0\] must be an object"),
        (coco(categories=[{"id": "x", "name": "a"}]), r"categories\[0\]\.id='x': expected int"),
        (coco(categories=[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]), "used twice"),
        (coco(categories=[{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]), "used twice"),
        (coco(categories=[]), "'categories' is empty"),
        (coco(images=[{"id": 1}]), r"images\[0\]\.file_name is missing"),
        (coco(annotations=[{"image_id": 9, "category_id": 3, "bbox": [0, 0, 1, 1]}]), "image_id=9 is not in"),
        (
            coco(annotations=[{"image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1]}]),
            "category_id=5 is not in",
        ),
        (coco(annotations=[{"image_id": 1, "category_id": 3, "bbox": [0, 0, 1]}]), r"bbox=\[0, 0, 1\]"),
        (coco(annotations=[{"image_id": 1, "category_id": 3, "bbox": [0, "a", 1, 1]}]), "expected .x, y"),
    ],
)
def test_bad_json_content_raises_naming_the_field(
    tmp_path: Path, image_writer, data: dict[str, Any], match: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConversionError, match=match) as info:
        convert_coco(path, tmp_path / "out")
    assert info.value.path == path
    assert not (tmp_path / "out").exists()


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "images": [\n    {"id": 1,,}\n  ]\n}')
    with pytest.raises(ConversionError, match="malformed JSON") as info:
        convert_coco(path, tmp_path / "out")
    assert info.value.line == 3


def test_folder_with_several_json_files_must_name_one(coco_src: Path, tmp_path: Path) -> None:
    (coco_src / "a.json").write_text("{}")
    (coco_src / "b.json").write_text("{}")
    with pytest.raises(ConversionError, match=r"a\.json, b\.json"):
        convert_coco(coco_src, tmp_path / "out")
