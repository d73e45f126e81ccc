"""Response bodies of the API (what the OpenAPI docs show under each route)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from linecheck.serving.store.models import Audit, Defect, Inspection, Review
from linecheck.serving.store.review_state import replay, trusted_location


class _Out(BaseModel):
    # a non-finite number in a stored row (see linecheck.serving.api.json_body) is sent as its name
    model_config = ConfigDict(from_attributes=True, ser_json_inf_nan="strings")


class PageOut(_Out):
    """What every paged answer says of its page: the matches (counted up to 10,000) and where it starts."""

    total: int = Field(description="matches, counted up to 10,000")
    total_exact: bool = Field(description="false when there are more matches than total")
    limit: int
    offset: int


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
    reviewer: str = Field(description="the key that decided (key:<id>), as recorded")
    reviewer_name: str | None = Field(None, description="the name given to that key, if any")
    at: datetime
    comment: str | None
    bbox: tuple[float, float, float, float] | None = Field(None, description="the box this decision set")

    @classmethod
    def of(cls, row: Review | Row[Any], names: Mapping[str, str] | None = None) -> ReviewOut:
        """From a stored review (ORM object or Core row); trusted data, so not validated again."""
        bbox = getattr(row, "bbox", None)
        return cls.model_construct(
            id=row.id,
            defect_id=row.defect_id,
            decision=row.decision,
            new_class=row.new_class,
            reviewer=row.reviewer,
            reviewer_name=(names or {}).get(row.reviewer),
            at=row.at,
            comment=row.comment,
            bbox=tuple(bbox) if bbox is not None else None,
        )


class PassAuditOut(_Out):
    """A person's audit of a pass-audit sample frame (the newest one of a frame is its audit)."""

    id: int
    inspection_id: str
    outcome: str = Field(
        description="ok: nothing missed; escape: the model missed the defect the reviewer drew on the frame"
    )
    actor: str = Field(description="the key that audited (key:<id>), as recorded")
    actor_name: str | None = Field(None, description="the name given to that key, if any")
    comment: str | None
    at: datetime

    @classmethod
    def of(cls, row: Audit | Row[Any], names: Mapping[str, str] | None = None) -> PassAuditOut:
        """From a stored audit (ORM object or Core row); trusted data, so not validated again."""
        return cls.model_construct(
            id=row.id,
            inspection_id=row.inspection_id,
            outcome=row.outcome,
            actor=row.actor,
            actor_name=(names or {}).get(row.actor),
            comment=row.comment,
            at=row.created_at,
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
    heatmap_ref: str | None = Field(
        None, description="anomaly defects: JPEG heat map of the region over the crop (the crop's box)"
    )
    crop_expired_at: datetime | None = Field(
        None, description="when the image retention deleted the crop (null: stored); GET answers 410"
    )
    heatmap_expired_at: datetime | None = Field(
        None, description="when the image retention deleted the heat map (null: stored)"
    )
    review_state: str
    final_bbox: tuple[float, float, float, float] | None = Field(
        None, description="the box after a reviewer moved or resized it (null: the model's box stands)"
    )
    final_location: dict[str, Any] | None = Field(None, description="the location of final_bbox")
    source: str = Field("model", description="model: detected; reviewer: a missed defect drawn by a reviewer")
    created_by: str | None = None
    reviews: list[ReviewOut] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        row: Defect | Row[Any],
        reviews: Sequence[Review | Row[Any]] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> DefectOut:
        """From a stored defect (ORM object or Core row) and its whole review history, oldest first.

        The review state, final class and box are the history replayed, not the row's copy of
        them: a row changed below the API with no review behind it does not show here (the
        trace's ``audit`` and ``linecheck db verify`` report it). Trusted data, not validated again.
        """
        current = replay(row.class_name, row.source, reviews or [])
        return cls.model_construct(
            id=row.id,
            inspection_id=row.inspection_id,
            class_name=row.class_name,
            final_class=current.final_class,
            confidence=row.confidence,
            bbox=(row.x1, row.y1, row.x2, row.y2),
            location=row.location,
            crop_ref=row.crop_ref,
            heatmap_ref=row.heatmap_ref,
            crop_expired_at=row.crop_expired_at,
            heatmap_expired_at=row.heatmap_expired_at,
            review_state=current.state,
            final_bbox=current.final_bbox,
            final_location=trusted_location(row.final_bbox, row.final_location, current),
            source=row.source,
            created_by=row.created_by,
            reviews=[ReviewOut.of(r, names) for r in reviews or []],
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
    trigger_id: str | None = Field(
        None, description="the PLC's measurement / job id (MeasId) or <station>:<frame_seq>; null: not sent"
    )
    encoder_count: int | None = Field(None, description="the line encoder's count at the trigger")
    product: str | None = Field(
        None, description="the line's product (recipe) the unit was judged as; null: the line's own config"
    )
    audit_sample: bool = Field(
        False, description="a passed unit's frame kept for a person to audit (the line's audit.pass_sample)"
    )
    audit_borderline: bool = Field(
        False,
        description="a passed frame kept for audit as a near miss (a detection came within the line's "
        "audit.borderline of its threshold); audited like a sample, never in the escape rate",
    )
    image_width: int
    image_height: int
    image_ref: str | None
    image_expired_at: datetime | None = Field(
        None,
        description="when the image retention deleted the frame (null: stored, or never sent); the ref "
        "stays and GET /v1/images/{ref} answers 410",
    )
    roll_offset_m: float | None
    geometry: dict[str, Any] | None = Field(
        None,
        description="lines with geometry_mode auto: the product's geometry found in the frame (null: the "
        "line YAML's was used); corrected and added boxes are placed with it",
    )
    defect_count: int
    created_at: datetime
    created_by: str
    code_assigned_by: str | None
    code_assigned_at: datetime | None
    latest_audit: PassAuditOut | None = Field(
        None,
        description="the audit of a frame kept for audit (its newest); null: not audited yet, or not kept",
    )
    defects: list[DefectOut] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        row: Inspection,
        defects: list[DefectOut] | None = None,
        latest_audit: PassAuditOut | None = None,
    ) -> InspectionOut:
        """From a stored inspection; trusted data, so not validated again."""
        values = {name: getattr(row, name) for name in cls.model_fields if name not in _NOT_COLUMNS}
        return cls.model_construct(**values, defects=defects or [], latest_audit=latest_audit)


#: Fields of :class:`InspectionOut` that are not columns of the inspection.
_NOT_COLUMNS = frozenset({"defects", "latest_audit"})


class InspectionPageOut(PageOut):
    """A page of inspections."""

    items: list[InspectionOut]


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
    at_tz: str = Field("+00:00", description="UTC offset the link was posted with, e.g. +05:30")
    depth: int
    created_by: str
    created_by_name: str | None = Field(None, description="the name given to that key, if any")
    phrase: str = Field("", description="the link in words, subject first: 'RL… packed in BOX-7'")


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
    created_by_name: str | None = Field(None, description="the name given to that key, if any")


class ModelUseOut(_Out):
    """A model version that judged the code, and how many of its inspections."""

    model_name: str
    model_version: str
    inspections: int
    first_at: datetime
    last_at: datetime


class AuditOut(_Out):
    """Whether the review history behind this trace is intact (hash chain and derived state)."""

    ok: bool = Field(description="false when a review row or a defect's state was changed below the API")
    reviews_checked: int
    problems: list[str] = Field(
        default_factory=list, description="each break: which review or defect, and what does not hold"
    )


class TraceOut(_Out):
    """Everything known about a code."""

    code: str
    unit: UnitOut | None
    genealogy: GenealogyOut
    inspections: list[InspectionOut]
    events: list[ProcessEventOut]
    model_versions: list[ModelUseOut]
    grade: GradeOut | None = Field(
        None, description="the unit's grade and status after review (the same as GET /v1/units/{code}/grade)"
    )
    audit: AuditOut = Field(
        default_factory=lambda: AuditOut(ok=True, reviews_checked=0),
        description="the review audit trail of this unit's defects, checked (see `linecheck db verify`)",
    )


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
    image_expired_at: datetime | None = Field(
        None, description="when the image retention deleted the frame (null: stored)"
    )
    image_width: int
    image_height: int
    model_name: str | None
    model_version: str | None
    trigger_id: str | None = Field(None, description="the inspection's trigger (the PLC's MeasId), if sent")
    encoder_count: int | None = None
    product: str | None = Field(None, description="the line's product the unit was judged as, if any")


class QueueOut(PageOut):
    """A page of the review queue; ``unread_inspections`` counts frames still waiting for a code."""

    items: list[QueueItemOut]
    unread_inspections: int


class GradeTableOut(_Out):
    """How the grade was reached, one row per counted defect (display texts)."""

    title: str
    columns: list[str]
    rows: list[list[str]]


UnitStatusOut = Literal["accepted", "released", "failed", "not_inspected"]


#: Where a unit of a hold stands: still held, re-inspected after the hold was placed, or released by a person.
HoldUnitState = Literal["held", "reinspected", "released"]
HOLD_UNIT_STATES: tuple[HoldUnitState, ...] = ("held", "reinspected", "released")


class UnitHoldOut(_Out):
    """A hold a unit is in, as its grade shows it."""

    id: int
    cause: str
    reason: str
    since: datetime
    until: datetime
    state: HoldUnitState


class ShippingBlockerOut(_Out):
    """A unit that keeps its code (or the box, pallet it is in) from shipping."""

    code: str
    reason: Literal["failed", "not_inspected", "held"]
    status: UnitStatusOut = Field(description="the unit's status after review")
    hold_ids: list[int] = Field(default_factory=list, description="held: the holds that hold it")


class ShippingOut(_Out):
    """May a code ship: a unit, or a container and every inspected unit inside it."""

    code: str
    may_ship: bool
    units: int = Field(description="inspected units checked: the code itself, or those inside it")
    containers: int = Field(
        description="codes inside it (and itself) that are no inspected unit: boxes, pallets"
    )
    blocked: int = Field(description="units that may not ship")
    blockers: list[ShippingBlockerOut] = Field(description="those units (the first 200)")


class GradeOut(_Out):
    """The authoritative grade of a unit (textile four-point, PV A/B/C, bearing verdict), after review.

    ``status`` is what the pages, the statistics and the kiosk show: ``accepted``, ``released``
    (released by review: failed as inspected, accepted after review), ``failed`` or
    ``not_inspected`` (no frame of the unit could be inspected); ``accepted`` is true for the first two.
    """

    code: str
    kind: str
    line_id: str
    product: str | None = Field(
        None,
        description="the line's product the unit was graded as (that of its newest inspection); null: the "
        "line's own config",
    )
    grade: str
    accepted: bool
    status: UnitStatusOut = "accepted"
    status_text: str = ""
    inspected_grade: str = Field("", description="the grade of the model's defects, before any review")
    inspected_accepted: bool = True
    detail: dict[str, Any]
    facts: list[tuple[str, str]] = Field(
        default_factory=list, description="the kind's key figures as (label, text) pairs, for display"
    )
    table: GradeTableOut | None = Field(None, description="the kind's per-defect working of the grade")
    defects_counted: int
    defects_excluded: int
    defects_pending: int = 0
    defects_added: int = Field(0, description="missed defects drawn by a reviewer (counted)")
    inspections: int
    not_inspected: int
    frames_failed: int = Field(0, description="frames the line judged fail when inspected")
    reworked_at: datetime | None = Field(
        None,
        description="the unit was reworked then (a `reworked` process event) and inspected again: the grade "
        "counts only the inspections after it; null: no rework, or not inspected since",
    )
    frames_superseded: int = Field(0, description="frames inspected before that rework, not counted")
    holds: list[UnitHoldOut] = Field(
        default_factory=list, description="the holds (containments) the unit is in, oldest first"
    )
    may_ship: bool = Field(
        True, description="whether the unit may ship: accepted (or released by review) and held by no hold"
    )


class StationStatsOut(_Out):
    """Frames and defects of one station in a window (the trend by station)."""

    station: str
    inspections: int
    failed: int = Field(description="frames judged fail when inspected")
    not_inspected: int
    defects: int = Field(description="defects not rejected by review")


class ShiftStatsOut(_Out):
    """One shift (or hour) of a line, clipped to the period asked for.

    Units are the codes inspected in the window; their status is the unit's verdict after review
    (the same as ``GET /v1/units/{code}/grade``). ``failed_units`` = units not accepted (failed or
    not inspected); ``fail_rate`` = failed_units / units.
    """

    shift: str = Field(description="local start time of the shift (or hour), HH:MM in the shift time zone")
    shift_start: datetime
    shift_end: datetime
    inspections: int
    by_verdict: dict[str, int] = Field(description="frames per verdict as inspected")
    units: int
    units_by_status: dict[str, int] = Field(
        default_factory=dict, description="accepted, released (by review), failed, not_inspected"
    )
    failed_units: int
    fail_rate: float | None
    first_at: datetime | None = None
    last_at: datetime | None = None
    running_s: float = Field(0.0, description="seconds the line was running (gaps over idle_gap_s left out)")
    frames_per_hour: float | None = Field(None, description="inspections per hour of running time")
    units_per_hour: float | None = None
    defects_by_class: dict[str, int]
    top_locations: list[dict[str, Any]]
    stations: list[StationStatsOut] = Field(default_factory=list)


class PeriodTotalsOut(_Out):
    """The whole period: a unit seen in several shifts counts once."""

    inspections: int
    not_inspected: int
    units: int
    units_by_status: dict[str, int]
    failed_units: int
    fail_rate: float | None
    running_s: float
    frames_per_hour: float | None
    units_per_hour: float | None
    defects: int
    defects_by_class: dict[str, int]


class LineStatsOut(_Out):
    """Statistics of a line over a period, per shift (or per hour)."""

    line_id: str
    product: str | None = Field(None, description="the product asked for: its inspections and units only")
    since: datetime
    until: datetime
    bucket: Literal["shift", "hour"] = "shift"
    idle_gap_s: float = Field(300.0, description="a gap between frames longer than this is a stop")
    totals: PeriodTotalsOut | None = None
    shifts: list[ShiftStatsOut]


class LineOut(_Out):
    """A registered line and its full config."""

    id: str
    kind: str
    name: str
    config: dict[str, Any]
    product_configs: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per product of the line (its YAML's products:), the line's config as that product "
        "changes it (LineConfig.for_product): what a page draws a unit of that product with",
    )
    stations: list[str]
    updated_at: datetime
    updated_by: str


class MeOut(_Out):
    """The calling key: what the pages need to know to offer only what it may do."""

    id: str
    role: Literal["line", "reviewer", "viewer"]
    name: str
    lines: list[str]
    actor: str = Field(description="what this key's writes are recorded under")
    may_review: bool


class GoldenOut(_Out):
    """The golden sample (reference good image) of a station."""

    line_id: str
    station: str
    image_ref: str
    inspection_id: str | None
    source: Literal["chosen", "newest_good_frame"] = Field(
        description="chosen by a reviewer, or the station's newest frame judged pass with no defect"
    )
    image_width: int | None = None
    image_height: int | None = None
    note: str | None = None
    chosen_by: str | None = None
    chosen_by_name: str | None = None
    chosen_at: datetime | None = None


class ChallengePartOut(_Out):
    """A challenge part of a line's verification and its latest inspection."""

    code: str
    expect: Literal["pass", "fail"]
    classes: list[str] = Field(description="classes that must be among its defects (a part that must fail)")
    met: bool | None = Field(description="its latest inspection met the expectation (None: never inspected)")
    current: bool = Field(description="its latest inspection is within the verification interval")
    inspection_id: str | None
    captured_at: datetime | None
    verdict: str | None
    found_classes: list[str] = Field(description="classes of the defects the model found in it")


class VerificationOut(_Out):
    """A line's error-proofing verification: its challenge parts: does the station still catch defects?."""

    line_id: str
    product: str | None = Field(
        None, description="the product the line is on (its newest inspection's), on a line with products"
    )
    changeover_at: datetime | None = Field(
        None,
        description="when that product's run began (its first inspection after another product's); a part "
        "inspected before it does not count: the station proves itself again after a changeover",
    )
    state: Literal["verified", "due", "failed"] = Field(
        description="verified: every part met its expectation within every_h; due: a part was not run in "
        "that time; failed: a part's latest inspection missed its expectation (a red rabbit passed)"
    )
    every_h: float
    verified_at: datetime | None = Field(description="when the last part of the current verification ran")
    due_at: datetime | None = Field(description="when the current verification stops holding")
    problem: str | None
    suspect_since: datetime | None = Field(
        None,
        description="failed: when the station was last known good (the missed parts' last inspection that "
        "met its expectation); the units made since are suspect: hold them (POST /v1/holds); null: not "
        "failed, or a missed part never met it",
    )
    parts: list[ChallengePartOut] = Field(description="the challenge parts of the product the line is on")


class UnitSummaryOut(_Out):
    """A recently inspected unit and its verdict after review (the kiosk)."""

    code: str
    last_at: datetime
    product: str | None = Field(None, description="the line's product the unit was graded as, if any")
    status: UnitStatusOut
    grade: str
    accepted: bool
    inspected_grade: str
    frames: int
    defects_counted: int
    defects_pending: int


class RecentUnitsOut(_Out):
    """The newest units of a line, newest first, and how many of them are accepted."""

    line_id: str
    items: list[UnitSummaryOut]
    accepted: int
    failed: int


class ReviewerOut(_Out):
    """One reviewer's decisions in a period and how often they agreed with another reviewer."""

    reviewer: str
    name: str | None
    decisions: dict[str, int]
    defects: int
    compared: int = Field(description="defects a second reviewer also decided")
    agreed: int = Field(description="of those, the ones where they ended on the same outcome")


class ReviewerStatsOut(_Out):
    """Decisions per reviewer and agreement where two reviewed the same defect."""

    since: datetime
    until: datetime
    line_id: str | None
    reviews: int
    reviewers: list[ReviewerOut]
    defects_compared: int
    defects_agreed: int
    agreement: float | None = Field(description="defects_agreed / defects_compared")


TraceOut.model_rebuild()  # it refers to GradeOut, defined after it
