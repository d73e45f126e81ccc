"""iter_units: rolls, rings and modules; serials, determinism, defect-free share, readable codes."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
import zxingcpp

from linecheck.config import LineConfig, load_line
from linecheck.datasets.synth import SynthUnit, iter_units
from linecheck.errors import InvalidFieldError
from linecheck.kinds import Kind, check_code, get_kind
from linecheck.kinds.textile import TextileOptions

ROOT = Path(__file__).resolve().parents[3]


def _units(kind: Kind, n: int, **kwargs: object) -> list[SynthUnit]:
    return list(itertools.islice(iter_units(kind, **kwargs), n))  # type: ignore[arg-type]


def test_textile_roll_is_a_run_of_frames_with_offsets_along_the_roll() -> None:
    line = load_line(ROOT / "configs" / "lines" / "textile-01.yaml")  # 10 m roll, 0.5 m frames
    (unit,) = _units(Kind.TEXTILE, 1, seed=4, imgsz=160, line=line, start_serial=42)
    assert unit.code == "RL0000000042" and unit.kind is Kind.TEXTILE
    assert [f.index for f in unit.frames] == list(range(20))
    assert [f.offset_m for f in unit.frames] == [i * 0.5 for i in range(20)]
    means = np.array([f.image.reshape(-1, 3).mean(axis=0) for f in unit.frames if not f.defective])
    assert np.abs(means - means.mean(axis=0)).max() < 12, "one roll is one fabric"
    assert len({f.image.tobytes() for f in unit.frames}) == 20, "consecutive frames show new fabric"


def _line(kind: Kind, *, roll_length_m: float) -> LineConfig:
    if kind == Kind.TEXTILE:
        return LineConfig(id="t", kind=kind, textile=TextileOptions(roll_length_m=roll_length_m))
    return LineConfig(id="t", kind=kind)


@pytest.mark.parametrize("kind", list(Kind))
def test_units_depend_on_seed_and_serial_only(kind: Kind) -> None:
    line = _line(kind, roll_length_m=1.0)
    a = _units(kind, 3, seed=7, imgsz=160, line=line)
    b = _units(kind, 2, seed=7, imgsz=160, line=line, start_serial=2)
    c = _units(kind, 3, seed=8, imgsz=160, line=line)
    for ua, ub in zip(a[1:], b, strict=True):
        assert ua.code == ub.code
        for fa, fb in zip(ua.frames, ub.frames, strict=True):
            np.testing.assert_array_equal(fa.image, fb.image)
            np.testing.assert_array_equal(fa.boxes, fb.boxes)
            np.testing.assert_array_equal(fa.class_ids, fb.class_ids)
    assert [u.code for u in a] == [u.code for u in c]
    assert a[0].frames[0].image.tobytes() != c[0].frames[0].image.tobytes()
    for unit in a:
        check_code(unit.code, get_kind(kind).code_pattern)


@pytest.mark.parametrize("kind", list(Kind))
def test_a_quarter_to_two_fifths_of_units_are_defect_free(kind: Kind) -> None:
    line = _line(kind, roll_length_m=2.0)  # 4 frames a roll
    units = _units(kind, 100, seed=3, imgsz=128, line=line)
    free = sum(not u.defective for u in units) / len(units)
    assert 0.2 <= free <= 0.42
    for unit in units:
        if kind is Kind.TEXTILE:
            assert sum(f.defective for f in unit.frames) <= 4
        else:
            assert len(unit.frames) == 1
        assert all(len(f.boxes) <= 3 for f in unit.frames)


def test_bearing_datamatrix_decodes_with_zxing() -> None:
    units = _units(Kind.BEARING, 30, seed=1, imgsz=640)
    read = 0
    for unit in units:
        found = zxingcpp.read_barcodes(unit.frames[0].image)
        read += any(r.text == unit.code for r in found)
    assert read >= 0.95 * len(units)


def test_pv_label_qr_decodes_with_opencv_and_zxing() -> None:
    units = _units(Kind.PV, 30, seed=1, imgsz=640)
    detector = cv2.QRCodeDetector()
    by_cv2 = by_zxing = 0
    for unit in units:
        image = unit.frames[0].image
        text, _, _ = detector.detectAndDecode(image)
        by_cv2 += text == unit.code
        found = zxingcpp.read_barcodes(image)
        by_zxing += any(r.text == unit.code for r in found)
    assert by_cv2 >= 0.95 * len(units)
    assert by_zxing >= 0.95 * len(units)


def test_pv_units_follow_the_line_grid() -> None:
    line = LineConfig(id="pv", kind=Kind.PV, pv={"rows": 6, "cols": 24})
    grid = line.options.grid(320, 320)
    for unit in _units(Kind.PV, 12, seed=2, imgsz=320, line=line):
        for x1, y1, x2, y2 in unit.frames[0].boxes.tolist():
            cell = grid.cell_at((x1 + x2) / 2, (y1 + y2) / 2)
            assert cell is not None
            bx1, by1, bx2, by2 = grid.cell_box(*cell)
            assert bx1 <= x1 and by1 <= y1 and x2 <= bx2 and y2 <= by2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "glass"}, "kind"),
        ({"seed": -3}, "seed"),
        ({"imgsz": 10_000}, "imgsz"),
        ({"start_serial": -1}, "start_serial"),
        ({"line": LineConfig(id="b", kind=Kind.BEARING)}, "line.kind"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"kind": "pv", "seed": 0} | kwargs
    kind = args.pop("kind")
    with pytest.raises(InvalidFieldError) as info:
        next(iter_units(kind, **args))  # type: ignore[arg-type]
    assert info.value.field == field
