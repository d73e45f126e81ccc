"""Synthetic line-scan fabric frames: wide, continuous along the roll, deterministic, defects labelled."""

from __future__ import annotations

import numpy as np
import pytest

from linecheck.datasets.synth.line_scan import line_scan_frames
from linecheck.errors import InvalidFieldError


def test_frames_are_wide_and_the_same_whatever_the_count():
    few = list(line_scan_frames(seed=4, count=2, width=1024, height=128))
    more = list(line_scan_frames(seed=4, count=5, width=1024, height=128))
    assert [f.image.shape for f in more] == [(128, 1024, 3)] * 5
    assert all(np.array_equal(a.image, b.image) for a, b in zip(few, more[:2], strict=False))
    assert not np.array_equal(more[0].image, more[1].image)  # the roll moves on
    assert all(len(f.boxes) == 0 for f in more)  # good frames by default


def test_defective_frames_carry_boxes_inside_the_frame_where_the_image_changed():
    frames = list(line_scan_frames(seed=2, count=12, width=1024, height=128, defective=1.0))
    clean = list(line_scan_frames(seed=2, count=12, width=1024, height=128))
    assert all(len(f.boxes) >= 1 for f in frames) and sum(len(f.boxes) for f in frames) > 12
    for frame, good in zip(frames, clean, strict=True):
        assert frame.class_ids.tolist() and set(frame.class_ids.tolist()) <= {0, 1, 2, 3}
        for x1, y1, x2, y2 in frame.boxes.astype(int).tolist():
            assert 0 <= x1 < x2 <= 1024 and 0 <= y1 < y2 <= 128
            changed = np.abs(frame.image[y1:y2, x1:x2].astype(int) - good.image[y1:y2, x1:x2]).max()
            assert changed > 10


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"width": 100, "height": 128}, "width"), ({"height": 32}, "height"), ({"defective": 1.5}, "defective")],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(InvalidFieldError, match=field):
        next(line_scan_frames(seed=0, count=1, **kwargs))
