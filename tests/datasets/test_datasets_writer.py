from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linecheck.datasets.writer import YoloWriter
from linecheck.datasets.yolo import load_yolo, validate_yolo
from linecheck.errors import DatasetError, InvalidFieldError

IMAGE = np.full((24, 32, 3), 90, np.uint8)


def test_writes_a_split_dataset_that_loads(tmp_path: Path) -> None:
    dst = tmp_path / "out"
    with YoloWriter(dst, ["hole", "stain"], splits=("train", "val"), extra={"kind": "textile"}) as writer:
        written = writer.add("a", IMAGE, [[1, 0.5, 0.5, 0.2, 0.2]], split="train")
        writer.add("b", IMAGE, [], split="val", suffix=".JPG")
        yaml_file = writer.commit()
    assert written == dst / "images/train/a.png" and written.is_file()
    assert (dst / "images/val/b.jpg").is_file()
    assert yaml_file == dst / "data.yaml" and "kind: textile" in yaml_file.read_text()
    assert f"path: {dst.resolve()}\n" in yaml_file.read_text()  # the destination, not the staging folder
    assert (dst / "labels/val/b.txt").read_text() == ""
    assert list(validate_yolo(dst)) == []
    dataset = load_yolo(dst)
    assert dataset.splits["train"][0].classes.tolist() == [1]
    assert writer.images == 2 and writer.backgrounds == 1 and writer.boxes_per_class == {"stain": 1}
    assert not list(tmp_path.glob(".out.partial-*"))


def test_copies_image_files_byte_for_byte(tmp_path: Path, image_writer) -> None:
    source = image_writer(tmp_path / "src.bmp")
    with YoloWriter(tmp_path / "out", ["hole"]) as writer:
        target = writer.add("x", source, [])
        writer.commit()
    assert target == tmp_path / "out/images/x.bmp"
    assert target.read_bytes() == source.read_bytes()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda w: w.add("a", IMAGE, [[2, 0.5, 0.5, 0.1, 0.1]]), "boxes of a"),
        (lambda w: w.add("a", IMAGE, [[0.5, 0.5, 0.5, 0.1, 0.1]]), "boxes of a"),
        (lambda w: w.add("a", IMAGE, [[0, 1.5, 0.5, 0.1, 0.1]]), "boxes of a"),
        (lambda w: w.add("a", IMAGE, [[0, 0.5, 0.5, 0.1]]), "boxes of a"),
        (lambda w: w.add("a/b", IMAGE, []), "stem"),
        (lambda w: w.add("a", IMAGE, [], split="train"), "split"),
        (lambda w: w.add("a", IMAGE, [], suffix=".gif"), "suffix"),
        (lambda w: (w.add("a", IMAGE, []), w.add("a", IMAGE, [])), "stem"),
    ],
)
def test_bad_additions_raise_and_leave_nothing(tmp_path: Path, call, field: str) -> None:
    dst = tmp_path / "out"
    with pytest.raises(InvalidFieldError) as info, YoloWriter(dst, ["hole", "stain"]) as writer:
        call(writer)
    assert info.value.field == field
    assert not dst.exists()
    assert list(tmp_path.iterdir()) == []


def test_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("precious")
    with pytest.raises(DatasetError, match="not an empty folder"):
        YoloWriter(tmp_path / "out", ["hole"])
    assert (tmp_path / "out" / "keep.txt").read_text() == "precious"


def test_empty_destination_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with YoloWriter(tmp_path / "out", ["hole"]) as writer:
        writer.add("a", IMAGE, [])
        writer.commit()
    assert load_yolo(tmp_path / "out").splits["train"][0].is_background


@pytest.mark.parametrize("names", [[], ["a", "a"]])
def test_refuses_bad_names(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(InvalidFieldError, match="names"):
        YoloWriter(tmp_path / "out", names)
