from __future__ import annotations

import numpy as np
import pytest

from linecheck.datasets.boxes import clip_xyxy, format_label_lines, xyxy_to_yolo, yolo_to_xyxy
from linecheck.errors import InvalidFieldError


@pytest.mark.parametrize(
    ("xyxy", "size", "expected", "kept"),
    [
        ([[0, 0, 100, 50]], (100, 50), [[3, 0.5, 0.5, 1.0, 1.0]], [True]),
        ([[10, 10, 30, 20]], (100, 50), [[3, 0.2, 0.3, 0.2, 0.2]], [True]),
        ([[-10, -5, 20, 10]], (100, 50), [[3, 0.1, 0.1, 0.2, 0.2]], [True]),  # clipped at the origin
        ([[90, 40, 120, 60]], (100, 50), [[3, 0.95, 0.9, 0.1, 0.2]], [True]),  # clipped at the far side
        ([[110, 10, 130, 20]], (100, 50), [], [False]),  # right of the image: nothing left
        ([[30, 10, 10, 20]], (100, 50), [], [False]),  # inverted
        ([[5, 5, 5, 20], [0, 0, 10, 10]], (100, 50), [[3, 0.05, 0.1, 0.1, 0.2]], [False, True]),
    ],
)
def test_xyxy_to_yolo(
    xyxy: list[list[float]], size: tuple[int, int], expected: list, kept: list[bool]
) -> None:
    rows, keep = xyxy_to_yolo(xyxy, [3] * len(xyxy), *size)
    np.testing.assert_allclose(rows, np.asarray(expected, dtype=np.float64).reshape(-1, 5))
    assert keep.tolist() == kept


def test_round_trip_through_pixels() -> None:
    rows = np.array([[0, 0.25, 0.5, 0.1, 0.2], [1, 0.9, 0.1, 0.2, 0.2]])
    xyxy = yolo_to_xyxy(rows, 640, 480)
    back, keep = xyxy_to_yolo(xyxy, rows[:, 0], 640, 480)
    assert keep.all()
    np.testing.assert_allclose(back, rows)


def test_format_label_lines() -> None:
    assert format_label_lines(np.zeros((0, 5))) == ""
    assert format_label_lines([[2, 0.5, 0.25, 0.125, 1 / 3]]) == "2 0.500000 0.250000 0.125000 0.333333\n"


@pytest.mark.parametrize("bad", [[[0, 1, 2, 3]], [[0, np.nan, 0.5, 0.1, 0.1]], np.zeros((2, 5, 1))])
def test_box_arrays_are_checked(bad: object) -> None:
    with pytest.raises(InvalidFieldError, match="boxes"):
        format_label_lines(bad)  # type: ignore[arg-type]


def test_clip_refuses_an_empty_image() -> None:
    with pytest.raises(InvalidFieldError, match="image size"):
        clip_xyxy([[0, 0, 1, 1]], 0, 10)
