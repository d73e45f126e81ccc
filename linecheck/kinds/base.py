"""What a line kind is: one :class:`KindSpec` object per kind, found by name in the registry.

A kind owns every rule that depends on what is being inspected: its default defect classes and
unit-code format, its section of the line YAML (``options``, geometry included), the location
model of a defect on the product, how a box in a frame becomes a location (``locate``), how a
location is stored, how a geometry found in a frame travels and is stored as JSON
(``geometry_to_json`` / ``geometry_from_json``), and how a unit is graded (``grade``). The
inspector, the API and the synthetic generators ask the spec; nothing else branches on a kind's
name.

Two unit shapes exist: ``frame`` (every frame is one unit: a bearing ring, a PV module, a glass
pane) and ``web`` (consecutive frames with the same code make one unit along a running web: a
fabric roll, a steel coil, a nonwoven roll). Web kinds locate defects in metres along the web.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, ClassVar, Generic, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from linecheck.contract import IMAGE_SIDE_MAX_PX, field_errors
from linecheck.errors import InvalidFieldError

#: ``x1, y1, x2, y2`` in frame pixels.
Box = Sequence[float]
#: A defect's place on the product, as sent on the wire and stored (JSON object).
Location = Mapping[str, Any]
UnitShape = Literal["frame", "web"]
#: ``fixed``: the product is where the line YAML says; ``auto``: it is found in every frame.
GeometryMode = Literal["fixed", "auto"]
#: Which geometry placed a defect: ``found`` in its frame, or the line YAML's (``fixed``).
GeometrySource = Literal["found", "fixed"]
#: ``x1, y1, x2, y2`` of a cell in frame pixels (integers: a crop of the frame).
CellBox = tuple[int, int, int, int]

#: The wire and store name of a frame's found geometry (``InspectionPayload.geometry``).
GEOMETRY_FIELD = "geometry"
#: Database columns a location fills (all nullable); ``location_key`` groups defects in statistics.
LOCATION_COLUMNS = ("location_key", "along_m", "size_m", "cell_row", "cell_col", "zone")


class KindOptions(BaseModel):
    """Base of a kind's section of the line YAML (``textile:``, ``pv:``, ...)."""

    model_config = ConfigDict(extra="forbid")


class GeometryOptions(KindOptions):
    """Base of the options of a kind whose product has a place in the frame (a module's grid, a ring)."""

    geometry_mode: GeometryMode = Field(
        "fixed",
        description="fixed: the product is where this section says; auto: found in every frame, "
        "this section's geometry used when a frame shows none",
    )


def finds_geometry(options: KindOptions) -> bool:
    """True when a line with these options finds its product's geometry in every frame (``auto``)."""
    return isinstance(options, GeometryOptions) and options.geometry_mode == "auto"


