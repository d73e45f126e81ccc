"""Generated image folders for the classification and anomaly tasks (no downloads, a few KB)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A woven-looking periodic grey texture with sensor noise."""
    cols = 128 + 30 * np.sin(np.arange(width) * 2 * np.pi / 8)
    image = np.tile(cols.astype(np.float32), (height, 1)) + rng.normal(0, 6, (height, width))
    return image.clip(0, 255).astype(np.uint8)


def with_defect(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """A dark blob (a stain / hole) somewhere inside the image."""
    out = image.copy()
    h, w = out.shape[:2]
    centre = (int(rng.integers(w // 5, 4 * w // 5)), int(rng.integers(h // 5, 4 * h // 5)))
    cv2.circle(out, centre, max(4, min(h, w) // 8), 15, -1)
    return out


def write_class_folders(root: Path, per_class: int, *, size: int = 64, seed: int = 0) -> Path:
    """``root/{functional,defective}/NNN.png`` (plain class folders, split by the trainer)."""
    rng = np.random.default_rng(seed)
    for name in ("functional", "defective"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = texture(rng, size, size)
            cv2.imwrite(
                str(root / name / f"{i:03d}.png"), with_defect(rng, image) if name == "defective" else image
            )
    return root


def write_good_and_eval(
    root: Path, good: int, evaluate: int, *, height: int, width: int, seed: int = 0
) -> Path:
    """``root/good/*.png`` defect-free frames and ``root/eval/{good,defect}/*.png``."""
    rng = np.random.default_rng(seed)
    (root / "good").mkdir(parents=True, exist_ok=True)
    for i in range(good):
        cv2.imwrite(str(root / "good" / f"{i:03d}.png"), texture(rng, height, width))
    for name in ("good", "defect"):
        (root / "eval" / name).mkdir(parents=True, exist_ok=True)
        for i in range(evaluate):
            image = texture(rng, height, width)
            cv2.imwrite(
                str(root / "eval" / name / f"{i:03d}.png"),
                with_defect(rng, image) if name == "defect" else image,
            )
    return root
