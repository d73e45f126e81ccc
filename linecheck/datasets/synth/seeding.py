"""Deterministic random streams: every image, unit, style and split gets its own seeded generator.

A stream is keyed by ``(seed, kind, purpose, index...)``, so image 17 of seed 3 is the same
whether 20 or 20,000 images are generated, and no stream depends on another one's draws.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from linecheck.errors import InvalidFieldError
from linecheck.kinds import Kind

_KIND_NO = {Kind.TEXTILE: 1, Kind.BEARING: 2, Kind.PV: 3}

#: Number of defects on a defective image and how often each count occurs.
DEFECT_COUNTS = (1, 2, 3)
DEFECT_COUNT_P = (0.55, 0.30, 0.15)


class Purpose(IntEnum):
    """What a random stream is used for."""

    STYLE = 0  # per-seed textures and looks, precomputed once
    SAMPLE = 1  # one dataset image
    UNIT = 2  # one unit of a frame stream
    SPLIT = 3  # dataset split and defect-free assignment
    CHALLENGE = 4  # one challenge part (the same part every time it runs)
    FAULT = 5  # a machine fault's defect (the same place of every unit it marks)


def check_seed(seed: int) -> int:
    """Return ``seed`` if it is a non-negative integer, else raise naming the field."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidFieldError("seed", seed, "expected a non-negative integer")
    return int(seed)


def rng_for(seed: int, kind: Kind, purpose: Purpose, *index: int) -> np.random.Generator:
    """The random generator of one stream."""
    return np.random.default_rng(
        np.random.SeedSequence([check_seed(seed), _KIND_NO[kind], int(purpose), *index])
    )


def draw_defect_count(rng: np.random.Generator) -> int:
    """Number of defects on a defective image: 1 to 3, fewer more often."""
    return int(rng.choice(DEFECT_COUNTS, p=DEFECT_COUNT_P))
