"""Bearing ring end face under a ring light, a laser-marked DataMatrix, and scratch / dent / rust / crack.

The face is two concentric rings (inner and outer race) separated by a narrow seal groove, around a
dark bore; its geometry comes from the line config so the inspector names zones the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from linecheck.datasets.synth.defects import DefectBuilder, Layer, log_uniform, place_defects
from linecheck.datasets.synth.frames import Rendered
from linecheck.datasets.synth.marking import module_count, render_code
from linecheck.datasets.synth.paint import (
    F32,
    Box,
    blank,
    crop,
    draw_path,
    fill_polygon,
    irregular_polygon,
    jagged_path,
    soft,
    to_uint8,
)
from linecheck.datasets.synth.seeding import Purpose, rng_for
from linecheck.kinds import Kind
from linecheck.kinds.bearing import BearingGeometry, BearingOptions

#: Number of face looks precomputed per seed.
STYLES = 4


def _face(rng: np.random.Generator, imgsz: int, geo: BearingGeometry, r: F32) -> F32:
    """Grey-level face: annuli, radial falloff, specular ring and fine circular grinding marks."""
    s = imgsz / 640
    base = np.float32(rng.uniform(120, 160))
    span = geo.r_outer - geo.r_inner
    lum = base * (0.92 + 0.1 * np.cos((r - geo.r_inner) / span * np.pi * rng.uniform(0.6, 1.4)))
    spec_r = rng.uniform(geo.r_inner + 0.2 * span, geo.r_outer - 0.1 * span)
    spec_w = rng.uniform(0.01, 0.025) * imgsz
    lum += np.float32(rng.uniform(15, 35)) * np.exp(-(((r - spec_r) / spec_w) ** 2))
    marks = rng.normal(0.0, 1.0, int(geo.r_outer * 4) + 8).astype(np.float32)
    marks = np.convolve(marks, np.ones(2, np.float32) / 2, mode="same")
    lum += np.float32(rng.uniform(4, 9)) * marks[np.minimum((r * 4).astype(np.int32), marks.size - 1)]
    groove_w = max(2.0, 0.012 * imgsz)
    chamfer = max(2.0, 0.012 * imgsz)
    lum *= 1.0 - 0.75 * np.exp(-(((r - geo.r_split) / groove_w) ** 2))  # seal groove
    lum = np.where(np.abs(r - geo.r_outer + chamfer / 2) < chamfer / 2, lum * 0.7, lum)
    lum = np.where(np.abs(r - geo.r_inner - chamfer / 2) < chamfer / 2, lum * 1.15, lum)
    background = np.float32(rng.uniform(15, 35))
    bore = np.float32(rng.uniform(8, 25)) + 30 * np.exp(-(((geo.r_inner - r) / (6 * s)) ** 2))
    lum = np.where(r > geo.r_outer, background, np.where(r < geo.r_inner, bore, lum))
    edge = np.clip(geo.r_outer + 0.5 - r, 0, 1)  # anti-aliased outer edge
    return np.asarray(lum * edge + background * (1 - edge), np.float32)


class BearingGenerator:
    """Bearing end-face frames with a DataMatrix and scratches, dents, rust and cracks."""

    kind = Kind.BEARING

    def __init__(self, *, seed: int, imgsz: int, config: BearingOptions | None = None) -> None:
        """Prepare a generator for the ring geometry of ``config`` (a line's ``bearing`` options)."""
        self.seed = seed
        self.imgsz = imgsz
        self.geometry: BearingGeometry = (config or BearingOptions()).geometry(imgsz, imgsz)
        yy, xx = np.mgrid[0:imgsz, 0:imgsz].astype(np.float32) + 0.5
        self._dx, self._dy = xx - self.geometry.cx, yy - self.geometry.cy
        self._r = np.hypot(self._dx, self._dy)
        self._cos = self._dx / np.maximum(self._r, 1)
        self._sin = self._dy / np.maximum(self._r, 1)
        g = self.geometry
        self._metal = np.clip(np.minimum(self._r - g.r_inner, g.r_outer - self._r), 0, 1).astype(np.float32)
        self._faces: dict[int, F32] = {}

    def face(self, style: int) -> F32:
        """Grey-level face of look ``style`` (0 <= style < STYLES)."""
        if style not in self._faces:
            rng = rng_for(self.seed, self.kind, Purpose.STYLE, style)
            self._faces[style] = _face(rng, self.imgsz, self.geometry, self._r)
        return self._faces[style]

    def code_size(self, code: str) -> int:
        """Side in pixels of the marked DataMatrix (two-module quiet zone included), fitted to the race."""
        g = self.geometry
        band = g.r_outer - g.r_split
        side = int(min(0.11 * self.imgsz, 0.62 * band))
        return max(side, module_count(code) + 4)

    def sample(
        self,
        rng: np.random.Generator,
        *,
        n_defects: int,
        code: str | None = None,
        classes: Sequence[int] | None = None,
    ) -> Rendered:
        """One ring face with its DataMatrix (``code``, if given) and ``n_defects`` defects."""
        s = self.imgsz
        lum = self.face(int(rng.integers(STYLES)))
        a, phi = rng.uniform(0.03, 0.1), rng.uniform(0, 2 * np.pi)
        light = np.float32(rng.uniform(0.88, 1.1)) * (
            1 + np.float32(a * np.cos(phi)) * self._cos + np.float32(a * np.sin(phi)) * self._sin
        )
        grey = lum * light
        tint = np.array([1.03, 1.0, 0.96], np.float32)  # steel: slightly blue in BGR
        clean = grey[..., None] * tint
        code_box: Box | None = None
        if code is not None:
            code_box = self._mark(rng, clean, code)
        image = clean.copy()
        builders = _builders(s, self.geometry, self._metal)
        forbidden = [code_box] if code_box else []
        boxes, ids = place_defects(
            rng, image, n_defects, builders, forbidden=forbidden, min_side=0.02 * s, classes=classes
        )
        return Rendered(
            image=to_uint8(image), clean=to_uint8(clean), boxes=boxes, class_ids=ids, code_box=code_box
        )

    def _mark(self, rng: np.random.Generator, image: F32, code: str) -> Box:
        """Laser-mark ``code`` as a DataMatrix on the outer race, dark on metal; returns its box."""
        g = self.geometry
        side = self.code_size(code)
        symbol = render_code(code, "datamatrix", side).astype(np.float32) / 255.0  # 1 light, 0 dark
        r_mid = (g.r_split + g.r_outer) / 2
        angle = rng.uniform(0, 2 * np.pi)
        x0 = round(g.cx + r_mid * math.cos(angle) - side / 2)
        y0 = round(g.cy + r_mid * math.sin(angle) - side / 2)
        roi = image[y0 : y0 + side, x0 : x0 + side]
        mean = roi.reshape(-1, 3).mean(axis=0)
        roi[:] = roi * 0.35 + mean * 0.65  # the marking field is matte: grinding marks faded
        contrast = np.float32(rng.uniform(0.45, 0.65))
        roi *= (1.0 - contrast * (1.0 - symbol))[..., None]
        return (float(x0), float(y0), float(x0 + side), float(y0 + side))


def _builders(s: int, geo: BearingGeometry, metal: F32) -> list[DefectBuilder]:
    """Defect builders in class-id order: scratch, dent, rust, crack (all clipped to the metal)."""
    px = s / 640  # sizes below are tuned at 640 px

    def on_face(rng: np.random.Generator, margin: float) -> tuple[float, float, float]:
        """Random point on the metal (away from its edges by ``margin``) and its polar angle."""
        r = rng.uniform(geo.r_inner + margin, geo.r_outer - margin)
        t = rng.uniform(0, 2 * np.pi)
        return geo.cx + r * math.cos(t), geo.cy + r * math.sin(t), t

    def on_metal(alpha: F32, x0: int, y0: int) -> F32:
        return alpha * crop(metal, x0, y0, alpha.shape)

    def scratch(rng: np.random.Generator, image: F32) -> list[Layer]:
        length = log_uniform(rng, 0.1, 0.3) * s
        x, y, _ = on_face(rng, 0.02 * s)
        heading = rng.uniform(0, 2 * np.pi)
        bend = rng.uniform(-1.5, 1.5) / length  # a gentle arc
        n = max(8, int(length / 3))
        turn = heading + bend * np.arange(n) * (length / n)
        m = int(2 * length) + 8
        pts = np.vstack(
            [
                [m / 2, m / 2],
                np.stack([np.cumsum(np.cos(turn)), np.cumsum(np.sin(turn))], 1) * (length / n) + m / 2,
            ]
        )
        width = max(2, round(rng.uniform(2.5, 4.0) * px))
        groove, ridge = blank(m, m), blank(m, m)
        draw_path(ridge, pts, width)
        normal = np.array([-math.sin(heading), math.cos(heading)])
        draw_path(groove, pts + normal * (width * 0.8), max(1, width - 1))
        x0, y0 = int(x - m / 2), int(y - m / 2)
        return [  # a bright polished line with a faint shadowed flank, smooth, unlike a dark jagged crack
            Layer(on_metal(soft(groove, 0.6) * 0.6, x0, y0), x0, y0, "scale", float(rng.uniform(0.7, 0.8))),
            Layer(
                on_metal(soft(ridge, 0.6), x0, y0),
                x0,
                y0,
                "mix",
                np.full(3, rng.uniform(238, 255), np.float32),
            ),
        ]

    def dent(rng: np.random.Generator, image: F32) -> list[Layer]:
        radius = log_uniform(rng, 0.028, 0.05) * s
        x, y, _ = on_face(rng, radius + 2)
        m = int(3 * radius) + 6
        pit = blank(m, m)
        fill_polygon(
            pit, irregular_polygon(rng, m / 2, m / 2, radius, radius * rng.uniform(0.75, 1.0), jitter=0.08)
        )
        pit = soft(pit, 0.12 * radius)
        light_dir = rng.uniform(0, 2 * np.pi)
        dx, dy = round(0.25 * radius * math.cos(light_dir)), round(0.25 * radius * math.sin(light_dir))
        rim = np.clip(np.roll(pit, (dy, dx), axis=(0, 1)) - pit, 0, 1)
        x0, y0 = int(x - m / 2), int(y - m / 2)
        return [
            Layer(on_metal(pit, x0, y0), x0, y0, "scale", float(rng.uniform(0.3, 0.55))),
            Layer(on_metal(rim, x0, y0), x0, y0, "mix", np.full(3, 245, np.float32)),
        ]

    def rust(rng: np.random.Generator, image: F32) -> list[Layer]:
        w = log_uniform(rng, 0.06, 0.2) * s
        h = w * rng.uniform(0.6, 1.4)
        x, y, _ = on_face(rng, 0.2 * min(w, h))
        m = int(1.6 * max(w, h)) + 6
        mask = blank(m, m)
        fill_polygon(mask, irregular_polygon(rng, m / 2, m / 2, w / 2, h / 2, jitter=0.3, vertices=24))
        speckle = soft(rng.random((m, m), np.float32), 1.2 * px)
        alpha = (
            soft(mask, 0.05 * min(w, h))
            * np.clip(0.55 + 0.7 * speckle, 0, 1)
            * np.float32(rng.uniform(0.75, 0.95))
        )
        colour = np.array([rng.uniform(20, 45), rng.uniform(55, 85), rng.uniform(120, 170)], np.float32)
        patch = colour[None, None, :] * (0.75 + 0.5 * speckle[..., None])
        x0, y0 = int(x - m / 2), int(y - m / 2)
        return [Layer(on_metal(alpha, x0, y0), x0, y0, "mix", patch)]

    def crack(rng: np.random.Generator, image: F32) -> list[Layer]:
        length = log_uniform(rng, 0.09, 0.22) * s
        x, y, t = on_face(rng, 0.02 * s)
        heading = t + (np.pi if rng.random() < 0.5 else 0.0) + rng.uniform(-0.35, 0.35)  # mostly radial
        m = int(2.4 * length) + 8
        step = max(3.0, 0.012 * s)
        main = jagged_path(rng, m / 2, m / 2, heading, length, step=step, jitter=0.9)
        mask = blank(m, m)
        width = max(2, round(rng.uniform(2.0, 3.0) * px))
        draw_path(mask, main, width)
        if rng.random() < 0.7:  # a side branch
            k = int(rng.integers(1, len(main) - 1))
            fork = heading + rng.choice([-0.7, 0.7])
            branch = jagged_path(
                rng, float(main[k, 0]), float(main[k, 1]), fork, 0.35 * length, step=step, jitter=0.6
            )
            draw_path(mask, branch, max(1, width - 1))
        x0, y0 = int(x - m / 2), int(y - m / 2)
        return [Layer(on_metal(mask, x0, y0), x0, y0, "scale", float(rng.uniform(0.08, 0.25)))]

    return [scratch, dent, rust, crack]
