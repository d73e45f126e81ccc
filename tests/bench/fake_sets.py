"""Small generated stand-ins for the real public sets, in their published layouts."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
from lc_image_data import texture


def fake_voc(root: Path, images: int = 14) -> Path:
    """Steel-like grey images with boxes of two classes, in NEU-DET's VOC layout."""
    rng = np.random.default_rng(1)
    (root / "Annotations").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    for i in range(images):
        image = texture(rng, 96, 96)
        name = ("scratches", "patches")[i % 2]
        x1, y1 = (int(v) for v in rng.integers(5, 45, 2))
        x2, y2 = x1 + 30, y1 + 30
        cv2.rectangle(image, (x1, y1), (x2, y2), 30 if i % 2 else 220, -1)
        cv2.imwrite(str(root / "JPEGImages" / f"{name}_{i}.jpg"), image)
        (root / "Annotations" / f"{name}_{i}.xml").write_text(
            f"<annotation><filename>{name}_{i}.jpg</filename><size><width>96</width><height>96</height>"
            f"<depth>1</depth></size><object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
            f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object></annotation>"
        )
    return root
