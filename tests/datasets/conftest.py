"""Builders of small YOLO datasets on disk for the dataset tests (images made with OpenCV)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

#: Builds a dataset: (root, {relative image path under images/: label text or None}, ...) -> root.
DatasetFactory = Callable[..., Path]


def write_image(path: Path, size: tuple[int, int] = (32, 24), value: int = 120) -> Path:
    """Write a ``size`` = (width, height) grey BGR image at ``path`` (format from the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((size[1], size[0], 3), value, np.uint8)
    assert cv2.imwrite(str(path), image), path
    return path


@pytest.fixture
def make_yolo(tmp_path: Path) -> DatasetFactory:
    """Return a builder of standard-layout datasets under ``tmp_path``."""

    def build(
        samples: Mapping[str, str | None],
        *,
        names: Sequence[str] = ("hole", "stain"),
        root: Path | None = None,
        splits: Mapping[str, str] | None = None,
        size: tuple[int, int] = (32, 24),
    ) -> Path:
        root = root or tmp_path / "ds"
        for rel, label in samples.items():
            write_image(root / "images" / rel, size)
            if label is not None:
                label_path = (root / "labels" / rel).with_suffix(".txt")
                label_path.parent.mkdir(parents=True, exist_ok=True)
                label_path.write_text(label, encoding="utf-8")
        data = {"path": ".", **(splits or {"train": "images/train", "val": "images/val"})}
        data["names"] = dict(enumerate(names))
        (root / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return root

    return build


@pytest.fixture
def image_writer() -> Callable[..., Path]:
    """Return :func:`write_image`."""
    return write_image
