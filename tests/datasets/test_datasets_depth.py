"""16-bit sets: `data check` says when they read nearly black, `data depth` makes the 8-bit copy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.datasets.depth import eight_bit_copy
from linecheck.datasets.images import read_image
from linecheck.datasets.yolo import validate_yolo
from linecheck.errors import DatasetError, InvalidFieldError

runner = CliRunner()


def invoke(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["data", *map(str, args)])
    return result.exit_code, result.output


def twelve_bit(path: Path, top: int = 4095) -> Path:
    """A grey 12-bit camera frame (a ramp up to ``top``) stored as a 16-bit file."""
    row = np.linspace(0, top, 40).round().astype(np.uint16)
    assert cv2.imwrite(str(path), np.broadcast_to(row, (30, 40)).copy()), path
    return path


@pytest.fixture
def deep_set(make_yolo: Callable[..., Path]) -> Path:
    root = make_yolo(
        {"train/a.png": "0 0.5 0.5 0.2 0.2\n", "val/b.png": "", "val/c.tif": "1 0.3 0.3 0.1 0.1\n"}
    )
    twelve_bit(root / "images/train/a.png")
    twelve_bit(root / "images/val/c.tif")
    data = yaml.safe_load((root / "data.yaml").read_text())
    (root / "data.yaml").write_text(yaml.safe_dump({**data, "path": str(root.resolve())}))
    return root


def test_check_warns_of_dim_16_bit_images_naming_the_file_and_the_depth(deep_set: Path) -> None:
    issues = [i for i in validate_yolo(deep_set, check_images=True) if i.code == "image.dim_16bit"]
    assert sorted(i.path.name for i in issues if i.path) == ["a.png", "c.tif"]
    assert all("12 of 16 bits" in i.message and "data depth" in i.message for i in issues)
    code, out = invoke("check", deep_set)
    assert code == 0 and "image.dim_16bit" in out
    assert invoke("check", deep_set, "--strict")[0] == 1


def test_depth_copy_reads_like_the_camera_and_checks_clean(deep_set: Path, tmp_path: Path) -> None:
    dst = tmp_path / "eight"
    code, out = invoke("depth", deep_set, dst, "--bit-depth", "12")
    assert code == 0, out
    assert "2 16-bit image(s) made 8-bit from 12 bits" in out and "use up to 12 bits" in out
    assert "data.yaml now points at the copy" in out
    for rel in ("images/train/a.png", "images/val/c.tif"):
        written = cv2.imread(str(dst / rel), cv2.IMREAD_UNCHANGED)
        assert written.dtype == np.uint8 and written.max() == 255 and written.min() == 0, rel
        assert np.array_equal(read_image(dst / rel), read_image(deep_set / rel, bit_depth=12))
    assert (dst / "labels/val/c.txt").read_text() == (deep_set / "labels/val/c.txt").read_text()
    assert (dst / "images/val/b.png").read_bytes() == (deep_set / "images/val/b.png").read_bytes()
    assert yaml.safe_load((dst / "data.yaml").read_text())["path"] == str(dst.resolve())
    code, out = invoke("check", dst, "--strict")
    assert code == 0, out
    assert (
        cv2.imread(str(deep_set / "images/train/a.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    )  # untouched


def test_depth_says_what_it_clipped_and_what_it_could_not_read(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    twelve_bit(src / "full.png", top=65535)  # a 16-bit camera's frame read as 12-bit
    (src / "broken.png").write_bytes(b"not an image")
    report = eight_bit_copy(src, tmp_path / "dst", bit_depth=12)
    assert report.converted == 1 and report.copied == 1 and report.max_bits == 16
    assert [p.name for p, _ in report.clipped] == ["full.png"] and "bit depth 16" in report.clipped[0][1]
    assert [(p.name, why) for p, why in report.skipped] == [("broken.png", "cannot be decoded")]
    code, out = invoke("depth", src, tmp_path / "dst2", "--bit-depth", "12")
    assert code == 0 and "1 image(s) clipped" in out and "full.png" in out and "broken.png" in out


def test_depth_bad_input_names_it_and_writes_nothing(deep_set: Path, tmp_path: Path) -> None:
    code, out = invoke("depth", deep_set, tmp_path / "x", "--bit-depth", "20")
    assert code == 2 and "--bit-depth" in out and not (tmp_path / "x").exists()
    code, out = invoke("depth", tmp_path / "missing", tmp_path / "y", "--bit-depth", "12")
    assert code == 1 and "source folder not found" in out and "missing" in out
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    code, out = invoke("depth", deep_set, full, "--bit-depth", "12")
    assert code == 1 and "full" in out and (full / "keep.txt").read_text() == "mine"
    with pytest.raises(InvalidFieldError, match="bit_depth"):
        eight_bit_copy(deep_set, tmp_path / "z", bit_depth=None)  # type: ignore[arg-type]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging folder left behind


def test_read_image_refuses_float_pixels_naming_the_file(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "f.tif"), np.zeros((8, 8, 3), np.float32))
    with pytest.raises(DatasetError, match=r"float32.*f\.tif|f\.tif.*float32"):
        read_image(tmp_path / "f.tif")


def test_depth_without_a_destination_says_how_deep_the_set_is(deep_set: Path, tmp_path: Path) -> None:
    twelve_bit(deep_set / "images" / "val" / "dim.png", top=1500)  # a dark frame of the same camera: 11 bits
    cv2.imwrite(str(deep_set / "images" / "val" / "f.tif"), np.zeros((8, 8, 3), np.float32))
    code, out = invoke("depth", deep_set)
    assert code == 0, out
    assert "1 8-bit image(s), 3 16-bit (2 use 12 bits, 1 use 11 bits)" in out
    assert "f.tif: float32 pixels" in out and "their values fit --bit-depth 12" in out
    code, out = invoke("depth", deep_set, tmp_path / "copy")
    assert code == 2 and "--bit-depth is needed" in out and not (tmp_path / "copy").exists()


def test_training_on_dim_16_bit_images_is_warned_of_with_the_copy_to_make(
    deep_set: Path, tmp_path: Path
) -> None:
    from linecheck.datasets.depth import dim_training_images

    for data in (deep_set, deep_set / "data.yaml"):  # a folder, or the dataset's data.yaml
        said = dim_training_images(data)
        assert said is not None and "2 of 3 images" in said and "at most 12 bits" in said
        assert f"linecheck data depth {deep_set} DST --bit-depth 12" in said and "bit_depth: 12" in said
    assert dim_training_images(deep_set, limit=1) is not None  # sampled: the first image is a 12-bit one
    assert invoke("depth", deep_set, tmp_path / "eight", "--bit-depth", "12")[0] == 0
    assert dim_training_images(tmp_path / "eight") is None  # the 8-bit copy trains as it is
    assert dim_training_images(tmp_path / "absent") is None  # the trainer names a missing set itself
    good = tmp_path / "good"
    good.mkdir()
    twelve_bit(good / "frame.png")
    args = ["train", "--task", "anomaly", "--line", "textile",
            "--data", str(good), "--models-dir", str(tmp_path)]  # fmt: skip
    result = runner.invoke(app, args)
    assert "warning:" in result.output and "nearly black" in result.output, result.output
