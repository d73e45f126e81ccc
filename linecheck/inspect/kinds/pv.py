"""PV modules: defects mapped to the module's cell grid, module grade from the shared rules.

The grid is the line's ``pv.rows`` x ``pv.cols`` laid out as the EL station frames it (the
layout :func:`linecheck.datasets.synth.pv_cell_grid` renders). A defect belongs to the cell
holding its box centre; a centre on the frame border outside the grid snaps to the nearest cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from linecheck.datasets.synth import PVGrid, pv_cell_grid
from linecheck.grading import CellDefect, PVRules, pv_grade
from linecheck.inspect.kinds.base import Box, KindLogic, UnitGrade
from linecheck.inspect.messages import CodedFrame, DefectRecord, Location
from linecheck.kinds import Kind


class PVLogic(KindLogic):
    """Per-module logic of one PV line: every frame is one module."""

    kind = Kind.PV

    def grid(self, width: int, height: int) -> PVGrid:
        """Cell grid in a ``width`` x ``height`` frame (square layout scaled to the frame)."""
        base = pv_cell_grid(width, self.line.pv.rows, self.line.pv.cols)
        sy = height / width
        return PVGrid(
            x0=base.x0,
            y0=base.y0 * sy,
            cell_w=base.cell_w,
            cell_h=base.cell_h * sy,
            rows=base.rows,
            cols=base.cols,
            gap=base.gap,
        )

    def cell(self, box: Box, width: int, height: int) -> tuple[int, int]:
        """``(row, col)`` of the box centre, snapped to the grid."""
        grid = self.grid(width, height)
        x = (float(box[0]) + float(box[2])) / 2
        y = (float(box[1]) + float(box[3])) / 2
        row = min(max(math.floor((y - grid.y0) / grid.cell_h), 0), grid.rows - 1)
        col = min(max(math.floor((x - grid.x0) / grid.cell_w), 0), grid.cols - 1)
        return row, col

    def locate(self, box: Box, coded: CodedFrame) -> Location:
        """``{"row": r, "col": c}`` (0-based) of the defect's cell."""
        row, col = self.cell(box, coded.frame.width, coded.frame.height)
        return {"row": row, "col": col}

    def grade(self, defects: Sequence[DefectRecord]) -> UnitGrade:
        """The module grade (A / B / C) and why, from the shared PV rules and the line's class lists."""
        rules = PVRules(
            b_classes=frozenset(self.line.pv.b_grade_classes),
            c_classes=frozenset(self.line.pv.c_grade_classes),
        )
        cells = [
            CellDefect(class_name=d.class_name, row=int(d.location["row"]), col=int(d.location["col"]))
            for d in defects
        ]
        grade = pv_grade(cells, rows=self.line.pv.rows, cols=self.line.pv.cols, rules=rules)
        return UnitGrade(label=grade.grade, head=f"module grade {grade.grade}", notes=grade.reasons)
