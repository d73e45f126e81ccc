"""Line-scan fabric frames: the whole width of a roll in one wide frame (4096 x 256 px by default).

A line-scan camera sees the roll's full width a few hundred rows at a time, so its frames are far
wider than any model's input and go to the model as native tiles (:mod:`linecheck.model.tiling`).
The frames of one roll are consecutive rows of one synthetic weave (its seamless tile repeated across
the width). A defective frame gets one to three defects (hole, stain, broken yarn, knot), each drawn
in its own ``height`` x ``height`` window of the frame. Deterministic by seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linecheck.datasets.synth.paint import to_uint8
from linecheck.datasets.synth.seeding import Purpose, check_seed, draw_defect_count, rng_for
from linecheck.datasets.synth.textile import STYLES, TextileGenerator
from linecheck.errors import InvalidFieldError
from linecheck.kinds import Kind


@dataclass(frozen=True, kw_only=True, slots=True)
class LineScanFrame:
    """One wide frame and its defects (boxes in frame pixels, class ids of the textile kind)."""

    index: int
    image: npt.NDArray[np.uint8]
    boxes: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int64]


def line_scan_frames(
    *, seed: int, count: int, width: int = 4096, height: int = 256, defective: float = 0.0
) -> Iterator[LineScanFrame]:
    """``count`` consecutive frames of one roll; each is defective with probability ``defective``.

    Frame ``i`` is the same whatever ``count`` is. The weave's yarn pitch is set for frames
    ``height`` pixels high (3 to 4 pixels at 256: a 1.2-1.5 mm pitch at 0.4 mm per pixel).
    """
    check_seed(seed)
    if width < height or height < 64:
        raise InvalidFieldError("width, height", (width, height), "expected width >= height >= 64")
    if not 0.0 <= defective <= 1.0:
        raise InvalidFieldError("defective", defective, "expected a share in [0, 1]")
    generator = TextileGenerator(seed=seed, imgsz=height)
    roll = rng_for(seed, Kind.TEXTILE, Purpose.UNIT, width, height)
    fabric = generator.fabric(int(roll.integers(STYLES)))
    ox, oy = int(roll.integers(fabric.size)), int(roll.integers(fabric.size))
    gain = np.float32(roll.uniform(0.9, 1.1))
    columns = (ox + np.arange(width)) % fabric.size
    windows = width // height
    for i in range(count):
        rng = rng_for(seed, Kind.TEXTILE, Purpose.SAMPLE, width, height, i)
        top = (oy + i * height) % fabric.size
        rows = (top + np.arange(height)) % fabric.size
        image = fabric.tile[rows][:, columns].astype(np.float32) * gain
        n = draw_defect_count(rng) if rng.random() < defective else 0
        boxes: list[npt.NDArray[np.float32]] = []
        ids: list[npt.NDArray[np.int64]] = []
        for window in sorted(int(w) for w in rng.choice(windows, size=min(n, windows), replace=False)):
            x0 = window * height
            found, classes = generator.draw_defects(
                rng, image[:, x0 : x0 + height], fabric, ox=int(columns[x0]), oy=top, n_defects=1
            )
            boxes.append(found + np.array([x0, 0, x0, 0], np.float32))
            ids.append(classes)
        yield LineScanFrame(
            index=i,
            image=to_uint8(image),
            boxes=np.concatenate(boxes).astype(np.float32) if boxes else np.zeros((0, 4), np.float32),
            class_ids=np.concatenate(ids).astype(np.int64) if ids else np.zeros(0, np.int64),
        )
