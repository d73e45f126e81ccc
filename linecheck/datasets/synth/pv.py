"""Electroluminescence (EL) images of PV modules: a known cell grid, busbars and fingers, a serial label.

Defects (crack, finger_interruption, dark_cell, broken_corner) each sit inside one cell; the QR
label lies below the cell grid, so no defect box can overlap it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from linecheck.datasets.synth.defects import DefectBuilder, Layer, place_defects
from linecheck.datasets.synth.frames import Rendered
from linecheck.datasets.synth.marking import module_count, render_code
from linecheck.datasets.synth.paint import (
    F32,
    Box,
    blank,
    draw_path,
    fill_polygon,
    jagged_path,
    soft,
    to_uint8,
)
from linecheck.datasets.synth.seeding import Purpose, rng_for
from linecheck.errors import InvalidFieldError
from linecheck.kinds import Kind
from linecheck.kinds.pv import PVGrid, PVOptions

#: Number of cell-texture looks precomputed per seed.
STYLES = 4
_MARGIN = 0.02  # frame margin left of the label, fraction of imgsz
_LABEL_TOP = 0.81
_LABEL_SIZE = 0.17


def _layout_fits(layout: PVOptions) -> PVOptions:
    """``layout`` if the synthetic frame has room for it above the serial label, else raise naming it."""
    if layout.grid_box[3] > _LABEL_TOP - 0.01:
        raise InvalidFieldError(
            "pv.grid_box",
            list(layout.grid_box),
            f"the synthetic line draws the serial label below {_LABEL_TOP} of the frame height; "
            f"the cell area must end above {_LABEL_TOP - 0.01:.2f}",
        )
    return layout


def label_box(imgsz: int) -> tuple[int, int, int]:
    """Top-left row and side of the square label band below the grid (the column varies per unit)."""
    side = round(_LABEL_SIZE * imgsz)
    return round(_LABEL_TOP * imgsz), side, imgsz - round(_MARGIN * imgsz) - side


def _grain(rng: np.random.Generator, size: int, imgsz: int) -> F32:
    """Cell texture tile: multicrystalline grains (Voronoi) or smooth mono, values around 1."""
    if rng.random() < 0.6:
        seeds = np.full((size, size), 255, np.uint8)
        n = int(size * size / (rng.uniform(14, 30) * imgsz / 640) ** 2)
        seeds[rng.integers(0, size, n), rng.integers(0, size, n)] = 0
        _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
        shade = rng.normal(1.0, rng.uniform(0.04, 0.09), labels.max() + 1).astype(np.float32)
        tex = cv2.GaussianBlur(shade[labels], (0, 0), 0.7)
        spots = soft(rng.random((size, size), np.float32), 3.0)  # dislocation clusters
        tex *= 1.0 - 0.25 * np.clip((spots - 0.8) * 5, 0, 1)
    else:
        tex = np.ones((size, size), np.float32) + rng.normal(0, 0.015, (size, size)).astype(np.float32)
    return np.asarray(tex, np.float32)


class PVGenerator:
    """EL frames of modules with one or more cell grids, a QR serial label and cell defects."""

    kind = Kind.PV

    def __init__(self, *, seed: int, imgsz: int, layouts: tuple[PVOptions, ...] = (PVOptions(),)) -> None:
        """Prepare a generator for the module layouts given (a line's ``pv`` options; one drawn per unit)."""
        self.seed = seed
        self.imgsz = imgsz
        self.layouts = tuple(_layout_fits(layout) for layout in layouts)
        self._textures: dict[int, F32] = {}
        self._patterns: dict[tuple[int, int, int], F32] = {}

    def texture(self, style: int) -> F32:
        """Grain tile of look ``style``."""
        if style not in self._textures:
            rng = rng_for(self.seed, self.kind, Purpose.STYLE, style)
            self._textures[style] = _grain(rng, self.imgsz, self.imgsz)
        return self._textures[style]

    def _metallisation(self, grid: PVGrid, busbars: int) -> F32:
        """Per-cell multiplicative pattern: edge darkening, vertical busbars and horizontal fingers."""
        key = (grid.rows, grid.cols, busbars)
        if key not in self._patterns:
            x1, y1, x2, y2 = grid.cell_box(0, 0)
            w, h = x2 - x1, y2 - y1
            pat = np.ones((h, w), np.float32)
            pitch = max(4.0, h / 14)
            for k in range(int(h / pitch)):
                pat[int((k + 0.5) * pitch), :] *= 0.86
            bw = max(2, round(0.04 * w))
            for b in range(busbars):
                cx = round((b + 0.5) * w / busbars)
                pat[:, cx - bw // 2 : cx - bw // 2 + bw] *= 0.45
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            edge = np.minimum(np.minimum(xx, w - 1 - xx), np.minimum(yy, h - 1 - yy))
            pat *= 0.8 + 0.2 * np.clip(edge / 3, 0, 1)
            self._patterns[key] = pat
        return self._patterns[key]

    def sample(
        self,
        rng: np.random.Generator,
        *,
        n_defects: int,
        code: str | None = None,
        classes: Sequence[int] | None = None,
    ) -> Rendered:
        """One module EL frame with its QR label (``code``, if given) and ``n_defects`` cell defects."""
        s = self.imgsz
        grid = self.layouts[int(rng.integers(len(self.layouts)))].grid(s, s)
        rows, cols = grid.rows, grid.cols
        x1, y1, x2, y2 = grid.cell_box(0, 0)
        cw, ch = x2 - x1, y2 - y1
        busbars = 2 if cw < 0.06 * s else int(rng.integers(2, 4))
        pattern = self._metallisation(grid, busbars)
        tex = self.texture(int(rng.integers(STYLES)))
        level = np.float32(rng.uniform(140, 200))
        grey = np.full((s, s), rng.uniform(8, 22), np.float32)
        gains = rng.normal(1.0, 0.04, (rows, cols)).astype(np.float32)
        offsets = rng.integers(0, s - max(cw, ch), (rows, cols, 2))
        for r in range(rows):
            for c in range(cols):
                bx1, by1, _, _ = grid.cell_box(r, c)
                oy, ox = offsets[r, c]
                grey[by1 : by1 + ch, bx1 : bx1 + cw] = (
                    tex[oy : oy + ch, ox : ox + cw] * pattern * (level * gains[r, c])
                )
        clean = np.repeat(grey[..., None], 3, axis=2)
        code_box: Box | None = None
        if code is not None:
            code_box = self._label(rng, clean, code)
        image = clean.copy()
        builders = _builders(s, grid, busbars)
        boxes, ids = place_defects(
            rng,
            image,
            n_defects,
            builders,
            margin=1.0,
            min_side=0.01 * s,
            min_area=0.0004 * s * s,
            classes=classes,
        )
        return Rendered(
            image=to_uint8(image), clean=to_uint8(clean), boxes=boxes, class_ids=ids, code_box=code_box
        )

    def _label(self, rng: np.random.Generator, image: F32, code: str) -> Box:
        """Paint the module serial label (a QR code on a light field) below the grid; return its box."""
        top, side, max_left = label_box(self.imgsz)
        side = max(side, module_count(code, "qr") + 4)  # tiny frames: one pixel per module at least
        top, max_left = min(top, self.imgsz - side), min(max_left, self.imgsz - side)
        left = int(rng.integers(round(_MARGIN * self.imgsz), max_left + 1))
        symbol = render_code(code, "qr", side).astype(np.float32)
        paper, ink = rng.uniform(185, 235), rng.uniform(15, 45)
        image[top : top + side, left : left + side] = (ink + (paper - ink) * symbol / 255.0)[..., None]
        return (float(left), float(top), float(left + side), float(top + side))


def _builders(s: int, grid: PVGrid, busbars: int) -> list[DefectBuilder]:
    """Defect builders in class-id order: crack, finger_interruption, dark_cell, broken_corner."""
    px = s / 640  # sizes below are tuned at 640 px

    def cell(rng: np.random.Generator) -> tuple[int, int, int, int]:
        return grid.cell_box(int(rng.integers(grid.rows)), int(rng.integers(grid.cols)))

    def crack(rng: np.random.Generator, image: F32) -> list[Layer]:
        x1, y1, x2, y2 = cell(rng)
        w, h = x2 - x1, y2 - y1
        mask = blank(h, w)
        # cracks start at a cell edge and run across (soldering stress), mostly along a long cell
        side = (
            int(rng.choice([0, 2]))
            if h > 1.5 * w
            else int(rng.choice([1, 3]))
            if w > 1.5 * h
            else int(rng.integers(4))
        )
        along = rng.uniform(0.15, 0.85)
        start = [(along * w, 0.0), (w - 1.0, along * h), (along * w, h - 1.0), (0.0, along * h)][side]
        heading = (np.pi / 2, np.pi, -np.pi / 2, 0.0)[side] + rng.uniform(-0.6, 0.6)
        length = rng.uniform(0.6, 1.1) * (h if side in (0, 2) else w)
        step = max(2.5, 0.07 * min(w, h))
        main = jagged_path(rng, *start, heading, length, step=step, jitter=0.6)
        width = max(2, round(rng.uniform(1.6, 2.6) * px))
        draw_path(mask, main, width)
        for _ in range(int(rng.integers(1, 4))):  # branches
            k = int(rng.integers(1, len(main) - 1))
            fork = heading + rng.uniform(0.5, 1.3) * rng.choice([-1, 1])
            branch = jagged_path(
                rng,
                float(main[k, 0]),
                float(main[k, 1]),
                fork,
                rng.uniform(0.25, 0.5) * length,
                step=step,
                jitter=0.6,
            )
            draw_path(mask, branch, max(1, width - 1))
        return [Layer(mask, x1, y1, "scale", float(rng.uniform(0.1, 0.3)))]

    def finger_interruption(rng: np.random.Generator, image: F32) -> list[Layer]:
        x1, y1, x2, y2 = cell(rng)
        w, h = x2 - x1, y2 - y1
        seg = w / busbars  # busbars sit at the middle of equal segments
        b = int(rng.integers(busbars - 1))  # the dark run spans from one busbar to the next
        rx0, rx1 = int((b + 0.5) * seg), int((b + 1.5) * seg)
        rh = int(rng.uniform(0.35, 0.65) * h)
        ry = int(rng.uniform(0.0, 1.0) * (h - rh))
        mask = blank(h, w)
        mask[ry : ry + rh, rx0:rx1] = 1.0
        return [Layer(mask, x1, y1, "scale", float(rng.uniform(0.3, 0.5)))]

    def dark_cell(rng: np.random.Generator, image: F32) -> list[Layer]:
        x1, y1, x2, y2 = cell(rng)
        w, h = x2 - x1, y2 - y1
        if rng.random() < 0.5:  # the whole cell dark
            return [Layer(np.ones((h, w), np.float32), x1, y1, "scale", float(rng.uniform(0.15, 0.4)))]
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)  # black core: dark centre fading out
        r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
        core = np.clip((rng.uniform(0.65, 0.9) - r) / 0.3, 0, 1)
        return [Layer(core, x1, y1, "scale", float(rng.uniform(0.08, 0.25)))]

    def broken_corner(rng: np.random.Generator, image: F32) -> list[Layer]:
        x1, y1, x2, y2 = cell(rng)
        w, h = x2 - x1, y2 - y1
        a, b = rng.uniform(0.4, 0.65) * w, rng.uniform(0.4, 0.65) * h
        corner = int(rng.integers(4))
        cx, cy = (0.0 if corner in (0, 3) else float(w)), (0.0 if corner in (0, 1) else float(h))
        sx, sy = (1 if cx == 0 else -1), (1 if cy == 0 else -1)
        tri = np.array([[cx, cy], [cx + sx * a, cy], [cx, cy + sy * b]], np.float64)
        mask = blank(h, w)
        fill_polygon(mask, tri)
        return [Layer(mask, x1, y1, "scale", float(rng.uniform(0.05, 0.15)))]

    return [crack, finger_interruption, dark_cell, broken_corner]
