"""Is a camera frame fit to be judged? Exposure, contrast, focus and a frozen camera, per frame.

A model that sees a black frame finds no defect in it. On a real line that happens when the lamp
fails, a lens cap is left on, a PV module is not contacted in the EL tester (no current, no
light), a camera delivers the same buffer again and again, or a lens drifts out of focus: each of
them would pass every unit as good. The inspector therefore measures every frame before it is
inferred and makes a frame that fails a check ``not_inspected``, naming the check and the value,
never ``pass`` (:class:`FrameChecker`, run by the source worker of each camera).

The measures (:func:`measure`), on the frame's grey levels (0-255):

* ``brightness``: mean level. A frame outside ``checks.brightness`` is too dark or too bright.
* ``contrast``: standard deviation of the levels. Below ``min_contrast`` the frame is flat: a
  covered lens, a camera sending a constant buffer.
* ``saturated``: share of pixels at 255. Above ``max_saturated`` the frame is over-exposed.
* ``sharpness``: variance of the Laplacian. Below ``min_sharpness`` the frame is out of focus
  (or smeared by motion). It depends on the scene, so it is off until calibrated on good frames
  (``linecheck lines check-frames``). A dark, bright or flat frame is not also called blurred.
* ``frozen``: how many frames in a row were identical to the bit (CRC-32 of the pixels). A
  sensor's noise makes two real exposures differ; ``frozen_frames: N`` fails the N-th identical
  frame in a row and every one after it.

**Drift** (an early warning, never a refusal): a lamp ages, an LED bar dims, dust settles on a lens,
long before a frame fails a check. With ``checks.baseline`` (the medians of good frames, which
``linecheck lines check-frames`` suggests) the camera's running level of each measure (an
exponentially weighted mean over about ``window`` accepted frames) is compared with its baseline;
one more than ``tolerance`` away from it (relative) is reported as drifting, the frames are judged as
before (:class:`DriftWatch`).

A frame of more than :data:`ANALYSIS_PIXELS` pixels is measured on a copy scaled down to that
many (area average), so the cost stays a few milliseconds a frame (``bench/frame_checks.py``) and
the figures of a camera depend only on its own frames. The defaults catch only what no real frame
looks like (a black, white or flat frame); the rest is tuned per camera in the line YAML::

    cameras:
      - station: el
        checks: {brightness: [20, 200], min_sharpness: 35, frozen_frames: 2}
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Frames larger than this are measured on a copy scaled down to this many pixels.
ANALYSIS_PIXELS = 1 << 20
#: ``Frame.meta`` key of the :class:`FrameChecked` the source worker leaves for the code worker.
META_KEY = "frame_check"
#: The brightness range and contrast no usable frame falls outside (a black, white or flat frame).
DEFAULT_BRIGHTNESS = (4.0, 251.0)
DEFAULT_MIN_CONTRAST = 2.0


#: The measures a baseline can watch for drift.
DRIFT_MEASURES = ("brightness", "contrast", "sharpness")


class FrameBaseline(BaseModel):
    """The levels of a camera's good frames (``checks.baseline``), watched for a slow drift away from them."""

    model_config = ConfigDict(extra="forbid")

    brightness: float | None = Field(None, gt=0, le=255, description="median mean grey level of good frames")
    contrast: float | None = Field(None, gt=0, description="median contrast of good frames")
    sharpness: float | None = Field(None, gt=0, description="median sharpness of good frames")
    tolerance: float = Field(
        0.2, gt=0, lt=1, description="relative change of a measure's running level reported as drift"
    )
    window: int = Field(200, ge=10, le=100_000, description="frames the running level spans (about)")

    def watched(self) -> dict[str, float]:
        """Measure -> baseline, for the measures given."""
        return {name: float(value) for name in DRIFT_MEASURES if (value := getattr(self, name)) is not None}


