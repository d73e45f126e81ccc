"""PV modules (EL images): defects mapped to the module's cell grid, module grade A / B / C.

The cell grid is line geometry, given in the line YAML (``pv:``): ``rows`` x ``cols`` cells inside
``grid_box`` (left, top, right, bottom of the cell area as fractions of the frame width and
height, where the EL station's crop puts the module). The synthetic line renders modules with the
same :class:`PVGrid`. With ``geometry_mode: auto`` the grid is found in every frame instead
(:func:`linecheck.kinds.geometry_detect.find_pv_grid`: shifted, scaled or tilted modules), the
YAML's grid being the fallback. A defect belongs to the cell holding its box centre; a centre
outside the grid snaps to the nearest cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from pydantic import Field, field_validator, model_validator

from linecheck.contract import IMAGE_SIDE_MAX_PX
from linecheck.errors import InvalidFieldError
from linecheck.grading import CellDefect, PVRules, pv_grade
from linecheck.kinds.base import (
    GEOMETRY_FIELD,
    LOCATION_COLUMNS,
    Box,
    CellBox,
    FrameView,
    GeometryJson,
    GeometryOptions,
    Grade,
    GradeTable,
    KindLocation,
    KindSpec,
    LocatedDefect,
    Location,
    PixelLength,
    Pixels,
    decode_geometry,
)

_DEFAULT_RULES = PVRules()
#: Default cell area of an EL frame: 2 % margins, the serial label band below 79 % of the height.
DEFAULT_GRID_BOX = (0.02, 0.02, 0.98, 0.79)
#: Dark gap between neighbouring cells, as a fraction of the smaller cell pitch (at least 2 px).
GAP_FRAC = 0.06

UnitFraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


@dataclass(frozen=True, slots=True)
class PVGrid:
    """Cell layout of a module in a frame, in pixels; cell ``(row, col)`` spans its pitch minus the gap.

    Attributes:
        x0: left edge of the grid.
        y0: top edge of the grid.
        cell_w: horizontal cell pitch.
        cell_h: vertical cell pitch.
        rows: cell rows.
        cols: cell columns.
        gap: dark gap between neighbouring cells.

    """

    x0: float
    y0: float
    cell_w: float
    cell_h: float
    rows: int
    cols: int
    gap: float

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """``(row, col)`` of the cell pitch holding pixel ``x, y``, or None off the grid."""
        col = math.floor((x - self.x0) / self.cell_w)
        row = math.floor((y - self.y0) / self.cell_h)
        if 0 <= row < self.rows and 0 <= col < self.cols:
            return row, col
        return None

    def nearest_cell(self, x: float, y: float) -> tuple[int, int]:
        """``(row, col)`` of the cell holding pixel ``x, y``, snapped to the grid when outside it."""
        row = min(max(math.floor((y - self.y0) / self.cell_h), 0), self.rows - 1)
        col = min(max(math.floor((x - self.x0) / self.cell_w), 0), self.cols - 1)
        return row, col

    def cell_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """Integer pixel box ``x1, y1, x2, y2`` of the lit part of cell ``(row, col)``."""
        half = self.gap / 2
        x1 = round(self.x0 + col * self.cell_w + half)
        y1 = round(self.y0 + row * self.cell_h + half)
        x2 = round(self.x0 + (col + 1) * self.cell_w - half)
        y2 = round(self.y0 + (row + 1) * self.cell_h - half)
        return x1, y1, x2, y2


def _rotation(cx: float, cy: float, angle_deg: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The 2x3 matrix turning points by ``angle_deg`` about ``cx, cy`` (OpenCV's ``getRotationMatrix2D``)."""
    a, b = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return (a, b, (1 - a) * cx - b * cy), (-b, a, b * cx + (1 - a) * cy)


@dataclass(frozen=True, slots=True)
class PVGridFit:
    """A module's cell grid in one frame: the grid as if the module were square to the frame, and its tilt.

    Attributes:
        grid: the cell grid in pixels of the frame turned by ``-angle_deg`` about its centre.
        angle_deg: the module's tilt in the frame (counter-clockwise positive, OpenCV convention).
        width: frame width.
        height: frame height.

    """

    grid: PVGrid
    angle_deg: float
    width: int
    height: int

    def _turn(self, x: float, y: float, angle_deg: float) -> tuple[float, float]:
        (a, b, c), (d, e, f) = _rotation(self.width / 2, self.height / 2, angle_deg)
        return a * x + b * y + c, d * x + e * y + f

    def deskew(self, x: float, y: float) -> tuple[float, float]:
        """Frame pixel ``x, y`` in the deskewed frame the grid is expressed in."""
        return self._turn(x, y, -self.angle_deg)

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """``(row, col)`` of the cell holding frame pixel ``x, y`` (snapped to the grid when outside)."""
        return self.grid.nearest_cell(*self.deskew(x, y))

    def cell_box(self, row: int, col: int) -> CellBox:
        """Frame pixels ``x1, y1, x2, y2`` around the lit part of cell ``(row, col)``, inside the frame."""
        x1, y1, x2, y2 = self.grid.cell_box(row, col)
        corners = [self._turn(x, y, self.angle_deg) for x, y in ((x1, y1), (x2, y1), (x1, y2), (x2, y2))]
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        return (
            min(max(math.floor(min(xs)), 0), self.width - 1),
            min(max(math.floor(min(ys)), 0), self.height - 1),
            max(min(math.ceil(max(xs)), self.width), 1),
            max(min(math.ceil(max(ys)), self.height), 1),
        )

    def grid_box(self) -> tuple[float, float, float, float]:
        """The grid as the line YAML's ``grid_box`` fractions (of the deskewed frame)."""
        g = self.grid
        return (
            g.x0 / self.width,
            g.y0 / self.height,
            (g.x0 + g.cols * g.cell_w) / self.width,
            (g.y0 + g.rows * g.cell_h) / self.height,
        )


