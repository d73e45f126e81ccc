"""Drawing defects into float images: alpha masks, compositing and tight boxes around what was drawn.

Every defect is drawn as a local alpha mask (values in [0, 1]) placed at an integer offset; the
label box is computed from the same mask (pixels above a visibility threshold), so boxes fit
exactly what is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
Box = tuple[float, float, float, float]

#: Fixed-point bits for sub-pixel polygon and line drawing with OpenCV.
_SHIFT = 4
_SCALE = float(1 << _SHIFT)


def _clip(alpha: F32, x0: int, y0: int, height: int, width: int) -> tuple[F32, int, int] | None:
    """The part of ``alpha`` (placed at ``x0, y0``) that lies inside a ``height x width`` image."""
    h, w = alpha.shape
    ax0, ay0 = max(0, -x0), max(0, -y0)
    ax1, ay1 = min(w, width - x0), min(h, height - y0)
    if ax1 <= ax0 or ay1 <= ay0:
        return None
    return alpha[ay0:ay1, ax0:ax1], x0 + ax0, y0 + ay0


def crop(full: F32, x0: int, y0: int, shape: Sequence[int]) -> F32:
    """The ``shape``-sized window of a full-image mask at ``x0, y0``; outside the image reads as 0."""
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), np.float32)
    fy0, fx0 = max(0, y0), max(0, x0)
    fy1, fx1 = min(full.shape[0], y0 + h), min(full.shape[1], x0 + w)
    if fy1 > fy0 and fx1 > fx0:
        out[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0] = full[fy0:fy1, fx0:fx1]
    return out


def alpha_box(alpha: F32, x0: int, y0: int, image_shape: Sequence[int], threshold: float = 0.2) -> Box | None:
    """Tight pixel box ``x1, y1, x2, y2`` of the mask pixels above ``threshold``, clipped to the image."""
    clipped = _clip(alpha, x0, y0, int(image_shape[0]), int(image_shape[1]))
    if clipped is None:
        return None
    sub, cx, cy = clipped
    rows = np.flatnonzero((sub > threshold).any(axis=1))
    cols = np.flatnonzero((sub > threshold).any(axis=0))
    if rows.size == 0:
        return None
    return (float(cx + cols[0]), float(cy + rows[0]), float(cx + cols[-1] + 1), float(cy + rows[-1] + 1))


def mix(image: F32, alpha: F32, x0: int, y0: int, target: F32) -> None:
    """Blend ``image`` towards ``target`` (a colour (3,) or a patch shaped like ``alpha`` x 3) in place."""
    clipped = _clip(alpha, x0, y0, image.shape[0], image.shape[1])
    if clipped is None:
        return
    sub, cx, cy = clipped
    h, w = sub.shape
    roi = image[cy : cy + h, cx : cx + w]
    if target.ndim == 3:
        oy, ox = cy - y0, cx - x0
        target = target[oy : oy + h, ox : ox + w]
    a = sub[..., None]
    roi *= 1.0 - a
    roi += a * target


def scale(image: F32, alpha: F32, x0: int, y0: int, gain: F32 | float) -> None:
    """Multiply ``image`` by ``gain`` (scalar or per-channel (3,)) where ``alpha`` is 1, in place."""
    clipped = _clip(alpha, x0, y0, image.shape[0], image.shape[1])
    if clipped is None:
        return
    sub, cx, cy = clipped
    h, w = sub.shape
    roi = image[cy : cy + h, cx : cx + w]
    g = np.asarray(gain, np.float32)
    roi *= 1.0 + sub[..., None] * (g - 1.0)


def overlaps(box: Box, others: Sequence[Box], margin: float = 0.0) -> bool:
    """Whether ``box`` grown by ``margin`` intersects any of ``others``."""
    x1, y1, x2, y2 = box
    return any(
        x1 - margin < ox2 and ox1 < x2 + margin and y1 - margin < oy2 and oy1 < y2 + margin
        for ox1, oy1, ox2, oy2 in others
    )


def union(a: Box, b: Box) -> Box:
    """Smallest box holding both boxes."""
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def blank(height: int, width: int) -> F32:
    """A zero float mask."""
    return np.zeros((max(1, height), max(1, width)), np.float32)


def _fixed(points: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    return np.round(points * _SCALE).astype(np.int32).reshape(-1, 1, 2)


def fill_polygon(mask: F32, points: npt.NDArray[np.float64], value: float = 1.0) -> None:
    """Fill a polygon (float pixel coordinates in ``mask``) anti-aliased into ``mask``."""
    cv2.fillPoly(mask, [_fixed(points)], (value,), lineType=cv2.LINE_AA, shift=_SHIFT)


def draw_path(mask: F32, points: npt.NDArray[np.float64], thickness: int, value: float = 1.0) -> None:
    """Draw an open anti-aliased polyline (float pixel coordinates) into ``mask``."""
    cv2.polylines(
        mask,
        [_fixed(points)],
        False,
        (value,),
        thickness=max(1, thickness),
        lineType=cv2.LINE_AA,
        shift=_SHIFT,
    )


def irregular_polygon(
    rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, *, jitter: float, vertices: int = 18
) -> npt.NDArray[np.float64]:
    """Closed polygon around ``cx, cy`` with radii ``rx, ry``, the radius wobbling by ``jitter``."""
    angles = np.linspace(0.0, 2.0 * np.pi, vertices, endpoint=False) + rng.uniform(0, 2 * np.pi)
    wobble = rng.normal(0.0, jitter, vertices)
    wobble = (wobble + np.roll(wobble, 1) + np.roll(wobble, -1)) / 3.0  # smooth neighbours
    radius = np.clip(1.0 + wobble, 0.45, 1.6)
    return np.stack([cx + rx * radius * np.cos(angles), cy + ry * radius * np.sin(angles)], axis=1)


def jagged_path(
    rng: np.random.Generator, x: float, y: float, angle: float, length: float, *, step: float, jitter: float
) -> npt.NDArray[np.float64]:
    """Polyline from ``x, y`` heading ``angle`` (radians) for ``length`` px, turning up to ``jitter`` rad."""
    n = max(2, int(np.ceil(length / step)))
    turns = rng.uniform(-jitter, jitter, n)
    heading = angle + turns - turns.mean() * 0.5
    pts = np.zeros((n + 1, 2), np.float64)
    pts[0] = (x, y)
    pts[1:, 0] = x + np.cumsum(step * np.cos(heading))
    pts[1:, 1] = y + np.cumsum(step * np.sin(heading))
    return pts


def soft(mask: F32, sigma: float) -> F32:
    """Gaussian-blurred copy of ``mask`` (``sigma`` in pixels), rescaled so its maximum stays 1."""
    if sigma <= 0:
        return mask
    out = np.asarray(cv2.GaussianBlur(mask, (0, 0), sigma), np.float32)
    peak = float(out.max())
    return out / np.float32(peak) if peak > 0 else out


def to_uint8(image: F32) -> npt.NDArray[np.uint8]:
    """Round and clip a float image to uint8."""
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)
