"""Woven fabric: interlaced warp and weft yarns, an optional print, and hole / stain / broken yarn / knot.

Fabric looks ("styles") are rendered once per seed as seamless tiles; a frame is a crop of a tile,
and the frames of one roll are consecutive crops along the tile (wrapping around), so a roll is
continuous fabric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.datasets.synth.defects import DefectBuilder, Layer, log_uniform, place_defects
from linecheck.datasets.synth.frames import Rendered
from linecheck.datasets.synth.paint import F32, blank, fill_polygon, irregular_polygon, soft, to_uint8
from linecheck.datasets.synth.seeding import Purpose, rng_for
from linecheck.kinds import Kind

#: Number of fabric looks precomputed per seed.
STYLES = 6


@dataclass(frozen=True, slots=True)
class Fabric:
    """One fabric look: a seamless tile and its yarn pitch in pixels."""

    tile: npt.NDArray[np.uint8]
    pitch: int

    @property
    def size(self) -> int:
        """Tile side in pixels."""
        return int(self.tile.shape[0])


def _yarn_colours(rng: np.random.Generator) -> tuple[F32, F32]:
    if rng.random() < 0.4:  # undyed greige
        base = np.array([172, 196, 212], np.float32) * np.float32(rng.uniform(0.85, 1.1))
    else:
        hsv = np.array([[[rng.integers(0, 180), rng.integers(50, 170), rng.integers(150, 230)]]], np.uint8)
        base = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    weft = base * rng.uniform(0.9, 1.08, 3).astype(np.float32)
    return base, weft


def _print_layer(rng: np.random.Generator, size: int) -> tuple[F32, F32]:
    """A periodic printed pattern (stripes, check or dots) as an alpha mask and its colour gain."""
    repeats = int(rng.integers(3, 9))
    phase = np.arange(size, dtype=np.float32) * np.float32(2 * np.pi * repeats / size)
    cx, cy = np.cos(phase)[None, :], np.cos(phase)[:, None]
    pattern = str(rng.choice(["stripes_x", "stripes_y", "check", "dots"]))
    if pattern == "stripes_x":
        field = np.broadcast_to(cx, (size, size))
    elif pattern == "stripes_y":
        field = np.broadcast_to(cy, (size, size))
    elif pattern == "check":
        field = np.maximum(cx, cy)
    else:
        field = (cx + cy) - 1.0
    alpha = np.clip((field - rng.uniform(0.0, 0.6)) * 4.0, 0.0, 1.0) * np.float32(rng.uniform(0.25, 0.5))
    gain = rng.uniform(0.55, 0.95, 3).astype(np.float32)
    return alpha.astype(np.float32), gain


def make_fabric(rng: np.random.Generator, imgsz: int) -> Fabric:
    """Render one seamless fabric tile (about twice the frame size)."""
    pitch = max(3, round(rng.uniform(5.0, 9.0) * imgsz / 640))
    yarns = 6 * math.ceil(2 * imgsz / (6 * pitch))  # a multiple of 2 and 3: plain and twill tile seamlessly
    size = yarns * pitch
    idx = np.arange(size)
    yarn = idx // pitch
    bump = np.sin(np.pi * (idx % pitch + 0.5) / pitch).astype(np.float32)

    def profile() -> F32:
        roundness = rng.uniform(0.35, 0.8, yarns).astype(np.float32)
        shade = rng.normal(1.0, 0.04, yarns).astype(np.float32)
        return np.asarray(bump ** roundness[yarn] * shade[yarn], np.float32)

    warp_p, weft_p = profile(), profile()
    if rng.random() < 0.6:
        top = (yarn[None, :] + yarn[:, None]) % 2 == 0  # plain weave
    else:
        top = (yarn[None, :] - yarn[:, None]) % 3 != 0  # 2/1 twill
    warp = warp_p[None, :] * (0.78 + 0.22 * bump[:, None])
    weft = weft_p[:, None] * (0.78 + 0.22 * bump[None, :])
    lum = 0.35 + 0.65 * np.where(top, warp, weft)
    lum *= 1.0 + rng.normal(0.0, 0.035, (size, size)).astype(np.float32)
    warp_c, weft_c = _yarn_colours(rng)
    tile = np.where(top[..., None], warp_c, weft_c) * lum[..., None]
    if rng.random() < 0.45:
        alpha, gain = _print_layer(rng, size)
        tile *= 1.0 + alpha[..., None] * (gain - 1.0)
    return Fabric(tile=to_uint8(tile), pitch=pitch)


class TextileGenerator:
    """Fabric frames with holes, stains, broken yarns and knots, deterministic by seed."""

    kind = Kind.TEXTILE

    def __init__(self, *, seed: int, imgsz: int) -> None:
        """Prepare a generator; fabric tiles are rendered lazily, once each."""
        self.seed = seed
        self.imgsz = imgsz
        self._fabrics: dict[int, Fabric] = {}

    def fabric(self, style: int) -> Fabric:
        """The fabric tile of look number ``style`` (0 <= style < STYLES)."""
        if style not in self._fabrics:
            self._fabrics[style] = make_fabric(
                rng_for(self.seed, self.kind, Purpose.STYLE, style), self.imgsz
            )
        return self._fabrics[style]

    def sample(
        self,
        rng: np.random.Generator,
        *,
        n_defects: int,
        code: str | None = None,
        classes: Sequence[int] | None = None,
    ) -> Rendered:
        """One independent frame: a random crop of a random look with ``n_defects`` defects (code unused)."""
        fabric = self.fabric(int(rng.integers(STYLES)))
        span = fabric.size - self.imgsz
        ox, oy = int(rng.integers(span + 1)), int(rng.integers(span + 1))
        gain = float(rng.uniform(0.88, 1.1))
        return self.frame(rng, fabric, ox=ox, oy=oy, gain=gain, n_defects=n_defects, classes=classes)

    def frame(
        self,
        rng: np.random.Generator,
        fabric: Fabric,
        *,
        ox: int,
        oy: int,
        gain: float,
        n_defects: int,
        classes: Sequence[int] | None = None,
    ) -> Rendered:
        """Crop ``fabric`` at column ``ox`` and row ``oy`` (rows wrap around) and draw defects."""
        s = self.imgsz
        rows = (oy + np.arange(s)) % fabric.size
        clean = fabric.tile[rows, ox : ox + s].astype(np.float32) * np.float32(gain)
        image = clean.copy()
        boxes, ids = self.draw_defects(rng, image, fabric, ox=ox, oy=oy, n_defects=n_defects, classes=classes)
        return Rendered(image=to_uint8(image), clean=to_uint8(clean), boxes=boxes, class_ids=ids)

    def draw_defects(
        self,
        rng: np.random.Generator,
        image: F32,
        fabric: Fabric,
        *,
        ox: int,
        oy: int,
        n_defects: int,
        classes: Sequence[int] | None = None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Draw ``n_defects`` into ``image`` (an ``imgsz`` square of ``fabric`` cropped at ``ox, oy``, float).

        ``image`` may be a window of a larger frame (a line-scan frame); boxes are in its pixels.
        """
        s = self.imgsz
        builders = _builders(s, fabric.pitch, ox, oy)
        return place_defects(rng, image, n_defects, builders, min_side=0.008 * s, classes=classes)


