"""Dataset statistics: images and boxes per class and split, backgrounds, box-size histogram."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from linecheck.datasets.yolo import Sample, YoloDataset

#: Box-area histogram bins, as fractions of the image area: (label, upper edge, exclusive).
AREA_BINS: tuple[tuple[str, float], ...] = (
    ("<0.1%", 0.001),
    ("0.1-1%", 0.01),
    ("1-5%", 0.05),
    ("5-25%", 0.25),
    (">=25%", float("inf")),
)


@dataclass(frozen=True, kw_only=True)
class DatasetStats:
    """Counts over a YOLO dataset; images shared by two splits count once in the totals.

    Attributes:
        names: class names in class-id order.
        images: distinct images.
        images_per_split: images listed by each split.
        backgrounds: distinct images without boxes (empty or missing label file).
        missing_labels: distinct images without a label file (included in ``backgrounds``).
        boxes: boxes over the distinct images.
        images_per_class: class -> images with at least one box of that class.
        boxes_per_class: class -> boxes.
        boxes_per_split: split -> class -> boxes.
        box_area_histogram: bin label (see :data:`AREA_BINS`) -> boxes whose area, as a fraction
            of the image, falls in that bin.

    """

    names: tuple[str, ...]
    images: int
    images_per_split: dict[str, int]
    backgrounds: int
    missing_labels: int
    boxes: int
    images_per_class: dict[str, int]
    boxes_per_class: dict[str, int]
    boxes_per_split: dict[str, dict[str, int]]
    box_area_histogram: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping."""
        data = asdict(self)
        data["names"] = list(self.names)
        return data


def _boxes_per_class(samples: list[Sample], names: tuple[str, ...]) -> dict[str, int]:
    counts = np.zeros(len(names), dtype=np.int64)
    for sample in samples:
        counts += np.bincount(sample.classes, minlength=len(names))[: len(names)]
    return dict(zip(names, counts.tolist(), strict=True))


def area_histogram(areas: np.ndarray) -> dict[str, int]:
    """Count ``areas`` (fractions of the image) into :data:`AREA_BINS`."""
    edges = np.array([edge for _, edge in AREA_BINS[:-1]])
    index = np.searchsorted(edges, np.asarray(areas, dtype=np.float64), side="right")
    counts = np.bincount(index, minlength=len(AREA_BINS))
    return {label: int(n) for (label, _), n in zip(AREA_BINS, counts.tolist(), strict=True)}


def dataset_stats(dataset: YoloDataset) -> DatasetStats:
    """Compute :class:`DatasetStats` for a loaded dataset."""
    names = dataset.names
    samples = dataset.samples()
    images_per_class = dict.fromkeys(names, 0)
    for sample in samples:
        for cls in sorted(set(sample.classes.tolist())):
            images_per_class[names[cls]] += 1
    areas = np.concatenate([s.boxes[:, 3] * s.boxes[:, 4] for s in samples]) if samples else np.zeros(0)
    return DatasetStats(
        names=names,
        images=len(samples),
        images_per_split={split: len(items) for split, items in dataset.splits.items()},
        backgrounds=sum(s.is_background for s in samples),
        missing_labels=sum(s.label is None for s in samples),
        boxes=sum(int(s.boxes.shape[0]) for s in samples),
        images_per_class=images_per_class,
        boxes_per_class=_boxes_per_class(samples, names),
        boxes_per_split={
            split: _boxes_per_class(list(items), names) for split, items in dataset.splits.items()
        },
        box_area_histogram=area_histogram(areas),
    )
