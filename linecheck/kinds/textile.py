"""Textile (fabric rolls): metres along and across the roll, graded by the four-point system.

Fabric runs down the image (image rows are the roll's length). A frame covers ``frame_length_m``
along by ``frame_width_m`` across; camera number ``i`` of the line sees the strip
``[i * frame_width_m, (i + 1) * frame_width_m)`` across the roll. The roll is graded by ASTM D5430
(:func:`linecheck.grading.textile_grade`) over the length inspected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from pydantic import Field

from linecheck.contract import Metres
from linecheck.grading import (
    METRES_PER_INCH,
    METRES_PER_YARD,
    TextileDefect,
    TextileGrade,
    four_point_points,
    textile_grade,
)
from linecheck.kinds.base import (
    LOCATION_COLUMNS,
    Box,
    FrameView,
    Grade,
    GradeTable,
    KindLocation,
    KindOptions,
    KindSpec,
    LocatedDefect,
    Location,
    StoredDefect,
    StoredInspection,
)

#: Width of the across-the-roll bins textile defect locations are counted in.
ACROSS_BIN_M = 0.1


class TextileOptions(KindOptions):
    """Textile specifics: roll and frame geometry and four-point grading options."""

    roll_width_m: float = Field(1.6, gt=0, description="cuttable width of the fabric")
    frame_length_m: float = Field(0.5, gt=0, description="length of fabric one frame covers")
    frame_width_m: float = Field(0.5, gt=0, description="width of fabric one frame covers")
    roll_length_m: float = Field(20.0, gt=0, description="length of one roll on this line")
    acceptance_points_per_100yd2: float = Field(40.0, gt=0, description="four-point acceptance limit")


class TextileLocation(KindLocation):
    """Where a fabric defect is, in metres on the roll."""

    along_m: Metres
    across_m: Metres | None = None
    length_m: Metres | None = None
    width_m: Metres | None = None


def _size_m(location: Location) -> float | None:
    sizes = [float(v) for v in (location.get("length_m"), location.get("width_m")) if v is not None]
    return max(sizes) if sizes else None


def _four_point_table(placed: Sequence[TextileDefect], result: TextileGrade) -> GradeTable:
    """One row per scored defect: where, how long, its points and the yard they count in."""
    holes = result.options.get("hole_classes", ("hole",))
    capped = set(result.capped_yards)
    rows = []
    for d in sorted(placed, key=lambda d: d.along_m):
        yard = math.floor(d.along_m / METRES_PER_YARD)
        points = four_point_points(d.class_name, d.size_m, hole_classes=holes)
        rows.append(
            (
                d.class_name,
                f"{d.along_m:.2f} m",
                f"{d.size_m / METRES_PER_INCH:.1f} in",
                str(points),
                f"{yard + 1}{' (capped at 4)' if yard in capped else ''}",
            )
        )
    return GradeTable(
        title="four-point points per defect (ASTM D5430)",
        columns=("defect", "along the roll", "largest dimension", "points", "linear yard"),
        rows=tuple(rows),
    )


class TextileSpec(KindSpec[TextileOptions]):
    """Fabric rolls on a weaving or inspection line (a web kind: a roll spans many frames)."""

    name = "textile"
    title = "Textile (fabric rolls)"
    classes = ("hole", "stain", "broken_yarn", "knot")
    code_prefix = "RL"
    code_digits = 10
    options_model = TextileOptions
    location_model = TextileLocation
    unit = "web"

    def locate(self, box: Box, view: FrameView, options: TextileOptions) -> dict[str, Any]:
        """Metres along / across the roll and the defect's length and width."""
        x1, y1, x2, y2 = (float(v) for v in box)
        h, w = view.height, view.width
        along0 = view.along_m or 0.0
        across0 = view.camera_index * options.frame_width_m
        return {
            "along_m": round(along0 + (y1 + y2) / 2 / h * options.frame_length_m, 4),
            "across_m": round(across0 + (x1 + x2) / 2 / w * options.frame_width_m, 4),
            "length_m": round((y2 - y1) / h * options.frame_length_m, 4),
            "width_m": round((x2 - x1) / w * options.frame_width_m, 4),
        }

    def location_columns(self, location: Location) -> dict[str, Any]:
        """``along_m``, ``size_m`` (largest dimension) and a 0.1 m across-the-roll bin as the key."""
        cols: dict[str, Any] = dict.fromkeys(LOCATION_COLUMNS)
        cols["along_m"] = location.get("along_m")
        cols["size_m"] = _size_m(location)
        across = location.get("across_m")
        if across is not None:
            cols["location_key"] = f"across:{math.floor(across / ACROSS_BIN_M) * ACROSS_BIN_M:.1f}m"
        return cols

    def grade(
        self, defects: Sequence[LocatedDefect], options: TextileOptions, *, inspected_m: float | None = None
    ) -> Grade:
        """Four-point grade of the roll over ``inspected_m`` metres (defects without a place are skipped)."""
        placed = [
            TextileDefect(
                class_name=d.class_name,
                along_m=float(d.location["along_m"]),
                size_m=_size_m(d.location) or 0.0,
            )
            for d in defects
            if d.location and d.location.get("along_m") is not None
        ]
        return self._grade(placed, options, inspected_m or options.frame_length_m)

    @staticmethod
    def _grade(placed: list[TextileDefect], options: TextileOptions, length_m: float) -> Grade:
        result: TextileGrade = textile_grade(
            placed,
            inspected_length_m=length_m,
            cuttable_width_m=options.roll_width_m,
            acceptance=options.acceptance_points_per_100yd2,
        )
        label = "accepted" if result.accepted else "rejected"
        head = f"roll {result.points_per_100yd2:.1f} points/100 yd²"
        notes = tuple(f"{d.class_name} at {d.along_m:.2f} m" for d in placed)
        facts = (
            ("points", f"{result.total_points} ({result.raw_points} before the per-yard cap)"),
            (
                "points / 100 yd²",
                f"{result.points_per_100yd2:.1f} (limit {options.acceptance_points_per_100yd2:g})",
            ),
        )
        return Grade(
            label=label,
            accepted=result.accepted,
            head=head,
            notes=notes,
            detail=asdict(result),
            facts=facts,
            table=_four_point_table(placed, result),
        )

    def grade_unit(
        self,
        inspections: Sequence[StoredInspection],
        defects: Sequence[StoredDefect],
        options: TextileOptions,
    ) -> Grade:
        """Roll grade: length = max(``roll_offset_m`` + ``frame_length_m``), else frames x ``frame_length_m``.

        A defect without ``along_m`` is placed at its frame's ``roll_offset_m``; one without either
        is counted as unlocated.
        """
        frame = options.frame_length_m
        inspected = [i for i in inspections if i.verdict != "not_inspected"]
        offsets = [i.roll_offset_m for i in inspected if i.roll_offset_m is not None]
        length = max(o + frame for o in offsets) if offsets else len(inspected) * frame
        if length <= 0:
            return Grade(
                label="not_graded",
                accepted=False,
                head="roll not graded",
                detail={"reason": "no inspected frames"},
            )
        offset_of = {i.id: i.roll_offset_m for i in inspections}
        placed: list[TextileDefect] = []
        unlocated = 0
        for d in defects:
            loc = d.location or {}
            along = loc.get("along_m")
            along = along if along is not None else offset_of.get(d.inspection_id)
            if along is None:
                unlocated += 1
                continue
            placed.append(TextileDefect(class_name=d.class_name, along_m=along, size_m=_size_m(loc) or 0.0))
        grade = self._grade(placed, options, length)
        rule = "max(roll_offset_m + frame_length_m)" if offsets else "frames x frame_length_m"
        detail = {
            **grade.detail,
            "inspected_length_m": length,
            "length_rule": rule,
            "defects_unlocated": unlocated,
        }
        how = (
            "up to the end of the last frame on the roll"
            if offsets
            else f"{len(inspected)} frames of {frame:g} m"
        )
        facts = (*grade.facts, ("inspected length", f"{length:.2f} m ({how})"))
        return replace(grade, detail=detail, facts=facts)

    def frame_length_m(self, options: TextileOptions) -> float:
        """Length of fabric one frame covers."""
        return options.frame_length_m

    def unit_summary(self, grade: Grade | None) -> dict[str, Any]:
        """The roll's four-point points and score."""
        detail = grade.detail if grade else {}
        return {
            "points": detail.get("total_points", 0),
            "points_per_100yd2": round(float(detail.get("points_per_100yd2", 0.0)), 2),
        }

    def status_extras(self, options: TextileOptions) -> dict[str, Any]:
        """The line's acceptance limit."""
        return {"acceptance_points_per_100yd2": options.acceptance_points_per_100yd2}