def _local_mean(image: F32, x: float, y: float, r: float) -> F32:
    """Mean colour of the square of half-side ``r`` around ``x, y`` (moved inside the image)."""
    size = image.shape[0]
    r = max(1, min(int(r), size // 2))
    cx, cy = int(np.clip(x, r, size - r)), int(np.clip(y, r, size - r))
    return np.asarray(image[cy - r : cy + r, cx - r : cx + r].reshape(-1, 3).mean(axis=0), np.float32)


def _builders(s: int, pitch: int, ox: int, oy: int) -> list[DefectBuilder]:
    """Defect builders in class-id order: hole, stain, broken_yarn, knot."""

    def hole(rng: np.random.Generator, image: F32) -> list[Layer]:
        d = log_uniform(rng, 0.06, 0.15) * s
        rx, ry = d / 2 * rng.uniform(0.8, 1.2), d / 2 * rng.uniform(0.8, 1.2)
        m = int(2.4 * max(rx, ry)) + 2 * pitch + 4
        cx, cy = rng.uniform(0, s), rng.uniform(0, s)
        core = blank(m, m)
        fill_polygon(core, irregular_polygon(rng, m / 2, m / 2, rx, ry, jitter=0.2))
        fray = np.clip(cv2.dilate(core, np.ones((pitch + 1, pitch + 1), np.uint8)) - core, 0, 1) * 0.7
        backing = np.float32(rng.uniform(12, 45)) * (0.75 + 0.5 * rng.random((m, m, 1), np.float32))
        x0, y0 = int(cx - m / 2), int(cy - m / 2)
        return [
            Layer(fray, x0, y0, "scale", float(rng.uniform(0.45, 0.65))),
            Layer(core, x0, y0, "mix", np.broadcast_to(backing, (m, m, 3)).copy()),
        ]

    def stain(rng: np.random.Generator, image: F32) -> list[Layer]:
        w = log_uniform(rng, 0.07, 0.3) * s
        h = w * rng.uniform(0.6, 1.5)
        m = int(1.6 * max(w, h)) + 4
        mask = blank(m, m)
        fill_polygon(mask, irregular_polygon(rng, m / 2, m / 2, w / 2, h / 2, jitter=0.25))
        alpha = soft(mask, 0.12 * min(w, h))
        dye = rng.uniform(0.35, 0.95, 3).astype(np.float32)
        dye[int(rng.integers(3))] = rng.uniform(0.25, 0.5)  # a dye stain always shifts the colour clearly
        tint = [
            np.array([0.38, 0.58, 0.85], np.float32),  # brown (rust, tea)
            np.array([0.55, 0.55, 0.57], np.float32),  # grey (oil, grease)
            dye,
        ][int(rng.integers(3))]
        gain = 1.0 - np.float32(rng.uniform(0.7, 1.0)) * (1.0 - tint)
        cx, cy = rng.uniform(0, s), rng.uniform(0, s)
        return [Layer(alpha, int(cx - m / 2), int(cy - m / 2), "scale", gain)]

    def broken_yarn(rng: np.random.Generator, image: F32) -> list[Layer]:
        n = max(int(rng.integers(1, 3)), math.ceil(0.012 * s / pitch))
        t = n * pitch
        length = int(log_uniform(rng, 0.3, 1.0) * s)
        start = int(rng.uniform(-0.1 * s, s - 0.7 * length))
        across = int(rng.integers(0, s - t))
        vertical = bool(rng.random() < 0.5)
        across -= (across + (ox if vertical else oy)) % pitch  # align with a yarn's edges
        taper = max(2, int(0.03 * s))
        ramp = np.minimum(np.arange(length, dtype=np.float32) + 1, np.arange(length, 0, -1, dtype=np.float32))
        alpha: F32 = np.repeat(np.clip(ramp / np.float32(taper), 0, 1)[None, :], t, axis=0).astype(np.float32)
        alpha[0, :] *= 0.6
        alpha[-1, :] *= 0.6
        if vertical:
            alpha = np.ascontiguousarray(alpha.T)
        x0, y0 = (across, start) if vertical else (start, across)
        if rng.random() < 0.6:  # missing yarn: a dark gap
            return [Layer(alpha, x0, y0, "scale", float(rng.uniform(0.35, 0.6)))]
        light = np.minimum(_local_mean(image, x0, y0, 8) * 1.45 + 20, 255)  # a lighter, looser yarn
        return [Layer(alpha * np.float32(rng.uniform(0.55, 0.8)), x0, y0, "mix", light)]

    def knot(rng: np.random.Generator, image: F32) -> list[Layer]:
        along, across = rng.uniform(0.06, 0.11) * s, rng.uniform(0.045, 0.07) * s
        vertical = bool(rng.random() < 0.5)
        rx, ry = (across / 2, along / 2) if vertical else (along / 2, across / 2)
        m = int(1.5 * max(rx, ry) * 2) + 6
        body = blank(m, m)
        fill_polygon(body, irregular_polygon(rng, m / 2, m / 2, rx, ry, jitter=0.08, vertices=14))
        body = soft(body, 0.8)
        shift = max(1, round(0.15 * across))
        shadow = soft(np.roll(body, (shift, shift), axis=(0, 1)), 1.5)
        cx, cy = rng.uniform(0, s), rng.uniform(0, s)
        colour = np.minimum(_local_mean(image, cx, cy, 10) * 1.25 + 25, 255)
        ramp = np.linspace(1.25, 0.75, m, dtype=np.float32)
        shading = (ramp[None, :] + ramp[:, None]) / 2 * (1 + rng.normal(0, 0.06, (m, m)).astype(np.float32))
        patch = np.minimum(colour[None, None, :] * shading[..., None], 255)
        x0, y0 = int(cx - m / 2), int(cy - m / 2)
        return [
            Layer(shadow, x0, y0, "scale", float(rng.uniform(0.45, 0.6))),
            Layer(body, x0, y0, "mix", patch),
        ]

    return [hole, stain, broken_yarn, knot]
