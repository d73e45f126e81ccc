"""Grading arithmetic against hand-computed cases (the arithmetic is written next to each case)."""

from __future__ import annotations

import math

import pytest

from linecheck.errors import InvalidFieldError
from linecheck.grading import (
    BearingDefect,
    BearingRules,
    CellDefect,
    PVRules,
    TextileDefect,
    bearing_verdict,
    four_point_points,
    pv_grade,
    textile_grade,
)

INCH = 0.0254
YARD = 0.9144


@pytest.mark.parametrize(
    ("class_name", "size_m", "points"),
    [
        ("stain", 0.0, 1),  # any defect scores at least 1 point
        ("stain", 3 * INCH, 1),  # exactly 3 in is still the 1-point band
        ("stain", 3 * INCH + 0.0001, 2),  # 3.004 in
        ("knot", 6 * INCH, 2),
        ("knot", 6 * INCH + 0.0001, 3),
        ("broken_yarn", 9 * INCH, 3),
        ("broken_yarn", 9 * INCH + 0.0001, 4),
        ("stain", 2.0, 4),  # 78.7 in: still 4, points never exceed 4 per defect
        ("hole", 0.001, 4),  # holes always 4 points, however small
        ("hole", 0.5, 4),
    ],
)
def test_four_point_bands(class_name: str, size_m: float, points: int) -> None:
    assert four_point_points(class_name, size_m) == points


def test_four_point_custom_hole_classes() -> None:
    assert four_point_points("cut", 0.01, hole_classes={"hole", "cut"}) == 4
    assert four_point_points("hole", 0.01, hole_classes={"cut"}) == 1


def test_textile_grade_hand_computed() -> None:
    defects = [
        TextileDefect(class_name="stain", along_m=0.10, size_m=2 * INCH),  # yard 0: 1 pt
        TextileDefect(class_name="knot", along_m=0.50, size_m=4 * INCH),  # yard 0: 2 pts
        TextileDefect(class_name="hole", along_m=0.80, size_m=0.01),  # yard 0: 4 pts -> 7, capped 4
        TextileDefect(class_name="broken_yarn", along_m=1.00, size_m=10 * INCH),  # 1.0/0.9144 -> yard 1: 4
        TextileDefect(class_name="stain", along_m=5.00, size_m=7 * INCH),  # 5.0/0.9144=5.47 -> yard 5: 3
    ]
    # raw = 7 + 4 + 3 = 14; capped total = 4 + 4 + 3 = 11
    # 10 yd x 60 in: 11 x 3600 / (10 x 60) = 39600 / 600 = 66.0 points per 100 yd^2
    grade = textile_grade(defects, inspected_length_m=10 * YARD, cuttable_width_m=60 * INCH, acceptance=40)
    assert grade.raw_points == 14
    assert grade.total_points == 11
    assert grade.capped_yards == (0,)
    assert math.isclose(grade.inspected_yards, 10.0)
    assert math.isclose(grade.cuttable_width_in, 60.0)
    assert math.isclose(grade.points_per_100yd2, 66.0)
    assert grade.accepted is False
    assert grade.defects_counted == 5
    assert grade.options["acceptance_points_per_100yd2"] == 40
    assert grade.options["max_points_per_linear_yard"] == 4
    # The limit is inclusive: 66 points per 100 yd^2 passes a limit of 66.
    assert textile_grade(
        defects, inspected_length_m=10 * YARD, cuttable_width_m=60 * INCH, acceptance=66
    ).accepted


def test_textile_grade_realistic_roll() -> None:
    # 10 m roll, 1.6 m wide: 10.9361 yd x 62.9921 in = 688.89 yd*in
    # two 1-point stains in different yards -> 2 x 3600 / 688.89 = 10.451
    defects = [
        TextileDefect(class_name="stain", along_m=0.2, size_m=0.02),
        TextileDefect(class_name="stain", along_m=4.0, size_m=0.05),
    ]
    grade = textile_grade(defects, inspected_length_m=10.0, cuttable_width_m=1.6)
    assert grade.total_points == 2
    assert grade.points_per_100yd2 == pytest.approx(10.451, abs=1e-3)
    assert grade.accepted


