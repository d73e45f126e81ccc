"""The one rule for 16-bit pixels: frames and files of 10- to 16-bit cameras as 8-bit BGR."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from linecheck.errors import InvalidFieldError
from linecheck.pixel_depth import (
    check_bit_depth,
    depth_problem,
    read_bgr8,
    suggested_depth,
    to_8bit,
    to_bgr8,
    used_bits,
)


def ramp(bits: int, shape: tuple[int, ...] = (16, 256)) -> np.ndarray:
    """A left-to-right ramp over the full range of ``bits``-bit values, stored in uint16."""
    top = (1 << bits) - 1
    row = np.linspace(0, top, shape[1]).round().astype(np.uint16)
    return np.broadcast_to(row, shape[:2]).copy()


@pytest.mark.parametrize("bits", [10, 12, 14, 16])
def test_a_full_range_frame_of_its_own_depth_spans_0_to_255(bits: int) -> None:
    out = to_8bit(ramp(bits), bit_depth=bits)
    assert out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out[0].astype(int)) >= 0)  # order kept
    assert len(np.unique(out)) == 256  # every level used: no contrast lost


def test_without_a_bit_depth_16_bit_pixels_read_as_opencv_reads_the_file(tmp_path: Path) -> None:
    pixels = ramp(12)
    cv2.imwrite(str(tmp_path / "f.png"), pixels)
    opencv = cv2.imread(str(tmp_path / "f.png"), cv2.IMREAD_COLOR)  # what Ultralytics trains on
    ours = read_bgr8(tmp_path / "f.png")
    assert ours is not None and np.array_equal(ours, opencv)
    assert ours.max() == 15  # a 12-bit frame read from 16 bits: nearly black


def test_a_12_bit_file_read_with_its_depth_keeps_its_contrast(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "f.tif"), ramp(12))
    image = read_bgr8(tmp_path / "f.tif", bit_depth=12)
    assert image is not None and image.shape == (16, 256, 3) and image.dtype == np.uint8
    assert image.max() == 255 and np.array_equal(image[..., 0], image[..., 2])


def test_values_above_the_bit_depth_are_clipped_and_said() -> None:
    pixels = ramp(16)
    out = to_8bit(pixels, bit_depth=12)
    assert out[0, -1] == 255 and np.count_nonzero(out == 255) > pixels.size // 2
    problem = depth_problem(pixels, 12)
    assert problem is not None and "clipped" in problem and "bit depth 16" in problem


def test_a_dim_16_bit_frame_without_a_bit_depth_is_said_with_a_suggestion() -> None:
    problem = depth_problem(ramp(12), None)
    assert problem is not None and "12 of 16 bits" in problem and "e.g. 12" in problem
    assert depth_problem(ramp(11), None) is not None and "e.g. 12" in depth_problem(ramp(11), None)  # type: ignore[operator]
    assert depth_problem(ramp(16), None) is None  # full range: reads well
    assert depth_problem(ramp(12), 12) is None
    assert depth_problem(np.zeros((4, 4), np.uint16), None) is None  # black is black at any depth
    assert depth_problem(np.full((4, 4, 3), 9, np.uint8), None) is None


def test_channels_become_bgr() -> None:
    grey = np.full((4, 5), 4095, np.uint16)
    assert to_bgr8(grey, bit_depth=12).shape == (4, 5, 3)
    assert to_bgr8(grey[..., None], bit_depth=12).shape == (4, 5, 3)
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 2] = 200
    out = to_bgr8(bgra)
    assert out.shape == (4, 5, 3) and out[0, 0, 2] == 200 and out.flags.c_contiguous
    colour = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    assert np.array_equal(to_bgr8(colour), colour)


@pytest.mark.parametrize(
    ("image", "needle"),
    [
        (np.zeros((4, 4), np.float32), "dtype=float32"),
        (np.zeros((4, 4), np.int16), "dtype=int16"),
        (np.zeros((0, 4), np.uint8), "shape=(0, 4)"),
        (np.zeros((4, 4, 2), np.uint8), "shape=(4, 4, 2)"),
        ("not an image", "shape=None"),
    ],
)
def test_other_pixels_are_refused_naming_the_field(image: object, needle: str) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        to_bgr8(image, field="frames[3]")  # type: ignore[arg-type]
    assert caught.value.field == "frames[3]" and needle in str(caught.value)


@pytest.mark.parametrize("value", [7, 17, 0, "12", 12.0, True])
def test_bit_depth_is_8_to_16(value: object) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        check_bit_depth(value, "cameras[0].bit_depth")
    assert caught.value.field == "cameras[0].bit_depth" and caught.value.value == value


def test_small_helpers() -> None:
    assert check_bit_depth(None) is None and check_bit_depth(np.int64(12)) == 12
    assert used_bits(np.array([0, 4095], np.uint16)) == 12 and used_bits(np.zeros(3, np.uint16)) == 0
    assert [suggested_depth(b) for b in (1, 8, 9, 11, 12, 13, 15, 16)] == [8, 8, 10, 12, 12, 14, 16, 16]


def test_an_undecodable_file_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"not a png")
    assert read_bgr8(tmp_path / "x.png", bit_depth=12) is None