class KindLocation(BaseModel):
    """Base of a kind's defect location model (validated by the API, ``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid")

    geometry: GeometrySource | None = Field(
        None, description="lines with geometry_mode auto: found in the frame, or the YAML's (fixed)"
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class FrameView:
    """What a kind needs of a frame to place a box on the product.

    Attributes:
        width: frame width in pixels.
        height: frame height in pixels.
        camera_index: position of the frame's station among the line's cameras (0-based).
        along_m: web kinds: where along the web the frame starts (None when unknown).
        geometry: the product's geometry found in this frame (the kind's own object, from
            :meth:`KindSpec.find_geometry`); None: the line YAML's.

    """

    width: int
    height: int
    camera_index: int = 0
    along_m: float | None = None
    geometry: object | None = None

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise InvalidFieldError("frame", f"{self.width}x{self.height}", "expected a non-empty frame")


class LocatedDefect(Protocol):
    """A defect's class and location (the inspector's ``DefectRecord`` and :class:`StoredDefect` are)."""

    @property
    def class_name(self) -> str:
        """Defect class (after review, for stored defects)."""
        ...

    @property
    def location(self) -> Location | None:
        """Where on the product, or None when the sender did not locate it."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredDefect:
    """A stored defect as graded by the API: its final class, location and inspection."""

    class_name: str
    location: Location | None
    inspection_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredInspection:
    """A stored inspection of a unit, as the grade needs it."""

    id: str
    verdict: str
    roll_offset_m: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GradeTable:
    """How a grade was reached, one row per counted defect (pages and certificates print it as is).

    Attributes:
        title: what the table is (``four-point points per defect``).
        columns: column headings.
        rows: one tuple of display texts per row, as many as ``columns``.

    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise InvalidFieldError(f"rows[{i}]", list(row), f"expected {len(self.columns)} cells")


@dataclass(frozen=True, kw_only=True, slots=True)
class Grade:
    """A unit's grade.

    Attributes:
        label: the grade shown and counted (``accepted``, ``B``, ``scrap``, ...).
        accepted: whether the unit may ship as it is.
        head: how a grading note starts (``part scrap``, ``module grade B``).
        notes: one note per defect that counts against the unit.
        detail: the figures and rules behind the grade (JSON-friendly).
        facts: the figures a reviewer reads first, as ``(label, text)`` pairs (the trace page shows them).
        table: the per-defect working of the grade (the four-point points, the cells counted), if any.

    """

    label: str
    accepted: bool
    head: str
    notes: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    facts: tuple[tuple[str, str], ...] = ()
    table: GradeTable | None = None


OptionsT = TypeVar("OptionsT", bound=KindOptions)
JsonT = TypeVar("JsonT", bound=BaseModel)
#: A position in frame pixels in a found geometry (a found grid or ring may start a little outside the frame).
Pixels = Annotated[float, Field(ge=-IMAGE_SIDE_MAX_PX, le=IMAGE_SIDE_MAX_PX, allow_inf_nan=False)]
#: A length in frame pixels in a found geometry (a cell pitch, a radius).
PixelLength = Annotated[float, Field(gt=0, le=IMAGE_SIDE_MAX_PX, allow_inf_nan=False)]


class GeometryJson(BaseModel):
    """Base of a kind's found geometry as plain JSON (strict: numbers are numbers, no other keys)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def decode_geometry(model: type[JsonT], data: Any) -> JsonT:
    """``data`` as ``model``; raises :class:`InvalidFieldError` naming ``geometry.<field>`` and its value."""
    if not isinstance(data, Mapping):
        raise InvalidFieldError(GEOMETRY_FIELD, data, "expected a JSON object")
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        errors = field_errors(exc, prefix=GEOMETRY_FIELD)
        more = f" (and {len(errors) - 1} more invalid fields)" if len(errors) > 1 else ""
        raise InvalidFieldError(errors[0].field, errors[0].value, errors[0].reason + more) from None


