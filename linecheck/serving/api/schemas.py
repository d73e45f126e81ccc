"""Request bodies of the API (pydantic, ``extra="forbid"``): what a client may send, field by field.

Checks that need a line's config (classes, code pattern, PV grid, location kind) or several
fields at once (bbox inside the image) live in the services, which name the field they reject.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
)

from linecheck.serving.store.images import REF_PATTERN

ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$"

CodeStatusIn = Literal["read", "trigger", "code_unread"]
VerdictIn = Literal["pass", "fail", "not_inspected"]
ZoneIn = Literal["bore", "inner_race", "outer_race", "face"]
RelationIn = Literal["contains", "made_from", "packed_in"]
EventTypeIn = Literal["received", "processed", "assembled", "packed", "shipped"]
DecisionIn = Literal["confirm", "reject", "reclassify"]
Metres = Annotated[float, Field(ge=0, allow_inf_nan=False)]
#: Largest integer the stores hold (SQLite INTEGER / PostgreSQL BIGINT); larger ones are refused with 422.
INT64_MAX = 2**63 - 1
#: ``offset`` of paginated listings.
Offset = Annotated[int, Query(ge=0, le=INT64_MAX)]
#: A row id in a path (``/v1/defects/{defect_id}``).
RowId = Annotated[int, Path(le=INT64_MAX)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class DefectIn(_In):
    """One detection of an inspection."""

    class_name: str = Field(min_length=1, max_length=64)
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    bbox: tuple[float, float, float, float] = Field(description="x1, y1, x2, y2 in image pixels")
    location: dict[str, Any] | None = Field(
        None, description="textile {along_m, across_m, length_m, width_m} | pv {row, col} | bearing {zone}"
    )
    crop_ref: str | None = Field(None, pattern=REF_PATTERN)

    @field_validator("location")
    @classmethod
    def _canonical_location(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Sort keys so that the same location always serialises (and hashes) the same way."""
        return _sorted(value) if value is not None else None


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


class InspectionIn(_In):
    """One inspected frame, as the line-side inspector sends it (see the ingest contract)."""

    id: str = Field(pattern=ID_PATTERN, description="client-generated, the idempotency key")
    line_id: str = Field(min_length=1, max_length=64)
    station: str = Field(pattern=NAME_PATTERN)
    code: str | None = Field(None, pattern=CODE_PATTERN)
    code_status: CodeStatusIn
    captured_at: AwareDatetime
    model_name: str | None = Field(None, min_length=1, max_length=64)
    model_version: str | None = Field(None, min_length=1, max_length=32)
    verdict: VerdictIn
    reason: str | None = Field(None, max_length=2000)
    latency_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    frame_seq: int | None = Field(None, ge=0, le=INT64_MAX)
    image_width: int = Field(gt=0, le=100_000)
    image_height: int = Field(gt=0, le=100_000)
    image_ref: str | None = Field(None, pattern=REF_PATTERN)
    roll_offset_m: Metres | None = None
    defects: list[DefectIn] = Field(default_factory=list, max_length=1000)


class InspectionBatchIn(_In):
    """Several inspections in one request (all stored, or none)."""

    inspections: list[InspectionIn] = Field(min_length=1)


def _body_kind(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "inspections" in value else "single"


IngestBody = Annotated[
    Annotated[InspectionIn, Tag("single")] | Annotated[InspectionBatchIn, Tag("batch")],
    Discriminator(_body_kind),
]
INGEST_ADAPTER: TypeAdapter[InspectionIn | InspectionBatchIn] = TypeAdapter(IngestBody)


class TextileLocation(_In):
    """Where a fabric defect is, in metres on the roll."""

    along_m: Metres
    across_m: Metres | None = None
    length_m: Metres | None = None
    width_m: Metres | None = None


class PVLocation(_In):
    """Which cell of the module (0-based)."""

    row: int = Field(ge=0)
    col: int = Field(ge=0)


class BearingLocation(_In):
    """Which zone of the ring; ``length_m`` when the inspector measured it."""

    zone: ZoneIn
    length_m: Metres | None = None


class ReviewIn(_In):
    """A reviewer's decision on a defect."""

    decision: DecisionIn
    new_class: str | None = Field(None, min_length=1, max_length=64, description="required for reclassify")
    comment: str | None = Field(None, max_length=2000)


class GenealogyIn(_In):
    """``parent`` contains / is made from / packs ``child`` (parent is the later, larger thing)."""

    parent: str = Field(pattern=CODE_PATTERN)
    child: str = Field(pattern=CODE_PATTERN)
    relation: RelationIn
    at: AwareDatetime | None = Field(None, description="when it happened; default: now")


class ProcessEventIn(_In):
    """A business step for a code."""

    type: EventTypeIn
    at: AwareDatetime
    line_id: str | None = Field(None, min_length=1, max_length=64)
    location: str | None = Field(None, max_length=200)
    detail: dict[str, Any] | None = None


class CodeAssignIn(_In):
    """A code typed in by hand for a frame whose code could not be read."""

    code: str = Field(pattern=CODE_PATTERN)
