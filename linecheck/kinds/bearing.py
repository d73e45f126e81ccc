"""Bearing rings: the zone of a defect on the ring face and the part verdict.

The ring's place in the frame is line geometry, given in the line YAML (``bearing:``): the centre
as fractions of the frame width and height, the outer radius as a fraction of the frame's shorter
side, and the bore and race boundary as fractions of the outer radius. The synthetic line renders
rings with the same :class:`BearingGeometry`. With ``geometry_mode: auto`` the ring's centre and outer
radius are found in every frame instead (:func:`linecheck.kinds.geometry_detect.find_bearing_ring`),
the YAML's ring being the fallback. A defect's zone is the zone of its box centre; off the races
and bore it is on the ``face``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any, cast

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from linecheck.contract import Metres
from linecheck.errors import InvalidFieldError
from linecheck.grading import BearingDefect, BearingZone, bearing_verdict
from linecheck.kinds.base import (
    GEOMETRY_FIELD,
    LOCATION_COLUMNS,
    Box,
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

Fraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]


@dataclass(frozen=True, slots=True)
class BearingGeometry:
    """Where the ring face lies in a frame, in pixels.

    Attributes:
        cx: centre column.
        cy: centre row.
        r_outer: outer edge of the outer race.
        r_split: boundary between inner and outer race (centre of the seal groove).
        r_inner: bore edge.

    """

    cx: float
    cy: float
    r_outer: float
    r_split: float
    r_inner: float

    def zone(self, x: float, y: float) -> str:
        """Zone of pixel ``x, y``: ``bore``, ``inner_race``, ``outer_race`` or ``outside`` (off the part)."""
        r = math.hypot(x - self.cx, y - self.cy)
        if r < self.r_inner:
            return "bore"
        if r < self.r_split:
            return "inner_race"
        if r <= self.r_outer:
            return "outer_race"
        return "outside"


class BearingGeometryJson(GeometryJson):
    """A found :class:`BearingGeometry` as plain JSON (pixels)."""

    cx: Pixels
    cy: Pixels
    r_outer: PixelLength
    r_split: PixelLength
    r_inner: PixelLength


class BearingOptions(GeometryOptions):
    """Bearing specifics: where the ring face is in the frame (or ``geometry_mode: auto``), naming zones."""

    centre: tuple[Fraction, Fraction] = Field(
        (0.5, 0.5), description="ring centre as fractions of the frame width and height"
    )
    outer_radius_frac: Fraction = Field(
        0.47, description="outer edge, as a fraction of the frame's shorter side"
    )
    inner_radius_frac: Fraction = Field(0.28, description="bore edge, as a fraction of the outer radius")
    race_split_frac: Fraction = Field(0.64, description="inner/outer race boundary, same units")

    @model_validator(mode="after")
    def _bore_inside_split(self) -> BearingOptions:
        if self.inner_radius_frac >= self.race_split_frac:
            inner, split = self.inner_radius_frac, self.race_split_frac
            raise ValueError(f"inner_radius_frac={inner} must be below race_split_frac={split}")
        return self

    def geometry(self, width: int, height: int) -> BearingGeometry:
        """Ring geometry in a ``width`` x ``height`` frame."""
        r_outer = self.outer_radius_frac * min(width, height)
        return BearingGeometry(
            cx=self.centre[0] * width,
            cy=self.centre[1] * height,
            r_outer=r_outer,
            r_split=self.race_split_frac * r_outer,
            r_inner=self.inner_radius_frac * r_outer,
        )


class BearingLocation(KindLocation):
    """Which zone of the ring; ``length_m`` when the inspector measured it."""

    zone: BearingZone
    length_m: Metres | None = None


class BearingSpec(KindSpec[BearingOptions]):
    """Bearing rings at an end-face station (a frame is one ring)."""

    name = "bearing"
    title = "Bearing (rings)"
    classes = ("scratch", "dent", "rust", "crack")
    code_prefix = "BR"
    code_digits = 10
    options_model = BearingOptions
    location_model = BearingLocation

    def zone(self, box: Box, view: FrameView, options: BearingOptions) -> BearingZone:
        """Zone of the box centre: bore, inner_race, outer_race, or face (anywhere else)."""
        x = (float(box[0]) + float(box[2])) / 2
        y = (float(box[1]) + float(box[3])) / 2
        found = view.geometry
        ring = found if isinstance(found, BearingGeometry) else options.geometry(view.width, view.height)
        zone = ring.zone(x, y)
        return cast(BearingZone, zone) if zone in {"bore", "inner_race", "outer_race"} else "face"

    def locate(self, box: Box, view: FrameView, options: BearingOptions) -> dict[str, Any]:
        """``{"zone": ...}`` of the defect (on the ring found in the frame, if any)."""
        return {"zone": self.zone(box, view, options)}

    def find_geometry(self, image: npt.NDArray[np.uint8], options: BearingOptions) -> BearingGeometry:
        """The ring found in ``image``: its centre and outer radius, the bore and race split as fractions."""
        from linecheck.kinds.geometry_detect import find_bearing_ring  # OpenCV: only where it measures

        return find_bearing_ring(
            image, split_frac=options.race_split_frac, inner_frac=options.inner_radius_frac
        )

    def geometry_to_json(self, geometry: object) -> dict[str, Any]:
        """A found ring as ``{cx, cy, r_outer, r_split, r_inner}`` (pixels)."""
        if not isinstance(geometry, BearingGeometry):
            raise InvalidFieldError(GEOMETRY_FIELD, type(geometry).__name__, "expected a BearingGeometry")
        return {name: float(value) for name, value in asdict(geometry).items()}

    def geometry_from_json(
        self, data: Any, options: BearingOptions, *, width: int, height: int
    ) -> BearingGeometry:
        """The found ring; its bore lies inside its race split, which lies inside its outer edge."""
        ring = decode_geometry(BearingGeometryJson, data)
        if not ring.r_split < ring.r_outer:
            raise InvalidFieldError(
                f"{GEOMETRY_FIELD}.r_split", ring.r_split, f"expected < r_outer={ring.r_outer}"
            )
        if not ring.r_inner < ring.r_split:
            raise InvalidFieldError(
                f"{GEOMETRY_FIELD}.r_inner", ring.r_inner, f"expected < r_split={ring.r_split}"
            )
        return BearingGeometry(**ring.model_dump())

    def location_columns(self, location: Location) -> dict[str, Any]:
        """``zone``, ``size_m`` (measured length) and ``zone:<zone>`` as the key."""
        cols: dict[str, Any] = dict.fromkeys(LOCATION_COLUMNS)
        cols["zone"] = location["zone"]
        cols["size_m"] = location.get("length_m")
        cols["location_key"] = f"zone:{location['zone']}"
        return cols

    def grade(
        self, defects: Sequence[LocatedDefect], options: BearingOptions, *, inspected_m: float | None = None
    ) -> Grade:
        """The part outcome (pass / rework / reject / scrap) from the shared bearing rules."""
        zoned = [
            BearingDefect(
                class_name=d.class_name,
                zone=cast(BearingZone, d.location["zone"]),
                length_m=d.location.get("length_m"),
            )
            for d in defects
            if d.location and d.location.get("zone") is not None
        ]
        verdict = bearing_verdict(zoned)
        rows = tuple(
            (
                d.class_name,
                d.zone.replace("_", " "),
                "—" if d.length_m is None else f"{d.length_m * 1000:.1f} mm",
                bearing_verdict([d]).verdict,
            )
            for d in zoned
        )
        return Grade(
            label=verdict.verdict,
            accepted=verdict.verdict == "pass",
            head=f"part {verdict.verdict}",
            notes=verdict.reasons,
            detail=asdict(verdict),
            table=GradeTable(
                title="defects and the outcome each calls for",
                columns=("defect", "zone", "length", "outcome"),
                rows=rows,
            ),
        )
