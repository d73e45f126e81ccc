"""A machine fault on a simulated line: from its unit on, every frame shows one defect at one place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linecheck.config import LineConfig, load_line
from linecheck.datasets.synth.camera import SyntheticSource
from linecheck.datasets.synth.streams import machine_fault
from linecheck.errors import FrameSourceError
from linecheck.inspect.frame_source import SourceContext
from linecheck.kinds import get_kind
from linecheck.messages import Frame

ROOT = Path(__file__).resolve().parents[3]


def _line(line_id: str) -> LineConfig:
    return load_line(ROOT / "configs" / "lines" / f"{line_id}.yaml")


@pytest.mark.parametrize(
    ("line_id", "class_name"), [("bearing-01", None), ("pv-01", "crack"), ("textile-01", "hole")]
)
def test_a_fault_is_one_visible_defect_drawn_the_same_on_any_frame(
    line_id: str, class_name: str | None
) -> None:
    line = _line(line_id)
    fault = machine_fault(line, seed=2, class_name=class_name)
    assert get_kind(line.kind).classes[fault.class_id] == (class_name or get_kind(line.kind).classes[0])
    x1, y1, x2, y2 = fault.box
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 640 and fault.delta.shape == (y2 - y1, x2 - x1, 3)
    assert np.abs(fault.delta).max() >= 10  # a defect one can see
    again = machine_fault(line, seed=2, class_name=class_name)
    assert again.box == fault.box and np.array_equal(again.delta, fault.delta)  # one worn tool


def _frames(uri: str, line: LineConfig, station: str, n: int) -> list[Frame]:
    source = SyntheticSource(uri, SourceContext(line=line, station=station))
    frames = []
    for _ in range(n):
        frame = source.read()
        assert frame is not None
        frames.append(frame)
    source.close()
    return frames


def test_from_the_nth_unit_every_frame_carries_the_fault_in_its_truth_and_pixels() -> None:
    line = _line("bearing-01")
    marked = _frames("synth://bearing?seed=2&rate=0&units=6&repeat=4", line, "face", 6)
    plain = _frames("synth://bearing?seed=2&rate=0&units=6", line, "face", 6)
    fault = machine_fault(line, seed=2)
    box = np.asarray(fault.box, np.float32)
    for number, (frame, before) in enumerate(zip(marked, plain, strict=True), start=1):
        faulty = number >= 4
        assert frame.meta["fault"] == ("repeat" if faulty else None)
        truth = frame.meta["gt_xyxy"]
        had = before.meta["gt_xyxy"]
        assert len(truth) == len(had) + int(faulty)
        if faulty:
            np.testing.assert_array_equal(truth[-1], box)
            assert frame.meta["gt_class_ids"][-1] == fault.class_id
            x1, y1, x2, y2 = fault.box
            inside = frame.image[y1:y2, x1:x2].astype(int) - before.image[y1:y2, x1:x2].astype(int)
            assert np.abs(inside).max() >= 10
            outside = frame.image.copy()
            outside[y1:y2, x1:x2] = before.image[y1:y2, x1:x2]
            np.testing.assert_array_equal(outside, before.image)  # nothing else changed
        else:
            np.testing.assert_array_equal(frame.image, before.image)


def test_a_fault_class_the_kind_does_not_draw_is_refused_naming_it() -> None:
    line = _line("bearing-01")
    with pytest.raises(FrameSourceError, match="repeat_class=hole"):
        SyntheticSource(
            "synth://bearing?repeat=3&repeat_class=hole", SourceContext(line=line, station="face")
        )
