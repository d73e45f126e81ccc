from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from linecheck.datasets.convert import SplitOptions
from linecheck.datasets.convert.voc import convert_voc, parse_voc_xml
from linecheck.datasets.yolo import load_yolo, validate_yolo
from linecheck.errors import ConversionError, DatasetError


def voc_xml(
    filename: str | None, objects: list[tuple[str, float, float, float, float]], size=(200, 100)
) -> str:
    name = f"<filename>{filename}</filename>" if filename is not None else ""
    body = "".join(
        f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for n, x1, y1, x2, y2 in objects
    )
    w, h = size
    return (
        f"<annotation><folder>NEU-DET</folder>{name}<size><width>{w}</width><height>{h}</height>"
        f"<depth>1</depth></size>{body}</annotation>"
    )


@pytest.fixture
def neu_det(tmp_path: Path, image_writer: Callable[..., Path]) -> Path:
    """A tiny NEU-DET-like source: ANNOTATIONS/*.xml + IMAGES/*.jpg, 200x100 images."""
    src = tmp_path / "NEU-DET"
    (src / "ANNOTATIONS").mkdir(parents=True)
    files = {
        "scratches_1": ("scratches_1.jpg", [("scratches", 1, 1, 100, 50)]),
        "patches_2": ("patches_2", [("patches", 101, 51, 200, 100), ("scratches", 21, 11, 60, 30)]),
        "inclusion_3": ("inclusion_3.jpg", []),
    }
    for stem, (filename, objects) in files.items():
        image_writer(src / "IMAGES" / f"{stem}.jpg", (200, 100))
        (src / "ANNOTATIONS" / f"{stem}.xml").write_text(voc_xml(filename, objects))
    return src


def test_neu_det_layout_converts_to_a_valid_dataset(neu_det: Path, tmp_path: Path) -> None:
    dst = tmp_path / "yolo"
    report = convert_voc(neu_det, dst)
    assert report.names == ("patches", "scratches")
    assert (report.images, report.boxes, report.backgrounds) == (3, 3, 1)
    assert report.per_class == {"patches": 1, "scratches": 2}
    assert report.skipped == [] and report.notes == []
    assert list(validate_yolo(dst)) == []
    samples = {s.image.stem: s for s in load_yolo(dst).samples()}
    # VOC 1-based inclusive pixels: xmin=1..xmax=100 covers [0, 100] of 200 px.
    np.testing.assert_allclose(samples["scratches_1"].boxes, [[1, 0.25, 0.25, 0.5, 0.5]])
    np.testing.assert_allclose(
        samples["patches_2"].boxes, [[0, 0.75, 0.75, 0.5, 0.5], [1, 0.2, 0.2, 0.2, 0.2]]
    )
    assert samples["inclusion_3"].is_background


def test_voc_layout_with_classes_option_and_split(tmp_path: Path, image_writer: Callable[..., Path]) -> None:
    src = tmp_path / "VOC"
    (src / "Annotations").mkdir(parents=True)
    for i in range(10):
        image_writer(src / "JPEGImages" / f"{i:04d}.png", (200, 100))
        objects = [("stain", 10, 10, 50, 50), ("dog", 1, 1, 20, 20)] if i % 2 else [("hole", 5, 5, 40, 40)]
        (src / "Annotations" / f"{i:04d}.xml").write_text(voc_xml(f"{i:04d}.png", objects))
    dst = tmp_path / "out"
    report = convert_voc(src, dst, classes=["stain", "hole"], split=SplitOptions(val=0.2, test=0.1, seed=1))
    assert report.names == ("stain", "hole")
    assert report.per_class == {"stain": 5, "hole": 5}
    assert [s.reason for s in report.skipped] == ["object 2: class 'dog' not in --classes"] * 5
    assert report.splits == {"train": 7, "val": 2, "test": 1}
    assert list(validate_yolo(dst)) == []
    assert sorted(p.name for p in (dst / "images").iterdir()) == ["test", "train", "val"]


