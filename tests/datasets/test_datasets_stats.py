from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from linecheck.datasets.stats import AREA_BINS, area_histogram, dataset_stats
from linecheck.datasets.yolo import load_yolo


@pytest.mark.parametrize(
    ("area", "label"),
    [
        (0.0, "<0.1%"),
        (0.000999, "<0.1%"),
        (0.001, "0.1-1%"),
        (0.0099, "0.1-1%"),
        (0.01, "1-5%"),
        (0.0499, "1-5%"),
        (0.05, "5-25%"),
        (0.2499, "5-25%"),
        (0.25, ">=25%"),
        (1.0, ">=25%"),
    ],
)
def test_area_bins_edges(area: float, label: str) -> None:
    histogram = area_histogram(np.array([area]))
    assert histogram == {name: int(name == label) for name, _ in AREA_BINS}


def test_stats_numbers(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo(
        {
            # w*h: 0.02*0.02 = 0.0004 (<0.1%), 0.1*0.1 = 0.01 (1-5%)
            "train/a.png": "0 0.5 0.5 0.02 0.02\n0 0.2 0.2 0.1 0.1\n",
            # 0.5*0.6 = 0.3 (>=25%), 0.2*0.3 = 0.06 (5-25%)
            "train/b.png": "1 0.5 0.5 0.5 0.6\n0 0.5 0.5 0.2 0.3\n",
            "train/c.png": "",
            "train/d.png": None,
            # 0.05*0.05 = 0.0025 (0.1-1%)
            "val/e.png": "2 0.5 0.5 0.05 0.05\n",
            "val/f.png": "",
        },
        names=("hole", "stain", "knot", "unused"),
    )
    stats = dataset_stats(load_yolo(root))
    assert stats.images == 6
    assert stats.images_per_split == {"train": 4, "val": 2}
    assert stats.backgrounds == 3 and stats.missing_labels == 1
    assert stats.boxes == 5
    assert stats.images_per_class == {"hole": 2, "stain": 1, "knot": 1, "unused": 0}
    assert stats.boxes_per_class == {"hole": 3, "stain": 1, "knot": 1, "unused": 0}
    assert stats.boxes_per_split == {
        "train": {"hole": 3, "stain": 1, "knot": 0, "unused": 0},
        "val": {"hole": 0, "stain": 0, "knot": 1, "unused": 0},
    }
    assert stats.box_area_histogram == {"<0.1%": 1, "0.1-1%": 1, "1-5%": 1, "5-25%": 1, ">=25%": 1}
    assert json.loads(json.dumps(stats.to_dict()))["names"] == ["hole", "stain", "knot", "unused"]


def test_shared_folder_counts_images_once(make_yolo: Callable[..., Path]) -> None:
    root = make_yolo(
        {"a.png": "0 0.5 0.5 0.1 0.1\n", "b.png": ""}, splits={"train": "images", "val": "images"}
    )
    stats = dataset_stats(load_yolo(root))
    assert stats.images == 2 and stats.boxes == 1 and stats.backgrounds == 1
    assert stats.images_per_split == {"train": 2, "val": 2}
    assert stats.boxes_per_split["val"]["hole"] == 1
