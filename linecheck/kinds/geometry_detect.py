"""Line geometry measured from the image itself: a PV module's cell grid, a bearing ring's centre and radius.

For stations where the product is not always where the line YAML says (a module shifted or tilted
on the conveyor, a ring off-centre or at another working distance), these pure functions find it
(the kinds call them for ``geometry_mode: auto``, in every frame):

* :func:`find_pv_grid`: the EL frame is deskewed by the angle (within ``max_tilt_deg``) that makes
  the dark inter-cell gaps sharpest in the row / column projection profiles; the lit module area
  gives the grid's extent, and a comb of ``cols - 1`` (``rows - 1``) equally spaced gaps is slid
  over the profile to place the grid. Dark or cracked cells lower a few profile values; the comb
  uses every gap at once, so single cells do not move it.
* :func:`find_bearing_ring`: the lit ring face's silhouette (Otsu) gives the outer edge, refined by
  Hough circles near it; the race split and bore stay fractions of the outer radius, as in the YAML.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import InvalidFieldError
from linecheck.kinds.bearing import BearingGeometry
from linecheck.kinds.pv import GAP_FRAC, PVGrid, PVGridFit

FloatArray = npt.NDArray[np.float32]
#: Longest side of the copy the PV tilt is searched on (the angle does not depend on the scale).
SEARCH_SIDE = 320
#: Grey levels the lit product must stand above the frame's darkest parts (an empty station does not).
MIN_CONTRAST = 24.0


def _grey(image: npt.NDArray[np.uint8]) -> FloatArray:
    if image.ndim == 3:
        return np.asarray(image, np.float32).mean(axis=2)
    if image.ndim == 2:
        return np.asarray(image, np.float32)
    raise InvalidFieldError("image", f"shape={image.shape}", "expected HxW or HxWx3")


def _contrast_or_raise(grey: FloatArray, what: str) -> None:
    low, high = (float(v) for v in np.percentile(grey, [2, 98]))
    if high - low < MIN_CONTRAST:
        raise InvalidFieldError("image", f"contrast={high - low:.0f}", f"no {what} found in the frame")


def _rotate(grey: FloatArray, angle_deg: float) -> FloatArray:
    h, w = grey.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    return np.asarray(
        cv2.warpAffine(grey, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0.0,)), np.float32
    )


def _gap_score(grey: FloatArray, level: float) -> float:
    """How sharp the row and column profiles are (high when gaps line up with the axes)."""
    lit = grey > level
    if not lit.any():
        return 0.0
    cols = grey[lit.any(axis=1)].mean(axis=0)
    rows = grey[:, lit.any(axis=0)].mean(axis=1)
    return float(np.abs(np.diff(cols)).sum() + np.abs(np.diff(rows)).sum())


def _tilt(grey: FloatArray, level: float, max_tilt_deg: float, step_deg: float) -> float:
    """The rotation (degrees) that makes the gaps sharpest, searched on a copy at most SEARCH_SIDE wide."""
    scale = min(1.0, SEARCH_SIDE / max(grey.shape))
    small = grey if scale == 1.0 else cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    angles = np.arange(-max_tilt_deg, max_tilt_deg + 1e-9, step_deg)
    scores = [_gap_score(_rotate(np.asarray(small, np.float32), float(a)), level) for a in angles]
    return float(angles[int(np.argmax(scores))])


def _extent(profile: FloatArray) -> tuple[int, int]:
    """First and last index of the lit part of a projection profile."""
    level = 0.35 * float(np.percentile(profile, 95))
    lit = np.flatnonzero(profile > level)
    if lit.size < 2:
        raise InvalidFieldError("image", "dark", "no lit module area found in the frame")
    return int(lit[0]), int(lit[-1]) + 1


def _fit_axis(profile: FloatArray, count: int) -> tuple[float, float]:
    """Origin and pitch of ``count`` cells along one axis of a projection profile."""
    start, end = _extent(profile)
    pitch = (end - start) / (count - GAP_FRAC)
    origin = start - GAP_FRAC * pitch / 2
    if count == 1:
        return origin, pitch
    pitches = pitch * np.linspace(0.97, 1.03, 13)[:, None]
    origins = origin + pitches * np.linspace(-0.1, 0.1, 21)[None, :]
    gaps = origins[..., None] + pitches[..., None] * np.arange(1, count)
    index = np.arange(profile.size, dtype=np.float64)
    cost = np.interp(gaps, index, profile).mean(axis=-1)
    cost[((gaps < 0) | (gaps > profile.size - 1)).any(axis=-1)] = math.inf
    best = np.unravel_index(int(np.argmin(cost)), cost.shape)
    if not math.isfinite(float(cost[best])):
        return origin, pitch
    return float(origins[best]), float(pitches[best[0], 0])


def find_pv_grid(
    image: npt.NDArray[np.uint8], rows: int, cols: int, *, max_tilt_deg: float = 3.0, step_deg: float = 0.25
) -> PVGridFit:
    """Find the ``rows`` x ``cols`` cell grid of an EL frame (tilt, position and pitch).

    Raises:
        InvalidFieldError: no lit module area (:data:`MIN_CONTRAST` above the background) in the
            frame, or a bad ``rows`` / ``cols``.

    """
    if rows < 1 or cols < 1:
        raise InvalidFieldError("grid", f"{rows}x{cols}", "expected at least one row and one column")
    grey = np.asarray(cv2.GaussianBlur(_grey(image), (3, 3), 0), np.float32)
    _contrast_or_raise(grey, "lit module area")
    level = 0.5 * float(np.percentile(grey, 90))
    angle = _tilt(grey, level, max_tilt_deg, step_deg)
    flat = _rotate(grey, angle)
    lit = flat > level
    if not lit.any():
        raise InvalidFieldError("image", "dark", "no lit module area found in the frame")
    # Median across the columns: a label or a fixture beside the module covers few columns and drops out.
    y0, pitch_h = _fit_axis(np.median(flat[:, lit.any(axis=0)], axis=1).astype(np.float32), rows)
    band = flat[max(0, int(y0)) : int(y0 + rows * pitch_h)]
    x0, pitch_w = _fit_axis(band.mean(axis=0), cols)
    grid = PVGrid(
        x0=x0, y0=y0, cell_w=pitch_w, cell_h=pitch_h, rows=rows, cols=cols,
        gap=max(2.0, GAP_FRAC * min(pitch_w, pitch_h)),
    )  # fmt: skip
    return PVGridFit(grid=grid, angle_deg=-angle, width=int(image.shape[1]), height=int(image.shape[0]))


def find_bearing_ring(
    image: npt.NDArray[np.uint8], *, split_frac: float, inner_frac: float, min_radius_frac: float = 0.2
) -> BearingGeometry:
    """Find the ring face's centre and outer radius; race split and bore from the fractions.

    The lit face is separated from the dark background by Otsu's threshold; the largest outer
    contour's enclosing circle is the outer edge, refined by Hough circles (OpenCV's gradient
    method) searched within 8 % of that radius when they find a concentric edge.

    Raises:
        InvalidFieldError: no lit face (:data:`MIN_CONTRAST` above the background) of at least
            ``min_radius_frac`` of the shorter side is found.

    """
    _contrast_or_raise(_grey(image), "ring face")
    grey = np.clip(_grey(image), 0, 255).astype(np.uint8)
    side = min(grey.shape)
    smooth = cv2.GaussianBlur(grey, (5, 5), 0)
    _, mask = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    (cx, cy), r = cv2.minEnclosingCircle(max(contours, key=cv2.contourArea)) if contours else ((0, 0), 0)
    if r < min_radius_frac * side:
        raise InvalidFieldError("image", f"{grey.shape[1]}x{grey.shape[0]}", "no ring face found")
    circles = cv2.HoughCircles(
        smooth, cv2.HOUGH_GRADIENT, dp=1.0, minDist=1, param1=80, param2=20,
        minRadius=int(0.92 * r), maxRadius=int(1.08 * r) + 1,
    )  # fmt: skip
    if circles is not None:
        hx, hy, hr = (float(v) for v in circles[0][0])
        if math.hypot(hx - cx, hy - cy) < 0.02 * side:
            cx, cy, r = (cx + hx) / 2, (cy + hy) / 2, (r + hr) / 2
    return BearingGeometry(
        cx=float(cx),
        cy=float(cy),
        r_outer=float(r),
        r_split=float(r) * split_frac,
        r_inner=float(r) * inner_frac,
    )