def test_bad_boxes_and_unmatched_files_are_reported(neu_det: Path, tmp_path: Path, image_writer) -> None:
    ann = neu_det / "ANNOTATIONS"
    objects = [("crazing", 150, 20, 400, 80), ("crazing", 300, 10, 350, 20), ("crazing", 50, 50, 10, 60)]
    (ann / "crazing_4.xml").write_text(voc_xml("crazing_4.jpg", objects, size=(640, 480)))
    image_writer(neu_det / "IMAGES" / "crazing_4.jpg", (200, 100))
    (ann / "ghost_5.xml").write_text(voc_xml("ghost_5.jpg", [("crazing", 1, 1, 5, 5)]))
    image_writer(neu_det / "IMAGES" / "lonely_6.jpg", (200, 100))
    (neu_det / "IMAGES" / "broken_7.jpg").write_bytes(b"not a jpeg")
    (ann / "broken_7.xml").write_text(voc_xml("broken_7.jpg", [("crazing", 1, 1, 5, 5)]))

    report = convert_voc(neu_det, tmp_path / "out")
    assert sorted((p.path.name, p.reason) for p in report.skipped) == [
        ("broken_7.jpg", "image cannot be decoded (corrupt or not an image)"),
        ("crazing_4.xml", "object 2 (crazing): no area left after clipping to 200x100"),
        ("crazing_4.xml", "object 3 (crazing): inverted box"),
        ("ghost_5.xml", f"image not found (no image 'ghost_5.jpg' under {neu_det / 'IMAGES'})"),
        ("lonely_6.jpg", "no annotation XML for this image"),
    ]
    assert [n.path.name for n in report.notes] == ["crazing_4.xml"]  # <size> 640x480 vs real 200x100
    sample = next(s for s in load_yolo(tmp_path / "out").samples() if s.image.stem == "crazing_4")
    # xmin..xmax = 150..400 -> [149, 400] clipped to [149, 200]; ymin..ymax = 20..80 -> [19, 80]
    expected = [[0, (149 + 200) / 2 / 200, (19 + 80) / 2 / 100, 51 / 200, 61 / 100]]
    np.testing.assert_allclose(sample.boxes, expected, atol=1e-6)


def test_images_in_class_subfolders_are_found(tmp_path: Path, image_writer) -> None:
    src = tmp_path / "train"
    image_writer(src / "images" / "crazing" / "crazing_1.jpg", (200, 100))
    (src / "annotations").mkdir(parents=True)
    (src / "annotations" / "crazing_1.xml").write_text(voc_xml("crazing_1.jpg", [("crazing", 1, 1, 10, 10)]))
    report = convert_voc(src, tmp_path / "out")
    assert report.images == 1
    assert (tmp_path / "out/images/crazing__crazing_1.jpg").is_file()


@pytest.mark.parametrize(
    ("text", "match", "line"),
    [
        ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotation/>', "DOCTYPE", None),
        ("<annotation><object><name>a</name>\n<bndbox><xmin>1</xmin></object>", "malformed XML", 2),
        ("<foo/>", "expected <annotation>", None),
        ("<annotation><object><bndbox/></object></annotation>", "object 1: <name> is missing", None),
        ("<annotation><object><name>a</name></object></annotation>", r"object 1 \(a\): <bndbox>", None),
        (
            "<annotation><object><name>a</name><bndbox><xmin>x</xmin><ymin>1</ymin><xmax>2</xmax>"
            "<ymax>2</ymax></bndbox></object></annotation>",
            "<xmin>x</xmin> is not a number",
            None,
        ),
        (
            "<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>"
            "</bndbox></object></annotation>",
            "<ymax> is missing",
            None,
        ),
        ("<annotation><size><width>w</width></size></annotation>", "<size><width>w</width>", None),
    ],
)
def test_bad_xml_raises_naming_the_file(tmp_path: Path, text: str, match: str, line: int | None) -> None:
    path = tmp_path / "a.xml"
    path.write_text(text)
    with pytest.raises(ConversionError, match=match) as info:
        parse_voc_xml(path)
    assert info.value.path == path and info.value.line == line


def test_bad_xml_stops_the_conversion_and_writes_nothing(neu_det: Path, tmp_path: Path) -> None:
    (neu_det / "ANNOTATIONS" / "scratches_1.xml").write_text("<annotation><object>")
    with pytest.raises(ConversionError, match=r"scratches_1\.xml"):
        convert_voc(neu_det, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda src: src.mkdir(), "no VOC annotations found"),
        (lambda src: None, "must be a folder"),
    ],
)
def test_unrecognised_source_is_refused(tmp_path: Path, setup: Callable[[Path], object], match: str) -> None:
    src = tmp_path / "src"
    setup(src)
    with pytest.raises(ConversionError, match=match):
        convert_voc(src, tmp_path / "out")


def test_destination_with_files_is_refused(neu_det: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("keep")
    with pytest.raises(DatasetError, match="not an empty folder"):
        convert_voc(neu_det, tmp_path / "out")
    assert (tmp_path / "out" / "x").read_text() == "keep"
