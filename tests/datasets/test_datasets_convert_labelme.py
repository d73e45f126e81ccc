"""labelme JSON (one file per image, as factory teams label defects) converts to YOLO detection."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.datasets.convert import SplitOptions
from linecheck.datasets.convert.labelme import convert_labelme
from linecheck.datasets.yolo import load_yolo, validate_yolo
from linecheck.errors import ConversionError

SCRATCH, DENT = "划痕", "凹坑"


def shape(label: str, points: list[list[float]], shape_type: str | None = "rectangle") -> dict[str, Any]:
    item: dict[str, Any] = {"label": label, "points": points, "group_id": None, "flags": {}}
    if shape_type is not None:
        item["shape_type"] = shape_type
    return item


def labelme(path: Path, image_path: str | None, shapes: list[dict], **extra: Any) -> Path:
    data = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path, "imageData": None}
    data.update({"imageHeight": 100, "imageWidth": 200, **extra})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


@pytest.fixture
def labelled(tmp_path: Path, image_writer: Callable[..., Path]) -> Path:
    """A labelme project: JSON beside images, one in a sub-folder pointing back with back-slashes."""
    src = tmp_path / "project"
    image_writer(src / "a.jpg", (200, 100))
    image_writer(src / "imgs" / "b.png", (200, 100))
    image_writer(src / "c.jpg", (200, 100))  # never labelled: no JSON
    labelme(
        src / "a.json",
        "a.jpg",
        [
            shape(SCRATCH, [[150, 80], [50, 20]]),  # corners in either order
            shape(DENT, [[10, 10], [30, 5], [40, 30], [12, 35]], "polygon"),
            shape(DENT, [[100, 50], [110, 50]], "circle"),  # centre, rim: radius 10
            shape("mark", [[5, 5]], "point"),
        ],
    )
    labelme(src / "json" / "b.json", "..\\imgs\\b.png", [shape(SCRATCH, [[-20, 50], [60, 150]], None)])
    (src / "classes.json").write_text(json.dumps({"names": ["x"]}))  # some other JSON
    return src


def test_labelme_project_converts_every_area_shape(labelled: Path, tmp_path: Path) -> None:
    report = convert_labelme(labelled, tmp_path / "out")
    assert report.names == (DENT, SCRATCH) and report.source_format == "labelme"
    assert (report.images, report.boxes) == (2, 4)
    assert list(validate_yolo(tmp_path / "out")) == []
    reasons = {(p.name, r) for p, r in ((i.path, i.reason) for i in report.skipped)}
    assert ("a.json", "shapes[3] (mark): a point has no area") in reasons
    assert ("classes.json", "not a labelme file (no 'shapes' list)") in reasons
    assert any(name == "c.jpg" and "no labelme JSON" in why for name, why in reasons)
    samples = {s.image.stem: s for s in load_yolo(tmp_path / "out").samples()}
    np.testing.assert_allclose(
        samples["a"].boxes,
        [[1, 0.5, 0.5, 0.5, 0.6], [0, 0.125, 0.2, 0.15, 0.3], [0, 0.5, 0.5, 0.1, 0.2]],
    )
    # no shape_type: labelme's default polygon; clipped to the image (x 0..60, y 50..100)
    np.testing.assert_allclose(samples["json__b"].boxes, [[1, 0.15, 0.75, 0.3, 0.5]])


def test_embedded_image_data_and_classes_filter(tmp_path: Path) -> None:
    src = tmp_path / "embedded"
    ok, png = cv2.imencode(".png", np.full((40, 60, 3), 90, np.uint8))
    assert ok
    data = base64.b64encode(png.tobytes()).decode()
    shapes = [shape(SCRATCH, [[0, 0], [30, 20]]), shape("dust", [[1, 1], [2, 2]])]
    labelme(src / "x.json", "gone/x.png", shapes, imageData=data, imageWidth=60, imageHeight=40)
    report = convert_labelme(src, tmp_path / "out", classes=[SCRATCH])
    assert report.names == (SCRATCH,) and (report.images, report.boxes) == (1, 1)
    assert any("label 'dust' not in --classes" in i.reason for i in report.skipped)
    image = cv2.imread(str(tmp_path / "out" / "images" / "x.png"))
    assert image is not None and image.shape == (40, 60, 3)


def test_bad_labelme_files_are_named(tmp_path: Path, image_writer: Callable[..., Path]) -> None:
    src = tmp_path / "bad"
    image_writer(src / "a.jpg", (200, 100))
    labelme(src / "a.json", "a.jpg", [shape(SCRATCH, [[1, 2], ["x", 3]])])
    with pytest.raises(ConversionError, match=r"a\.json.*shapes\[0\]\.points="):
        convert_labelme(src, tmp_path / "out1")
    labelme(src / "a.json", "a.jpg", [shape("", [[1, 2], [3, 4]])])
    with pytest.raises(ConversionError, match=r"shapes\[0\]\.label=''"):
        convert_labelme(src, tmp_path / "out2")
    (src / "a.json").write_text('{"shapes": [}')
    with pytest.raises(ConversionError, match="malformed JSON") as caught:
        convert_labelme(src, tmp_path / "out3")
    assert caught.value.line == 1
    labelme(src / "a.json", "missing.jpg", [shape(SCRATCH, [[1, 2], [30, 40]])])
    (src / "a.jpg").unlink()
    with pytest.raises(ConversionError, match=r"nothing to convert.*image not found"):
        convert_labelme(src, tmp_path / "out4")
    with pytest.raises(ConversionError, match="must be a folder"):
        convert_labelme(src / "a.json", tmp_path / "out5")
    assert not any((tmp_path / f"out{i}").exists() for i in range(1, 6))


def test_cli_converts_and_splits_labelme(labelled: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "data",
            "convert",
            "--from",
            "labelme",
            str(labelled),
            str(tmp_path / "out"),
            "--val",
            "0.5",
            "--test",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 images" in result.output
    assert sorted(load_yolo(tmp_path / "out").splits) == ["train", "val"]


def test_split_options_reach_the_converter(labelled: Path, tmp_path: Path) -> None:
    report = convert_labelme(labelled, tmp_path / "out", split=SplitOptions(val=0.5, test=0.0, seed=3))
    assert sum(report.splits.values()) == 2


def test_rename_maps_source_names_to_the_lines_and_merges_alike(labelled: Path, tmp_path: Path) -> None:
    rename = {SCRATCH: "scratch", DENT: "scratch", "rust": "corrosion"}
    report = convert_labelme(labelled, tmp_path / "out", rename=rename)
    assert report.names == ("scratch",) and report.per_class == {"scratch": 4}
    assert any("rename rust=corrosion: no class 'rust' in the source" in n.reason for n in report.notes)
    assert list(validate_yolo(tmp_path / "out")) == []
    boxes = np.concatenate([s.boxes for s in load_yolo(tmp_path / "out").samples()])
    assert set(boxes[:, 0].tolist()) == {0.0}
    # --classes chooses among the source's names, then --rename names what is kept
    kept = convert_labelme(labelled, tmp_path / "kept", classes=[SCRATCH], rename={SCRATCH: "scratch"})
    assert kept.names == ("scratch",) and kept.boxes == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--from", "labelme", "--rename", "划痕"], "rename='划痕': entry '划痕': expected SOURCE=NEW"),
        (["--from", "labelme", "--rename", "a=b,a=c"], "'a' is renamed twice"),
        (["--from", "mask", "--rename", "a=b"], "mask sources name their classes with --value-map"),
    ],
)
def test_bad_rename_is_refused_naming_it(
    labelled: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    result = CliRunner().invoke(app, ["data", "convert", str(labelled), str(tmp_path / "out"), *args])
    assert result.exit_code == 1 and needle in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_csv_classes_are_renamed_too(tmp_path: Path, image_writer: Callable[..., Path]) -> None:
    from linecheck.datasets.convert.csv import convert_csv

    rows = ["path,label"]
    for i in range(8):
        image_writer(tmp_path / "cells" / f"c{i}.png", (20, 20), value=i)
        rows.append(f"c{i}.png,{'缺陷' if i % 2 else '良品'}")
    (tmp_path / "cells" / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = convert_csv(tmp_path / "cells", tmp_path / "out", rename={"缺陷": "defective", "良品": "good"})
    assert set(report.names) == {"defective", "good"}
    assert {p.name for p in (tmp_path / "out" / "train").iterdir()} == {"defective", "good"}
