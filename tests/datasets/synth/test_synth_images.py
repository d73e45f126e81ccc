"""Generated images: every drawn defect is labelled by a tight box, sizes vary, codes stay clear."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from linecheck.datasets.synth import Rendered, render_sample
from linecheck.kinds import Kind
from linecheck.kinds.bearing import BearingOptions
from linecheck.kinds.pv import PVOptions

IMGSZ = 640
N = 48  # defective samples per kind


@cache
def samples(kind: Kind) -> tuple[Rendered, ...]:
    return tuple(render_sample(kind, seed=21, index=i, imgsz=IMGSZ, defective=True) for i in range(N))


def _diff(sample: Rendered) -> np.ndarray:
    return np.abs(sample.image.astype(np.int16) - sample.clean.astype(np.int16)).max(axis=2)


@pytest.mark.parametrize("kind", list(Kind))
def test_boxes_are_inside_the_image_and_fit_the_drawn_pixels(kind: Kind) -> None:
    for sample in samples(kind):
        assert 1 <= len(sample.boxes) <= 3
        diff = _diff(sample)
        for x1, y1, x2, y2 in sample.boxes.astype(int).tolist():
            assert 0 <= x1 < x2 <= IMGSZ and 0 <= y1 < y2 <= IMGSZ
            inside = diff[y1:y2, x1:x2] >= 10
            assert inside.sum() >= 12, "a labelled defect must visibly change the image"
            # tight: the box's outer rows and columns all touch the defect
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()


@pytest.mark.parametrize("kind", list(Kind))
def test_nothing_visible_is_drawn_outside_the_boxes(kind: Kind) -> None:
    for sample in samples(kind):
        diff = _diff(sample)
        outside = np.ones(diff.shape, bool)
        for x1, y1, x2, y2 in sample.boxes.astype(int).tolist():
            outside[max(0, y1 - 1) : y2 + 1, max(0, x1 - 1) : x2 + 1] = False
        assert diff[outside].max(initial=0) < 64  # only faint soft-edge tails may reach past a box
        assert (diff[outside] >= 10).mean() < 0.005


@pytest.mark.parametrize("kind", list(Kind))
def test_defect_free_samples_are_the_clean_image(kind: Kind) -> None:
    for index in range(4):
        sample = render_sample(kind, seed=21, index=index, imgsz=IMGSZ, defective=False)
        assert sample.boxes.shape == (0, 4) and sample.class_ids.shape == (0,)
        np.testing.assert_array_equal(sample.image, sample.clean)


@pytest.mark.parametrize(
    ("kind", "min_area", "p10_area"),
    [(Kind.TEXTILE, 0.0015, 0.003), (Kind.BEARING, 0.0005, 0.002), (Kind.PV, 0.0003, 0.0006)],
)
def test_sizes_vary_and_include_small_but_not_tiny_defects(
    kind: Kind, min_area: float, p10_area: float
) -> None:
    boxes = np.concatenate([s.boxes for s in samples(kind)])
    ids = np.concatenate([s.class_ids for s in samples(kind)])
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    area = w * h / IMGSZ**2
    assert set(ids.tolist()) == {0, 1, 2, 3}, "every class occurs"
    assert (area < 0.01).mean() >= 0.3, "small defects (< 1% of the image) are common"
    assert area.max() / area.min() > 5, "sizes vary"
    assert area.min() >= min_area and np.percentile(area, 10) >= p10_area, "not absurdly tiny"
    assert np.minimum(w, h).min() >= 6


def test_bearing_defects_lie_on_the_ring_and_clear_of_the_datamatrix() -> None:
    geo = BearingOptions().geometry(IMGSZ, IMGSZ)
    for sample in samples(Kind.BEARING):
        assert sample.code_box is not None
        cx1, cy1, cx2, cy2 = sample.code_box
        for x1, y1, x2, y2 in sample.boxes.tolist():
            assert x2 <= cx1 or cx2 <= x1 or y2 <= cy1 or cy2 <= y1, "defect box overlaps the code"
            assert geo.zone((x1 + x2) / 2, (y1 + y2) / 2) != "outside"


def test_pv_defects_each_lie_inside_one_cell_and_the_label_is_below_the_grid() -> None:
    for sample in samples(Kind.PV):
        assert sample.code_box is not None
        assert sample.code_box[1] >= max(y2 for _, _, _, y2 in sample.boxes.tolist())
        # the sample's grid is not recorded; find the grid under which every box fits one cell
        fits_some_grid = False
        for rows, cols in ((6, 10), (6, 12), (6, 24)):
            grid = PVOptions(rows=rows, cols=cols).grid(IMGSZ, IMGSZ)
            ok = True
            for x1, y1, x2, y2 in sample.boxes.tolist():
                cell = grid.cell_at((x1 + x2) / 2, (y1 + y2) / 2)
                if cell is None:
                    ok = False
                    break
                bx1, by1, bx2, by2 = grid.cell_box(*cell)
                ok &= bx1 <= x1 and by1 <= y1 and x2 <= bx2 and y2 <= by2
            fits_some_grid |= ok
        assert fits_some_grid