def test_textile_grade_without_defects() -> None:
    grade = textile_grade([], inspected_length_m=5.0, cuttable_width_m=1.6)
    assert (grade.total_points, grade.points_per_100yd2, grade.accepted) == (0, 0.0, True)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"inspected_length_m": 0.0, "cuttable_width_m": 1.6}, "inspected_length_m"),
        ({"inspected_length_m": 10.0, "cuttable_width_m": -1.0}, "cuttable_width_m"),
        ({"inspected_length_m": float("nan"), "cuttable_width_m": 1.6}, "inspected_length_m"),
        ({"inspected_length_m": 10.0, "cuttable_width_m": 1.6, "acceptance": 0}, "acceptance"),
    ],
)
def test_textile_grade_rejects_bad_geometry(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        textile_grade([], **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(("along", "size", "field"), [(-0.1, 0.01, "along_m"), (1.0, float("inf"), "size_m")])
def test_textile_defect_validates(along: float, size: float, field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        TextileDefect(class_name="stain", along_m=along, size_m=size)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("defects", "rules", "grade", "cells"),
    [
        ([], PVRules(), "A", ()),
        ([CellDefect(class_name="crack", row=1, col=4)], PVRules(), "B", ((1, 4),)),
        (
            [CellDefect(class_name="crack", row=1, col=4), CellDefect(class_name="dark_cell", row=0, col=0)],
            PVRules(),
            "C",
            ((0, 0), (1, 4)),
        ),
        ([CellDefect(class_name="smudge", row=2, col=2)], PVRules(), "A", ()),  # not a grading class
        (
            [
                CellDefect(class_name="crack", row=1, col=1),
                CellDefect(class_name="finger_interruption", row=2, col=2),
            ],
            PVRules(max_b_cells=1),  # 2 B cells > 1 -> C
            "C",
            ((1, 1), (2, 2)),
        ),
        (
            [
                CellDefect(class_name="crack", row=1, col=1),
                CellDefect(class_name="finger_interruption", row=2, col=2),
            ],
            PVRules(max_b_cells=2),  # 2 B cells <= 2 -> B
            "B",
            ((1, 1), (2, 2)),
        ),
        (
            [CellDefect(class_name="crack", row=3, col=3), CellDefect(class_name="crack", row=3, col=3)],
            PVRules(max_b_cells=1),  # the same cell counts once
            "B",
            ((3, 3),),
        ),
        ([CellDefect(class_name="crack", row=5, col=9)], PVRules(b_classes=frozenset()), "A", ()),
    ],
)
def test_pv_grade(
    defects: list[CellDefect], rules: PVRules, grade: str, cells: tuple[tuple[int, int], ...]
) -> None:
    result = pv_grade(defects, rows=6, cols=10, rules=rules)
    assert result.grade == grade
    assert result.cells_affected == cells
    assert len(result.reasons) >= (grade != "A")


@pytest.mark.parametrize(
    ("defect", "field"),
    [
        (CellDefect(class_name="crack", row=6, col=0), "defects[0].row"),
        (CellDefect(class_name="crack", row=0, col=-1), "defects[0].col"),
    ],
)
def test_pv_grade_rejects_cells_outside_the_grid(defect: CellDefect, field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        pv_grade([defect], rows=6, cols=10, rules=PVRules())
    assert info.value.field == field


def test_pv_rules_reject_overlapping_classes() -> None:
    with pytest.raises(InvalidFieldError, match="crack"):
        PVRules(b_classes=frozenset({"crack"}), c_classes=frozenset({"crack"}))


def _b(class_name: str, zone: str, length: float | None = None) -> BearingDefect:
    return BearingDefect(class_name=class_name, zone=zone, length_m=length)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("defects", "verdict", "n_reasons"),
    [
        ([], "pass", 0),
        ([_b("crack", "face")], "scrap", 1),
        ([_b("rust", "inner_race")], "reject", 1),
        ([_b("dent", "outer_race")], "reject", 1),
        ([_b("dent", "face")], "rework", 1),
        ([_b("rust", "bore")], "rework", 1),
        ([_b("scratch", "face", 0.002)], "pass", 0),  # cosmetic: 2 mm <= 3 mm
        ([_b("scratch", "face", 0.003)], "pass", 0),  # limit inclusive
        ([_b("scratch", "face", 0.004)], "rework", 1),
        ([_b("scratch", "face")], "rework", 1),  # unknown length: conservative
        ([_b("scratch", "outer_race", 0.001)], "reject", 1),  # a race is a running surface
        ([_b("scratch", "face", 0.001), _b("dent", "face"), _b("crack", "bore")], "scrap", 2),
        ([_b("pit", "face")], "reject", 1),  # class unknown to the rules
    ],
)
def test_bearing_verdict(defects: list[BearingDefect], verdict: str, n_reasons: int) -> None:
    result = bearing_verdict(defects)
    assert result.verdict == verdict
    assert len(result.reasons) == n_reasons


def test_bearing_rules_are_configurable() -> None:
    rules = BearingRules(cosmetic_scratch_max_m=0.01, unknown_class_outcome="rework")
    assert bearing_verdict([_b("scratch", "face", 0.008)], rules=rules).verdict == "pass"
    assert bearing_verdict([_b("pit", "face")], rules=rules).verdict == "rework"


def test_bearing_defect_rejects_unknown_zone() -> None:
    with pytest.raises(InvalidFieldError) as info:
        _b("rust", "shaft")
    assert info.value.field == "zone"