class PVGridJson(GeometryJson):
    """A found :class:`PVGridFit` as plain JSON (the frame's size is the inspection's)."""

    x0: Pixels
    y0: Pixels
    cell_w: PixelLength
    cell_h: PixelLength
    rows: int = Field(gt=0)
    cols: int = Field(gt=0)
    gap: float = Field(ge=0, le=IMAGE_SIDE_MAX_PX, allow_inf_nan=False)
    angle_deg: float = Field(ge=-180, le=180, allow_inf_nan=False)


class PVOptions(GeometryOptions):
    """PV specifics: the module's cell grid in the frame (or ``geometry_mode: auto``) and the grade rules."""

    rows: int = Field(6, gt=0, le=200)
    cols: int = Field(10, gt=0, le=200)
    grid_box: tuple[UnitFraction, UnitFraction, UnitFraction, UnitFraction] = Field(
        DEFAULT_GRID_BOX, description="cell area left, top, right, bottom as fractions of the frame"
    )
    b_grade_classes: list[str] = Field(default_factory=lambda: sorted(_DEFAULT_RULES.b_classes))
    c_grade_classes: list[str] = Field(default_factory=lambda: sorted(_DEFAULT_RULES.c_classes))

    @field_validator("grid_box")
    @classmethod
    def _box_ordered(cls, value: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        left, top, right, bottom = value
        if not (left < right and top < bottom):
            raise ValueError(f"grid_box={list(value)}: expected left < right and top < bottom")
        return value

    @model_validator(mode="after")
    def _classes_disjoint(self) -> PVOptions:
        both = sorted(set(self.b_grade_classes) & set(self.c_grade_classes))
        if both:
            raise ValueError(f"b_grade_classes and c_grade_classes share {both}")
        return self

    def grid(self, width: int, height: int) -> PVGrid:
        """The cell grid in a ``width`` x ``height`` frame."""
        left, top, right, bottom = self.grid_box
        cell_w = (right - left) * width / self.cols
        cell_h = (bottom - top) * height / self.rows
        gap = max(2.0, GAP_FRAC * min(cell_w, cell_h))
        return PVGrid(
            x0=left * width,
            y0=top * height,
            cell_w=cell_w,
            cell_h=cell_h,
            rows=self.rows,
            cols=self.cols,
            gap=gap,
        )

    def fit(self, width: int, height: int) -> PVGridFit:
        """The YAML's grid in a ``width`` x ``height`` frame, untilted."""
        return PVGridFit(grid=self.grid(width, height), angle_deg=0.0, width=width, height=height)

    def rules(self) -> PVRules:
        """The grade rules of these options."""
        return PVRules(b_classes=frozenset(self.b_grade_classes), c_classes=frozenset(self.c_grade_classes))


class PVLocation(KindLocation):
    """Which cell of the module (0-based)."""

    row: int = Field(ge=0)
    col: int = Field(ge=0)


class PVSpec(KindSpec[PVOptions]):
    """PV modules at an EL tester (a frame is one module)."""

    name = "pv"
    title = "Photovoltaic (EL modules)"
    classes = ("crack", "finger_interruption", "dark_cell", "broken_corner")
    code_prefix = "PV"
    code_digits = 12
    options_model = PVOptions
    location_model = PVLocation

    @staticmethod
    def _fit(view: FrameView, options: PVOptions) -> PVGridFit:
        found = view.geometry
        return found if isinstance(found, PVGridFit) else options.fit(view.width, view.height)

    def locate(self, box: Box, view: FrameView, options: PVOptions) -> dict[str, Any]:
        """``{"row": r, "col": c}`` (0-based) of the defect's cell (in the frame's found grid, if any)."""
        x = (float(box[0]) + float(box[2])) / 2
        y = (float(box[1]) + float(box[3])) / 2
        row, col = self._fit(view, options).cell_of(x, y)
        return {"row": row, "col": col}

    def find_geometry(self, image: npt.NDArray[np.uint8], options: PVOptions) -> PVGridFit:
        """The module's grid found in ``image``; refused when it reaches half a cell beyond the frame."""
        from linecheck.kinds.geometry_detect import find_pv_grid  # OpenCV: only where it measures

        fit = find_pv_grid(image, options.rows, options.cols)
        left, top, right, bottom = fit.grid_box()
        slack_x, slack_y = 0.5 / options.cols, 0.5 / options.rows
        if left < -slack_x or top < -slack_y or right > 1 + slack_x or bottom > 1 + slack_y:
            found = [round(v, 3) for v in (left, top, right, bottom)]
            raise InvalidFieldError("image", f"grid_box={found}", "the module found runs off the frame")
        return fit

    def geometry_to_json(self, geometry: object) -> dict[str, Any]:
        """A found grid as ``{x0, y0, cell_w, cell_h, rows, cols, gap, angle_deg}`` (pixels, degrees)."""
        if not isinstance(geometry, PVGridFit):
            raise InvalidFieldError(GEOMETRY_FIELD, type(geometry).__name__, "expected a PVGridFit")
        g = geometry.grid
        fields = {"x0": g.x0, "y0": g.y0, "cell_w": g.cell_w, "cell_h": g.cell_h, "gap": g.gap}
        return {
            **{name: float(value) for name, value in fields.items()},
            "rows": int(g.rows),
            "cols": int(g.cols),
            "angle_deg": float(geometry.angle_deg),
        }

    def geometry_from_json(self, data: Any, options: PVOptions, *, width: int, height: int) -> PVGridFit:
        """The found grid in a ``width`` x ``height`` frame; it must have the line's rows and columns."""
        found = decode_geometry(PVGridJson, data)
        for name, line_has in (("rows", options.rows), ("cols", options.cols)):
            if getattr(found, name) != line_has:
                value = getattr(found, name)
                raise InvalidFieldError(f"{GEOMETRY_FIELD}.{name}", value, f"the line's grid has {line_has}")
        grid = PVGrid(**found.model_dump(exclude={"angle_deg"}))
        return PVGridFit(grid=grid, angle_deg=found.angle_deg, width=width, height=height)

    def cell_boxes(self, view: FrameView, options: PVOptions) -> list[CellBox]:
        """Every cell's box in the frame, row by row (in the grid found in the frame, if any)."""
        fit = self._fit(view, options)
        return [fit.cell_box(row, col) for row in range(options.rows) for col in range(options.cols)]

    def check_location(self, location: KindLocation, options: PVOptions) -> list[tuple[str, Any, str]]:
        """The cell must lie inside the line's grid."""
        assert isinstance(location, PVLocation)
        problems: list[tuple[str, Any, str]] = []
        if location.row >= options.rows:
            problems.append(("row", location.row, f"expected < {options.rows} rows"))
        if location.col >= options.cols:
            problems.append(("col", location.col, f"expected < {options.cols} cols"))
        return problems

    def location_columns(self, location: Location) -> dict[str, Any]:
        """``cell_row``, ``cell_col`` and ``cell:r<row>c<col>`` as the key."""
        cols: dict[str, Any] = dict.fromkeys(LOCATION_COLUMNS)
        cols["cell_row"], cols["cell_col"] = location["row"], location["col"]
        cols["location_key"] = f"cell:r{location['row']}c{location['col']}"
        return cols

    def grade(
        self, defects: Sequence[LocatedDefect], options: PVOptions, *, inspected_m: float | None = None
    ) -> Grade:
        """The module grade (A / B / C) from the shared PV rules and the line's class lists."""
        rules = options.rules()
        cells = [
            CellDefect(class_name=d.class_name, row=int(d.location["row"]), col=int(d.location["col"]))
            for d in defects
            if d.location and d.location.get("row") is not None and d.location.get("col") is not None
        ]
        grade = pv_grade(cells, rows=options.rows, cols=options.cols, rules=rules)
        detail = asdict(grade) | {
            "rules": {"b_classes": sorted(rules.b_classes), "c_classes": sorted(rules.c_classes)}
        }
        effect = {**dict.fromkeys(rules.b_classes, "B"), **dict.fromkeys(rules.c_classes, "C")}
        rows = tuple(
            (f"row {d.row}, col {d.col}", d.class_name, effect.get(d.class_name, "not graded"))
            for d in sorted(cells, key=lambda d: (d.row, d.col, d.class_name))
        )
        return Grade(
            label=grade.grade,
            accepted=grade.grade == "A",
            head=f"module grade {grade.grade}",
            notes=grade.reasons,
            detail=detail,
            facts=(("cells counted", " ".join(f"r{r}c{c}" for r, c in grade.cells_affected) or "none"),),
            table=GradeTable(
                title="cell defects and the grade they allow",
                columns=("cell", "defect", "module at best"),
                rows=rows,
            ),
        )
