"""Placing defects: each defect is a stack of alpha layers, labelled by the box of what it visibly changed.

A defect builder returns the layers it would draw without touching the image, so a placement whose
reach overlaps an earlier defect or a forbidden region (the traceability code) is discarded and
redrawn elsewhere before anything is painted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from linecheck.datasets.synth.paint import F32, Box, alpha_box, mix, overlaps, scale, union


@dataclass(frozen=True, slots=True)
class Layer:
    """One alpha-masked edit of the image.

    Attributes:
        alpha: local (h, w) mask in [0, 1].
        x0: image column of the mask's left edge (may be negative; the mask is clipped).
        y0: image row of the mask's top edge.
        mode: ``mix`` blends towards ``value`` (colour (3,) or (h, w, 3) patch); ``scale`` multiplies by
            ``value`` (scalar or (3,) gain).
        value: target colour / patch or gain.
        threshold: mask level above which the layer counts as reaching a pixel (for overlap checks).

    """

    alpha: F32
    x0: int
    y0: int
    mode: Literal["mix", "scale"]
    value: F32 | float
    threshold: float = 0.05

    def box(self, image_shape: Sequence[int]) -> Box | None:
        """Tight box of what this layer draws, or None when nothing visible lands in the image."""
        return alpha_box(self.alpha, self.x0, self.y0, image_shape, self.threshold)

    def apply(self, image: F32) -> None:
        """Draw this layer into ``image`` (float HxWx3) in place."""
        if self.mode == "mix":
            mix(image, self.alpha, self.x0, self.y0, np.asarray(self.value, np.float32))
        else:
            scale(image, self.alpha, self.x0, self.y0, self.value)


#: Builds the layers of one defect, given the random stream and the current image (read only).
DefectBuilder = Callable[[np.random.Generator, F32], list[Layer]]


def layers_box(layers: Sequence[Layer], image_shape: Sequence[int]) -> Box | None:
    """Union of the layers' boxes."""
    box: Box | None = None
    for layer in layers:
        b = layer.box(image_shape)
        if b is not None:
            box = b if box is None else union(box, b)
    return box


def drawn_box(before: F32, after: F32, region: Box, *, min_change: float, rel_change: float) -> Box | None:
    """Tight box of the pixels in ``region`` that a drawing visibly changed.

    A pixel counts when its largest channel change reaches ``min_change`` grey levels and
    ``rel_change`` times the largest change of the defect, so faint soft tails stay outside.
    """
    x1, y1, x2, y2 = (int(v) for v in region)
    diff = np.abs(after[y1:y2, x1:x2] - before).max(axis=2)
    peak = float(diff.max(initial=0.0))
    if not peak >= min_change:  # also false for NaN
        return None
    changed = diff >= max(min_change, rel_change * peak)
    rows = np.flatnonzero(changed.any(axis=1))
    cols = np.flatnonzero(changed.any(axis=0))
    if rows.size == 0:
        return None
    return (float(x1 + cols[0]), float(y1 + rows[0]), float(x1 + cols[-1] + 1), float(y1 + rows[-1] + 1))


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def place_defects(
    rng: np.random.Generator,
    image: F32,
    count: int,
    builders: Sequence[DefectBuilder],
    *,
    forbidden: Sequence[Box] = (),
    margin: float = 4.0,
    min_side: float = 4.0,
    min_area: float = 0.0,
    min_change: float = 10.0,
    rel_change: float = 0.2,
    tries: int = 24,
    classes: Sequence[int] | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Draw ``count`` defects of random classes (builder index = class id) that do not overlap.

    ``classes``: draw these class ids instead, in turn (a challenge part's known defects).

    The layers' reach (mask above each layer's threshold) must stay clear of earlier defects and of
    ``forbidden`` boxes; the label box is then fitted to the pixels the defect visibly changed (see
    :func:`drawn_box`). Returns (N, 4) float32 boxes and (N,) int64 class ids; a defect that finds no
    free place in ``tries`` attempts is skipped, so N can be less than ``count``.
    """
    boxes: list[Box] = []
    reaches: list[Box] = []
    ids: list[int] = []
    for i in range(count):
        class_id = int(classes[i % len(classes)]) if classes else int(rng.integers(len(builders)))
        for _attempt in range(tries):
            layers = builders[class_id](rng, image)
            reach = layers_box(layers, image.shape)
            if reach is None or overlaps(reach, [*reaches, *forbidden], margin):
                continue
            x1, y1, x2, y2 = (int(v) for v in reach)
            before = image[y1:y2, x1:x2].copy()
            for layer in layers:
                layer.apply(image)
            box = drawn_box(before, image, reach, min_change=min_change, rel_change=rel_change)
            if box is None or min(box[2] - box[0], box[3] - box[1]) < min_side or _area(box) < min_area:
                image[y1:y2, x1:x2] = before  # too faint or too small to label: undo, try elsewhere
                continue
            boxes.append(box)
            reaches.append(reach)
            ids.append(class_id)
            break
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(ids, np.int64)


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A size between ``low`` and ``high``, small values as likely per octave as large ones."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))
