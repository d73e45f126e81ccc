"""Grading rules shared by the line-side inspector (running score) and the API (authoritative grade).

Pure functions over small frozen dataclasses: no I/O, no database, no clock.

* Textile rolls: the four-point system of ASTM D5430. A defect scores 1, 2, 3 or 4 points for a
  largest dimension up to 3 in, over 3 up to 6 in, over 6 up to 9 in and over 9 in. The standard
  gives 4 points to holes and openings of 1 inch or more; we score **every** hole 4 points, which
  is the common trade practice. No linear yard scores more than 4 points. The roll's score is
  ``points per 100 square yards = total points x 3600 / (yards inspected x cuttable width in
  inches)`` and is accepted at or below a limit agreed between buyer and seller (often 40).
* PV modules: grade A/B/C from cell-level defects with configurable class lists.
* Bearing rings: a part verdict pass / rework / reject / scrap from defect class and zone.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from linecheck.errors import InvalidFieldError

METRES_PER_INCH = 0.0254
METRES_PER_YARD = 0.9144
#: Upper bounds (inches, inclusive) of the 1-, 2- and 3-point bands; anything longer scores 4.
FOUR_POINT_BANDS_IN = (3.0, 6.0, 9.0)
#: Rounding applied to a size in inches before banding so that 3 in given in metres is still 3 in.
_INCH_DECIMALS = 9


def _check_number(name: str, value: float, *, minimum: float = 0.0, strict: bool = False) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidFieldError(name, value, "expected a finite number")
    if value < minimum or (strict and value == minimum):
        raise InvalidFieldError(name, value, f"expected a number {'>' if strict else '>='} {minimum}")


# --------------------------------------------------------------------------- textile (four-point)


@dataclass(frozen=True, kw_only=True, slots=True)
class TextileDefect:
    """One fabric defect: its class, where it is along the roll and its largest dimension."""

    class_name: str
    along_m: float
    size_m: float

    def __post_init__(self) -> None:
        _check_number("along_m", self.along_m)
        _check_number("size_m", self.size_m)


@dataclass(frozen=True, kw_only=True, slots=True)
class TextileGrade:
    """Four-point result for one roll (or the part of it inspected so far).

    Attributes:
        total_points: points after the per-yard cap.
        raw_points: points before the per-yard cap.
        points_per_100yd2: ``total_points x 3600 / (yards x width_in)``.
        accepted: ``points_per_100yd2 <= acceptance``.
        inspected_yards: length inspected, in linear yards.
        cuttable_width_in: cuttable width, in inches.
        defects_counted: number of defects scored.
        capped_yards: 0-based yard indices whose points were cut down to the cap.
        options: the rule options used, recorded with the grade.

    """

    total_points: int
    raw_points: int
    points_per_100yd2: float
    accepted: bool
    inspected_yards: float
    cuttable_width_in: float
    defects_counted: int
    capped_yards: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


def four_point_points(class_name: str, size_m: float, *, hole_classes: Collection[str] = ("hole",)) -> int:
    """Points one defect scores under the four-point system (holes always 4)."""
    _check_number("size_m", size_m)
    if class_name in hole_classes:
        return 4
    inches = round(size_m / METRES_PER_INCH, _INCH_DECIMALS)
    for points, upper in enumerate(FOUR_POINT_BANDS_IN, start=1):
        if inches <= upper:
            return points
    return 4


def textile_grade(
    defects: Sequence[TextileDefect],
    *,
    inspected_length_m: float,
    cuttable_width_m: float,
    acceptance: float = 40.0,
    max_points_per_yard: int = 4,
    hole_classes: Collection[str] = ("hole",),
) -> TextileGrade:
    """Grade a roll by the four-point system; see the module docstring for the rules."""
    _check_number("inspected_length_m", inspected_length_m, strict=True)
    _check_number("cuttable_width_m", cuttable_width_m, strict=True)
    _check_number("acceptance", acceptance, strict=True)
    if max_points_per_yard < 1:
        raise InvalidFieldError("max_points_per_yard", max_points_per_yard, "expected >= 1")
    per_yard: dict[int, int] = {}
    for defect in defects:
        yard = math.floor(defect.along_m / METRES_PER_YARD)
        points = four_point_points(defect.class_name, defect.size_m, hole_classes=hole_classes)
        per_yard[yard] = per_yard.get(yard, 0) + points
    raw = sum(per_yard.values())
    capped = tuple(sorted(yard for yard, pts in per_yard.items() if pts > max_points_per_yard))
    total = sum(min(pts, max_points_per_yard) for pts in per_yard.values())
    yards = inspected_length_m / METRES_PER_YARD
    width_in = cuttable_width_m / METRES_PER_INCH
    per_100 = total * 3600.0 / (yards * width_in)
    options = {
        "standard": "ASTM D5430 four-point system",
        "size_rule": "largest dimension of the defect, in inches",
        "bands_in": list(FOUR_POINT_BANDS_IN),
        "hole_rule": "every hole scores 4 points (common practice; the standard says holes >= 1 in)",
        "hole_classes": sorted(hole_classes),
        "max_points_per_linear_yard": max_points_per_yard,
        "acceptance_points_per_100yd2": acceptance,
    }
    return TextileGrade(
        total_points=total,
        raw_points=raw,
        points_per_100yd2=per_100,
        accepted=per_100 <= acceptance,
        inspected_yards=yards,
        cuttable_width_in=width_in,
        defects_counted=len(defects),
        capped_yards=capped,
        options=options,
    )


# --------------------------------------------------------------------------- PV module grade

PVGradeLetter = Literal["A", "B", "C"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CellDefect:
    """A defect in one cell of a module, 0-based row and column."""

    class_name: str
    row: int
    col: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PVRules:
    """Which defect classes downgrade a module.

    Attributes:
        b_classes: any of these in any cell makes the module at best B.
        c_classes: any of these in any cell makes it C.
        max_b_cells: more than this many cells with B-class defects makes it C (None: no limit).

    """

    b_classes: frozenset[str] = frozenset({"crack", "finger_interruption"})
    c_classes: frozenset[str] = frozenset({"dark_cell", "broken_corner"})
    max_b_cells: int | None = None

    def __post_init__(self) -> None:
        both = sorted(self.b_classes & self.c_classes)
        if both:
            raise InvalidFieldError("b_classes", both, "a class cannot be both a B and a C class")
        if self.max_b_cells is not None and self.max_b_cells < 0:
            raise InvalidFieldError("max_b_cells", self.max_b_cells, "expected >= 0 or None")


@dataclass(frozen=True, kw_only=True, slots=True)
class PVGrade:
    """Module grade, the cells that count against it and why."""

    grade: PVGradeLetter
    cells_affected: tuple[tuple[int, int], ...]
    reasons: tuple[str, ...]


def pv_grade(defects: Sequence[CellDefect], *, rows: int, cols: int, rules: PVRules) -> PVGrade:
    """Grade a module from its cell defects: C beats B beats A; classes in neither list are ignored."""
    if rows < 1:
        raise InvalidFieldError("rows", rows, "expected >= 1")
    if cols < 1:
        raise InvalidFieldError("cols", cols, "expected >= 1")
    b_cells: set[tuple[int, int]] = set()
    c_cells: set[tuple[int, int]] = set()
    reasons: list[str] = []
    for i, defect in enumerate(defects):
        if not 0 <= defect.row < rows:
            raise InvalidFieldError(f"defects[{i}].row", defect.row, f"expected 0 <= row < {rows}")
        if not 0 <= defect.col < cols:
            raise InvalidFieldError(f"defects[{i}].col", defect.col, f"expected 0 <= col < {cols}")
        cell = (defect.row, defect.col)
        if defect.class_name in rules.c_classes:
            c_cells.add(cell)
            reasons.append(f"{defect.class_name} in cell r{cell[0]}c{cell[1]} -> C")
        elif defect.class_name in rules.b_classes:
            b_cells.add(cell)
            reasons.append(f"{defect.class_name} in cell r{cell[0]}c{cell[1]} -> B")
    grade: PVGradeLetter = "A"
    if b_cells:
        grade = "B"
    if rules.max_b_cells is not None and len(b_cells) > rules.max_b_cells:
        grade = "C"
        reasons.append(f"{len(b_cells)} cells with B-class defects > max_b_cells={rules.max_b_cells} -> C")
    if c_cells:
        grade = "C"
    return PVGrade(grade=grade, cells_affected=tuple(sorted(b_cells | c_cells)), reasons=tuple(reasons))


# --------------------------------------------------------------------------- bearing part verdict

BearingZone = Literal["bore", "inner_race", "outer_race", "face"]
BEARING_ZONES: tuple[BearingZone, ...] = ("bore", "inner_race", "outer_race", "face")
BearingOutcome = Literal["pass", "rework", "reject", "scrap"]
_SEVERITY: dict[BearingOutcome, int] = {"pass": 0, "rework": 1, "reject": 2, "scrap": 3}


@dataclass(frozen=True, kw_only=True, slots=True)
class BearingDefect:
    """A defect on a bearing ring: class, zone and (when known) its length."""

    class_name: str
    zone: BearingZone
    length_m: float | None = None

    def __post_init__(self) -> None:
        if self.zone not in BEARING_ZONES:
            raise InvalidFieldError("zone", self.zone, f"expected one of {', '.join(BEARING_ZONES)}")
        if self.length_m is not None:
            _check_number("length_m", self.length_m)


@dataclass(frozen=True, kw_only=True, slots=True)
class BearingRules:
    """Part-verdict rules for a ring.

    Attributes:
        scrap_classes: any of these anywhere scraps the part.
        functional_zones: running surfaces; any other defect there rejects the part.
        cosmetic_scratch_max_m: a scratch off the functional zones up to this length passes;
            a longer one (or one of unknown length) sends the part to rework.
        unknown_class_outcome: outcome for a class these rules do not name.

    """

    scrap_classes: frozenset[str] = frozenset({"crack"})
    functional_zones: frozenset[str] = frozenset({"inner_race", "outer_race"})
    rework_classes: frozenset[str] = frozenset({"rust", "dent"})
    scratch_classes: frozenset[str] = frozenset({"scratch"})
    cosmetic_scratch_max_m: float = 0.003
    unknown_class_outcome: BearingOutcome = "reject"


@dataclass(frozen=True, kw_only=True, slots=True)
class BearingVerdict:
    """The worst outcome over a part's defects, with one reason per defect that is not a pass."""

    verdict: BearingOutcome
    reasons: tuple[str, ...]


def _bearing_outcome(defect: BearingDefect, rules: BearingRules) -> BearingOutcome:
    if defect.class_name in rules.scrap_classes:
        return "scrap"
    known = rules.rework_classes | rules.scratch_classes
    if defect.class_name not in known:
        return rules.unknown_class_outcome
    if defect.zone in rules.functional_zones:
        return "reject"
    if defect.class_name in rules.rework_classes:
        return "rework"
    if defect.length_m is not None and defect.length_m <= rules.cosmetic_scratch_max_m:
        return "pass"
    return "rework"


def bearing_verdict(defects: Sequence[BearingDefect], *, rules: BearingRules | None = None) -> BearingVerdict:
    """Verdict for a ring: crack -> scrap, anything on a race -> reject, face/bore -> rework or pass."""
    rules = rules or BearingRules()
    worst: BearingOutcome = "pass"
    reasons: list[str] = []
    for defect in defects:
        outcome = _bearing_outcome(defect, rules)
        if outcome != "pass":
            reasons.append(f"{defect.class_name} on {defect.zone} -> {outcome}")
        if _SEVERITY[outcome] > _SEVERITY[worst]:
            worst = outcome
    return BearingVerdict(verdict=worst, reasons=tuple(reasons))
