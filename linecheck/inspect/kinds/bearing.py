"""Bearing rings: defect zone on the ring face and the part verdict (shared grading rules).

The ring sits in a fixture, centred in the frame; its outer edge is at
:data:`linecheck.datasets.synth.bearing.OUTER_RADIUS_FRAC` of the shorter image side and the
bore and race boundaries follow the line's ``bearing`` config (the same geometry the synthetic
line renders, :func:`linecheck.datasets.synth.bearing_geometry`). A defect's zone is the zone
of its box centre; off the races it is on the ``face``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from linecheck.datasets.synth import BearingGeometry, bearing_geometry
from linecheck.grading import BearingDefect, BearingZone, bearing_verdict
from linecheck.inspect.kinds.base import Box, KindLogic, UnitGrade
from linecheck.inspect.messages import CodedFrame, DefectRecord, Location
from linecheck.kinds import Kind


class BearingLogic(KindLogic):
    """Per-part logic of one bearing line: every frame is one ring."""

    kind = Kind.BEARING

    def geometry(self, width: int, height: int) -> BearingGeometry:
        """Ring geometry in a ``width`` x ``height`` frame."""
        side = min(width, height)
        geo = bearing_geometry(side, self.line.bearing)
        return BearingGeometry(
            cx=geo.cx + (width - side) / 2,
            cy=geo.cy + (height - side) / 2,
            r_outer=geo.r_outer,
            r_split=geo.r_split,
            r_inner=geo.r_inner,
        )

    def zone(self, box: Box, width: int, height: int) -> BearingZone:
        """Zone of the box centre: bore, inner_race, outer_race, or face (anywhere else)."""
        x = (float(box[0]) + float(box[2])) / 2
        y = (float(box[1]) + float(box[3])) / 2
        zone = self.geometry(width, height).zone(x, y)
        return cast(BearingZone, zone) if zone in {"bore", "inner_race", "outer_race"} else "face"

    def locate(self, box: Box, coded: CodedFrame) -> Location:
        """``{"zone": ...}`` of the defect."""
        return {"zone": self.zone(box, coded.frame.width, coded.frame.height)}

    def grade(self, defects: Sequence[DefectRecord]) -> UnitGrade:
        """The part outcome (pass / rework / reject / scrap) and why, from the shared bearing rules."""
        verdict = bearing_verdict(
            [
                BearingDefect(class_name=d.class_name, zone=cast(BearingZone, d.location["zone"]))
                for d in defects
            ]
        )
        return UnitGrade(label=verdict.verdict, head=f"part {verdict.verdict}", notes=verdict.reasons)