class KindSpec(Generic[OptionsT]):
    """One line kind. Subclass it, set the class attributes, implement :meth:`locate` and :meth:`grade`."""

    #: Registry name, used as ``kind:`` in line YAML files and in the API.
    name: ClassVar[str]
    #: Human name for pages and listings.
    title: ClassVar[str] = ""
    #: Default defect classes, in model class-id order.
    classes: ClassVar[tuple[str, ...]]
    #: Default unit codes: ``prefix`` followed by ``code_digits`` digits.
    code_prefix: ClassVar[str]
    code_digits: ClassVar[int] = 10
    #: The kind's section of the line YAML (geometry and grading options).
    options_model: ClassVar[type[KindOptions]]
    #: A defect's location on the product.
    location_model: ClassVar[type[KindLocation]]
    #: ``frame``: a frame is a unit; ``web``: consecutive frames with one code are a unit.
    unit: ClassVar[UnitShape] = "frame"

    @property
    def code_pattern(self) -> str:
        """Default traceability-code pattern (a line YAML may override it)."""
        return f"^{self.code_prefix}[0-9]{{{self.code_digits}}}$"

    def make_code(self, serial: int) -> str:
        """The default code of unit number ``serial``."""
        if isinstance(serial, bool) or serial < 0 or serial >= 10**self.code_digits:
            raise InvalidFieldError("serial", serial, f"expected 0 <= serial < 10**{self.code_digits}")
        return f"{self.code_prefix}{serial:0{self.code_digits}d}"

    def options(self, raw: Any = None) -> OptionsT:
        """The kind's options validated from ``raw`` (a mapping, an options object or None for defaults)."""
        model = self.options_model
        if isinstance(raw, model):
            return raw  # type: ignore[return-value]
        return model.model_validate(raw or {})  # type: ignore[return-value]

    def locate(self, box: Box, view: FrameView, options: OptionsT) -> dict[str, Any]:
        """Where on the product the defect in ``box`` is (a dict the location model accepts)."""
        raise NotImplementedError(f"kind {self.name} does not locate defects")

    def find_geometry(self, image: npt.NDArray[np.uint8], options: OptionsT) -> object | None:
        """The product's geometry measured in ``image`` (``geometry_mode: auto``): ``FrameView.geometry``.

        None: this kind has no geometry to find. Raises :class:`InvalidFieldError` when the frame
        does not show the product well enough (the caller then uses the YAML's geometry).
        """
        return None

    def geometry_to_json(self, geometry: object) -> dict[str, Any]:
        """``geometry`` (from :meth:`find_geometry`) as plain JSON: an inspection's ``geometry``.

        The inspector sends it with the frame's inspection and the API stores it, so that a box a
        reviewer corrects later is placed with the frame's own geometry. Kinds without a geometry
        have nothing to write.
        """
        raise NotImplementedError(f"kind {self.name} has no geometry")

    def geometry_from_json(self, data: Any, options: OptionsT, *, width: int, height: int) -> object:
        """The geometry :meth:`geometry_to_json` wrote, in a ``width`` x ``height`` frame of this line.

        Raises :class:`InvalidFieldError` naming ``geometry`` (or ``geometry.<field>``) and the
        value when ``data`` is not a geometry of this kind that fits the line.
        """
        raise InvalidFieldError(GEOMETRY_FIELD, data, f"kind {self.name} has no geometry")

    def cell_boxes(self, view: FrameView, options: OptionsT) -> list[CellBox]:
        """Boxes of the product's cells in the frame, row by row (none: the kind has no cells)."""
        return []

    def check_location(self, location: KindLocation, options: OptionsT) -> list[tuple[str, Any, str]]:
        """Problems of a validated location against the line's options: ``(sub-field, value, message)``."""
        return []

    def location_columns(self, location: Location) -> dict[str, Any]:
        """The store's location columns for ``location`` (see :data:`LOCATION_COLUMNS`).

        The default fills only ``location_key`` with the location's compact JSON; kinds with
        well-known places (cells, zones, metres) fill the matching columns.
        """
        cols: dict[str, Any] = dict.fromkeys(LOCATION_COLUMNS)
        cols["location_key"] = json.dumps(dict(location), sort_keys=True, separators=(",", ":"))[:64]
        return cols

    def grade(
        self, defects: Sequence[LocatedDefect], options: OptionsT, *, inspected_m: float | None = None
    ) -> Grade:
        """The unit's grade from its defects (``inspected_m``: web length inspected, web kinds only)."""
        raise NotImplementedError(f"kind {self.name} does not grade units")

    def grade_unit(
        self, inspections: Sequence[StoredInspection], defects: Sequence[StoredDefect], options: OptionsT
    ) -> Grade:
        """The authoritative grade of a stored unit (the API's); located defects only, by default."""
        located = [d for d in defects if d.location]
        grade = self.grade(located, options)
        return with_detail(grade, defects_unlocated=len(defects) - len(located))

    # Web kinds ---------------------------------------------------------------------------------

    def frame_length_m(self, options: OptionsT) -> float:
        """Web kinds: length of web one frame covers (used when the source gives no position)."""
        raise NotImplementedError(f"kind {self.name} is not a web kind")

    def unit_summary(self, grade: Grade | None) -> dict[str, Any]:
        """Extra figures of a unit for status displays (web kinds: the running score)."""
        return {}

    def status_extras(self, options: OptionsT) -> dict[str, Any]:
        """Extra line-level figures for status displays (e.g. the acceptance limit)."""
        return {}


def with_detail(grade: Grade, **extra: Any) -> Grade:
    """``grade`` with ``extra`` figures added to its detail."""
    return replace(grade, detail={**grade.detail, **extra})
