"""Pure box arithmetic between pixel ``x1 y1 x2 y2`` and YOLO's normalised ``class cx cy w h`` rows."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError

#: (N, 5) float64 rows ``class cx cy w h``, coordinates normalised to [0, 1].
YoloBoxes = npt.NDArray[np.float64]


def empty_boxes() -> YoloBoxes:
    """A (0, 5) box array."""
    return np.zeros((0, 5), dtype=np.float64)


def check_yolo_boxes(boxes: npt.ArrayLike, *, field: str = "boxes") -> YoloBoxes:
    """Return ``boxes`` as a (N, 5) float64 array, raising unless it has that shape and finite values."""
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return empty_boxes()
    if array.ndim != 2 or array.shape[1] != 5:
        raise InvalidFieldError(field, f"shape={array.shape}", "expected (N, 5) rows of class cx cy w h")
    if not np.isfinite(array).all():
        raise InvalidFieldError(field, array.tolist(), "expected finite numbers")
    return array


def clip_xyxy(xyxy: npt.ArrayLike, width: float, height: float) -> npt.NDArray[np.float64]:
    """Clip (N, 4) pixel boxes ``x1 y1 x2 y2`` to the image ``[0, width] x [0, height]``."""
    if width <= 0 or height <= 0:
        raise InvalidFieldError("image size", (width, height), "expected positive width and height")
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0.0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0.0, height)
    return boxes


def xyxy_to_yolo(
    xyxy: npt.ArrayLike, class_ids: npt.ArrayLike, width: float, height: float
) -> tuple[YoloBoxes, npt.NDArray[np.bool_]]:
    """Convert pixel boxes to YOLO rows, clipping to the image first.

    Returns:
        The YOLO rows of the boxes that keep a positive area after clipping, and a (N,) mask
        telling which input boxes those are (False: zero area after clipping, or inverted).

    """
    clipped = clip_xyxy(xyxy, width, height)
    ids = np.asarray(class_ids, dtype=np.float64).reshape(-1)
    if ids.shape[0] != clipped.shape[0]:
        raise InvalidFieldError("class_ids", f"len={ids.shape[0]}", f"expected {clipped.shape[0]} ids")
    w = clipped[:, 2] - clipped[:, 0]
    h = clipped[:, 3] - clipped[:, 1]
    keep = (w > 0) & (h > 0)
    rows = np.stack(
        [
            ids,
            (clipped[:, 0] + clipped[:, 2]) / 2.0 / width,
            (clipped[:, 1] + clipped[:, 3]) / 2.0 / height,
            w / width,
            h / height,
        ],
        axis=1,
    )
    return rows[keep].reshape(-1, 5), keep


def yolo_to_xyxy(boxes: npt.ArrayLike, width: float, height: float) -> npt.NDArray[np.float64]:
    """Convert YOLO rows ``class cx cy w h`` to (N, 4) pixel boxes ``x1 y1 x2 y2``."""
    rows = check_yolo_boxes(boxes)
    cx, cy = rows[:, 1] * width, rows[:, 2] * height
    half_w, half_h = rows[:, 3] * width / 2.0, rows[:, 4] * height / 2.0
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)


def format_label_lines(boxes: npt.ArrayLike) -> str:
    """Label-file text for ``boxes``: one ``class cx cy w h`` line each, six decimals, '' when empty."""
    rows = check_yolo_boxes(boxes)
    return "".join(f"{round(c)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for c, cx, cy, w, h in rows.tolist())
