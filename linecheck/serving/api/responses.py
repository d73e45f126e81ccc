"""Response bodies of the API (what the OpenAPI docs show under each route)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from linecheck.serving.store.models import Defect, Inspection, Review


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class IngestResultOut(_Out):
    """Outcome of one posted inspection: ``created`` (201) or ``duplicate`` (200, an exact retry)."""

    id: str
    status: Literal["created", "duplicate"]


class IngestBatchOut(_Out):
    """Outcome of a batch, one result per item in the order sent."""

    results: list[IngestResultOut]
    created: int
    duplicates: int


class ImageRefOut(_Out):
    """Reference of a stored image."""

    ref: str
    content_type: str
    status: Literal["created", "duplicate"]


class ReviewOut(_Out):
    """One review decision."""

    id: int
    defect_id: int
    decision: str
    new_class: str | None
    reviewer: str
    at: datetime
    comment: str | None

    @classmethod
    def of(cls, row: Review | Row[Any]) -> ReviewOut:
        """From a stored review (ORM object or Core row); trusted data, so not validated again."""
        return cls.model_construct(
            id=row.id,
            defect_id=row.defect_id,
            decision=row.decision,
            new_class=row.new_class,
            reviewer=row.reviewer,
            at=row.at,
            comment=row.comment,
        )


class DefectOut(_Out):
    """A stored defect, its current review state and (in a trace) its review history."""

    id: int
    inspection_id: str
    class_name: str
    final_class: str
    confidence: float
    bbox: tuple[float, float, float, float]
    location: dict[str, Any] | None
    crop_ref: str | None
    review_state: str
    reviews: list[ReviewOut] = Field(default_factory=list)

    @classmethod
    def of(cls, row: Defect | Row[Any], reviews: Sequence[Review | Row[Any]] | None = None) -> DefectOut:
        """From a stored defect (ORM object or Core row); trusted data, so not validated again."""
        return cls.model_construct(
            id=row.id,
            inspection_id=row.inspection_id,
            class_name=row.class_name,
            final_class=row.final_class,
            confidence=row.confidence,
            bbox=(row.x1, row.y1, row.x2, row.y2),
            location=row.location,
            crop_ref=row.crop_ref,
            review_state=row.review_state,
            reviews=[ReviewOut.of(r) for r in reviews or []],
        )


class InspectionOut(_Out):
    """A stored inspection (and, in a trace, its defects)."""

    id: str
    code: str | None
    code_status: str
    line_id: str
    station: str
    captured_at: datetime
    captured_tz: str = Field(description="UTC offset the frame was captured in, e.g. +01:00")
    model_name: str | None
    model_version: str | None
    verdict: str
    reason: str | None
    latency_ms: float | None
    frame_seq: int | None
    image_width: int
    image_height: int
    image_ref: str | None
    roll_offset_m: float | None
    defect_count: int
    created_at: datetime
    created_by: str
    code_assigned_by: str | None
    code_assigned_at: datetime | None
    defects: list[DefectOut] = Field(default_factory=list)

    @classmethod
    def of(cls, row: Inspection, defects: list[DefectOut] | None = None) -> InspectionOut:
        """From a stored inspection; trusted data, so not validated again."""
        values = {name: getattr(row, name) for name in cls.model_fields if name != "defects"}
        return cls.model_construct(**values, defects=defects or [])


class InspectionPageOut(_Out):
    """A page of inspections."""

    items: list[InspectionOut]
    total: int = Field(description="matches, counted up to 10,000")
    total_exact: bool = Field(description="false when there are more matches than total")
    limit: int
    offset: int


class UnitOut(_Out):
    """A traceable unit."""

    code: str
    kind: str
    line_id: str
    created_at: datetime


class LinkOut(_Out):
    """A genealogy link and how far it is from the traced code (1 = direct)."""

    parent: str
    child: str
    relation: str
    at: datetime
    depth: int
    created_by: str


class GenealogyOut(_Out):
    """Links up (what the code went into) and down (what it is made of / contains)."""

    parents: list[LinkOut] = Field(default_factory=list)
    children: list[LinkOut] = Field(default_factory=list)


class ProcessEventOut(_Out):
    """A business step of a code."""

    code: str
    type: str
    at: datetime
    at_tz: str
    line_id: str | None
    location: str | None
    detail: dict[str, Any] | None
    created_by: str


class ModelUseOut(_Out):
    """A model version that judged the code, and how many of its inspections."""

    model_name: str
    model_version: str
    inspections: int
    first_at: datetime
    last_at: datetime


class TraceOut(_Out):
    """Everything known about a code."""

    code: str
    unit: UnitOut | None
    genealogy: GenealogyOut
    inspections: list[InspectionOut]
    events: list[ProcessEventOut]
    model_versions: list[ModelUseOut]


class StatusOut(_Out):
    """Outcome of an idempotent write."""

    status: Literal["created", "duplicate"]


class QueueItemOut(_Out):
    """A defect waiting for (or matching) review, with where and when it was seen."""

    defect: DefectOut
    code: str | None
    line_id: str
    station: str
    captured_at: datetime
    image_ref: str | None
    image_width: int
    image_height: int
    model_name: str | None
    model_version: str | None


class QueueOut(_Out):
    """A page of the review queue; ``unread_inspections`` counts frames still waiting for a code."""

    items: list[QueueItemOut]
    total: int = Field(description="matches, counted up to 10,000")
    total_exact: bool = Field(description="false when there are more matches than total")
    limit: int
    offset: int
    unread_inspections: int


class GradeOut(_Out):
    """The authoritative grade of a unit (textile four-point, PV A/B/C, bearing verdict)."""

    code: str
    kind: str
    line_id: str
    grade: str
    accepted: bool
    detail: dict[str, Any]
    facts: list[tuple[str, str]] = Field(
        default_factory=list, description="the kind's key figures as (label, text) pairs, for display"
    )
    defects_counted: int
    defects_excluded: int
    inspections: int
    not_inspected: int


class ShiftStatsOut(_Out):
    """One shift of a line (clipped to the period asked for)."""

    shift: str = Field(description="local start time of the shift, HH:MM in the shift time zone")
    shift_start: datetime
    shift_end: datetime
    inspections: int
    by_verdict: dict[str, int]
    units: int
    failed_units: int
    fail_rate: float | None
    defects_by_class: dict[str, int]
    top_locations: list[dict[str, Any]]


class LineStatsOut(_Out):
    """Per-shift statistics of a line over a period."""

    line_id: str
    since: datetime
    until: datetime
    shifts: list[ShiftStatsOut]


class LineOut(_Out):
    """A registered line and its full config."""

    id: str
    kind: str
    name: str
    config: dict[str, Any]
    stations: list[str]
    updated_at: datetime
    updated_by: str