class FrameChecks(BaseModel):
    """A camera's frame checks (``cameras[].checks`` in a line YAML): a frame failing one is not inspected."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="false: judge every frame as it comes (not advised)")
    brightness: tuple[float, float] = Field(
        DEFAULT_BRIGHTNESS, description="[low, high]: the mean grey level (0-255) a usable frame has"
    )
    min_contrast: float = Field(
        DEFAULT_MIN_CONTRAST,
        ge=0,
        description="standard deviation of the grey levels under which a frame is flat",
    )
    max_saturated: float = Field(
        1.0, ge=0, le=1, description="share of pixels at 255 above which a frame is over-exposed (1: off)"
    )
    min_sharpness: float = Field(
        0.0, ge=0, description="variance of the Laplacian below which a frame is out of focus (0: off)"
    )
    frozen_frames: int = Field(
        0, ge=0, description="N >= 2: the N-th identical frame in a row means a frozen camera (0: off)"
    )
    baseline: FrameBaseline | None = Field(
        None, description="good frames' levels: a running level that drifts away is reported (never refused)"
    )

    @field_validator("brightness")
    @classmethod
    def _ordered_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low < high <= 255:
            raise ValueError(f"brightness={list(value)}: expected [low, high] with 0 <= low < high <= 255")
        return value

    @field_validator("frozen_frames")
    @classmethod
    def _at_least_two(cls, value: int) -> int:
        if value == 1:
            raise ValueError("frozen_frames=1: a single frame cannot repeat; use 2 or more, or 0 for off")
        return value


@dataclass(frozen=True, slots=True)
class FrameQuality:
    """What :func:`measure` found in one frame (``frozen``: identical frames in a row, this one included)."""

    brightness: float
    contrast: float
    saturated: float
    sharpness: float
    frozen: int = 1

    def as_dict(self) -> dict[str, float]:
        """The measures, rounded for a log line or a table."""
        return {
            "brightness": round(self.brightness, 1),
            "contrast": round(self.contrast, 1),
            "saturated": round(self.saturated, 4),
            "sharpness": round(self.sharpness, 1),
            "frozen": self.frozen,
        }


def _grey(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    pixels = grey.shape[0] * grey.shape[1]
    if pixels > ANALYSIS_PIXELS:
        scale = math.sqrt(ANALYSIS_PIXELS / pixels)
        size = (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return np.asarray(grey, np.uint8)


def measure(image: npt.NDArray[np.uint8], *, frozen: int = 1) -> FrameQuality:
    """Brightness, contrast, saturation and sharpness of a BGR (or grey) uint8 frame."""
    grey = _grey(image)
    mean, std = cv2.meanStdDev(grey)
    # the 4-neighbour Laplacian of 8-bit levels fits in int16 (at most 1020): exact, 5x faster than float
    _lap_mean, lap_std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S, ksize=1))
    return FrameQuality(
        brightness=float(mean[0, 0]),
        contrast=float(std[0, 0]),
        saturated=float(np.count_nonzero(grey == 255)) / grey.size,
        sharpness=float(lap_std[0, 0]) ** 2,
        frozen=frozen,
    )


def problems(quality: FrameQuality, checks: FrameChecks) -> list[tuple[str, str]]:
    """Each check ``quality`` fails: (the check's name, text naming the value and the limit)."""
    if not checks.enabled:
        return []
    found: list[tuple[str, str]] = []
    low, high = checks.brightness
    if quality.brightness < low:
        found.append(
            ("brightness", f"too dark: mean level {quality.brightness:.1f} < {low:g} (checks.brightness)")
        )
    elif quality.brightness > high:
        found.append(
            ("brightness", f"too bright: mean level {quality.brightness:.1f} > {high:g} (checks.brightness)")
        )
    if quality.contrast < checks.min_contrast:
        found.append(
            (
                "contrast",
                f"flat frame: contrast {quality.contrast:.2f} < {checks.min_contrast:g} "
                "(checks.min_contrast)",
            )
        )
    if quality.saturated > checks.max_saturated:
        found.append(
            (
                "saturated",
                f"over-exposed: {quality.saturated:.1%} of pixels at 255 > {checks.max_saturated:.1%} "
                "(checks.max_saturated)",
            )
        )
    exposed = not found  # focus means nothing in a dark, bright or flat frame: its cause is named
    if exposed and checks.min_sharpness and quality.sharpness < checks.min_sharpness:
        found.append(
            (
                "sharpness",
                f"out of focus: sharpness {quality.sharpness:.1f} < {checks.min_sharpness:g} "
                "(checks.min_sharpness)",
            )
        )
    if checks.frozen_frames and quality.frozen >= checks.frozen_frames:
        found.append(
            (
                "frozen",
                f"frozen camera: {quality.frozen} identical frames in a row "
                f"(checks.frozen_frames={checks.frozen_frames})",
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Drift:
    """One measure's running level against its baseline."""

    measure: str
    baseline: float
    level: float
    drifting: bool

    @property
    def change(self) -> float:
        """Relative change of the running level from the baseline (-0.25: a quarter lower)."""
        return self.level / self.baseline - 1.0

    def as_dict(self) -> dict[str, float | bool]:
        """For the status and a log line."""
        return {
            "baseline": round(self.baseline, 2),
            "level": round(self.level, 2),
            "change": round(self.change, 4),
            "drifting": self.drifting,
        }


class DriftWatch:
    """The running level of each watched measure of one camera (not thread-safe: one per source worker).

    An exponentially weighted mean with ``alpha = 2 / (window + 1)`` (its centre of mass about
    ``window / 2`` frames back), reported once ``window`` frames were seen: a few odd frames do not
    make a drift, a lamp losing a fifth of its light over a shift does.
    """

    def __init__(self, baseline: FrameBaseline) -> None:
        self.baseline = baseline
        self.watched = baseline.watched()
        self.alpha = 2.0 / (baseline.window + 1)
        self.frames = 0
        self.levels: dict[str, float] = {}

    def add(self, quality: FrameQuality) -> None:
        """Take one accepted frame's measures into the running levels."""
        self.frames += 1
        for name in self.watched:
            value = float(getattr(quality, name))
            old = self.levels.get(name)
            self.levels[name] = value if old is None else old + self.alpha * (value - old)

    def drifts(self) -> list[Drift]:
        """Each watched measure against its baseline (none before ``window`` frames were seen)."""
        if self.frames < self.baseline.window:
            return []
        return [
            Drift(
                measure=name,
                baseline=base,
                level=self.levels[name],
                drifting=abs(self.levels[name] / base - 1.0) > self.baseline.tolerance,
            )
            for name, base in self.watched.items()
        ]


@dataclass(frozen=True, slots=True)
class FrameChecked:
    """What the source worker found of one frame, for the code worker to decide with the unit's product.

    ``product``: whose checks judged it (the product the line was on; None: the line's own); ``quality``:
    its measures (None: the check itself failed); ``found``: the checks it failed, (name, text).
    """

    product: str | None
    quality: FrameQuality | None
    found: tuple[tuple[str, str], ...]

    def for_product(self, product: str | None, checks: FrameChecks) -> list[tuple[str, str]]:
        """The checks the frame fails as a unit of ``product`` (whose camera has ``checks``).

        The same answer as the source's when the product is the one it checked for, or the frame was
        not measured; else its measures judged again with ``checks``.
        """
        if product == self.product or self.quality is None:
            return list(self.found)
        return problems(self.quality, checks)


class FrameChecker:
    """One camera's checks with the memory a frozen camera needs (one per source worker: not thread-safe)."""

    def __init__(self, checks: FrameChecks) -> None:
        self.checks = checks
        self._last_crc: int | None = None
        self._last_shape: tuple[int, ...] = ()
        self._run = 0
        self.drift = DriftWatch(checks.baseline) if checks.baseline is not None else None

    def check(self, image: npt.NDArray[np.uint8]) -> tuple[FrameQuality, list[tuple[str, str]]]:
        """Measure ``image`` (the next frame of this camera) and list the checks it fails.

        A frame that passes them also moves the running levels of the drift watch.
        """
        crc = zlib.crc32(np.ascontiguousarray(image).data) if self.checks.frozen_frames else None
        same = crc is not None and crc == self._last_crc and image.shape == self._last_shape
        self._run = self._run + 1 if same else 1
        self._last_crc, self._last_shape = crc, image.shape
        quality = measure(image, frozen=self._run)
        found = problems(quality, self.checks)
        if self.drift is not None and not found:
            self.drift.add(quality)
        return quality, found


def suggest(measured: Sequence[FrameQuality]) -> FrameChecks:
    """Checks that every one of ``measured`` (frames known to be good) passes, with room for drift.

    The brightness range reaches half-way from the darkest and the brightest good frame to 0 and 255;
    the contrast and sharpness floors are half of the lowest good frame's (defocus divides the
    Laplacian's variance by far more than two); saturation gets twice the worst good frame's share
    plus 1 %; a frozen camera is caught at the second identical frame; the drift watch gets the good
    frames' median brightness (20 % tolerance). Contrast and sharpness follow the scene as much as the
    camera (on the real sets of ``bench/frame_checks.py`` their running levels left a 20 % band on most
    frames with no fault at all), so they are watched only where a user adds their baseline.
    """
    if not measured:
        raise ValueError("no frames measured: give at least one good frame")
    bright = [q.brightness for q in measured]
    low = max(0.0, min(bright) / 2)
    high = min(255.0, max(bright) + (255.0 - max(bright)) / 2)
    if high <= low:
        low, high = DEFAULT_BRIGHTNESS
    brightness = float(np.median(bright))
    return FrameChecks(
        brightness=(round(low, 1), round(high, 1)),
        min_contrast=round(min(q.contrast for q in measured) / 2, 2),
        max_saturated=round(min(1.0, 2 * max(q.saturated for q in measured) + 0.01), 4),
        min_sharpness=round(min(q.sharpness for q in measured) / 2, 1),
        frozen_frames=2,
        baseline=FrameBaseline(brightness=round(brightness, 2)) if brightness > 0 else None,
    )


def summarise(measured: Iterable[FrameQuality]) -> dict[str, dict[str, float]]:
    """The min / median / max of each measure over ``measured``."""
    rows = list(measured)
    out: dict[str, dict[str, float]] = {}
    for name in ("brightness", "contrast", "saturated", "sharpness"):
        values = np.array([getattr(q, name) for q in rows], np.float64)
        out[name] = {
            "min": float(values.min()),
            "median": float(np.median(values)),
            "max": float(values.max()),
        }
    return out
