"""`data check` on the image-level layout `train --task classify` reads (csv conversions, class folders)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.datasets.classify_layout import is_classification_layout, validate_classification

runner = CliRunner()


def cells(root: Path, image_writer: Callable[..., Path], layout: dict[str, int]) -> Path:
    """``layout``: ``'train/functional': 3`` -> three images in that folder."""
    for folder, count in layout.items():
        for i in range(count):
            image_writer(root / folder / f"c{i}.png", (30, 30), value=i)
    return root


def test_a_split_cell_set_checks_clean(tmp_path: Path, image_writer: Callable[..., Path]) -> None:
    root = cells(
        tmp_path / "cells",
        image_writer,
        {"train/functional": 4, "train/defective": 3, "val/functional": 2, "val/defective": 1},
    )
    assert is_classification_layout(root)
    issues, summary = validate_classification(root)
    assert list(issues) == [] and summary.good_class == "functional" and summary.total == 10
    result = runner.invoke(app, ["data", "check", str(root), "--format", "table"])
    assert result.exit_code == 0, result.output
    assert (
        "10 images (train 7, val 3), 2 classes, good class 'functional' (classification layout)"
        in result.output
    )


def test_problems_of_a_cell_set_are_named(tmp_path: Path, image_writer: Callable[..., Path]) -> None:
    root = cells(tmp_path / "cells", image_writer, {"train/ok_cell": 3, "train/crack": 2, "val/ok_cell": 1})
    (root / "train" / "empty").mkdir()
    (root / "train" / "crack" / "broken.png").write_bytes(b"not a png")
    issues, _ = validate_classification(root)
    codes = sorted(i.code for i in issues)
    assert codes == [
        "classify.empty_class",
        "classify.good_class",
        "classify.split_class_missing",
        "image.unreadable",
    ]
    result = runner.invoke(app, ["data", "check", str(root), "--format", "plain"])
    assert result.exit_code == 1
    assert "train/empty: classify.empty_class: class 'empty' has no images" in result.output
    assert "val: classify.split_class_missing: val has no 'crack' images" in result.output


def test_plain_class_folders_and_what_is_not_this_layout(
    tmp_path: Path, image_writer: Callable[..., Path]
) -> None:
    flat = cells(tmp_path / "flat", image_writer, {"good": 2, "stain": 2})
    assert is_classification_layout(flat)
    issues, summary = validate_classification(flat)
    assert list(issues) == [] and summary.images == {"all": {"good": 2, "stain": 2}}
    yolo = cells(tmp_path / "yolo", image_writer, {"images/train": 1, "labels/train": 0, "images/val": 1})
    assert not is_classification_layout(yolo)  # a YOLO set without its data.yaml is not taken for classes
    (flat / "data.yaml").write_text("names: [a]\n")
    assert not is_classification_layout(flat)
