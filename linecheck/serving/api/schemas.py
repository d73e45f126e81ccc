"""Request parameters of the API, and its names for the wire contract's payloads.

The bodies themselves (``extra="forbid"``, field limits, the rules that need no line config) are
:mod:`linecheck.contract`, shared with the inspector. Checks that need a line's config (classes,
code pattern, PV grid, location kind) and the bbox-inside-the-image check live in the services,
which name the field they reject.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Self

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from linecheck.contract import (
    CODE_PATTERN,
    ID_PATTERN,
    INGEST_ADAPTER,
    INT64_MAX,
    NAME_PATTERN,
    ClassName,
    CodeAssignPayload,
    DefectPayload,
    Finite,
    GenealogyPayload,
    InspectionBatchPayload,
    InspectionPayload,
    LineId,
    ProcessEventPayload,
    ProductId,
    ReviewPayload,
    Timestamp,
    TriggerId,
)
from linecheck.contract import Comment as CommentText

__all__ = [
    "CODE_PATTERN",
    "INGEST_ADAPTER",
    "INT64_MAX",
    "ROW_ID_MAX",
    "AddDefectIn",
    "AuditIn",
    "BulkReviewIn",
    "ClassNameQuery",
    "CodeAssignIn",
    "CodePath",
    "CodeQuery",
    "DefectIn",
    "GenealogyIn",
    "GoldenIn",
    "HoldCause",
    "HoldIn",
    "HoldReleaseIn",
    "InspectionBatchIn",
    "InspectionIdPath",
    "InspectionIn",
    "LineIdPath",
    "LineIdQuery",
    "MergeIn",
    "MsaStudyIn",
    "Offset",
    "ProcessEventIn",
    "ProductQuery",
    "ReviewIn",
    "RowId",
    "Since",
    "TriggerIdQuery",
    "UndoIn",
    "Until",
]

#: ``offset`` of paginated listings.
Offset = Annotated[int, Query(ge=0, le=INT64_MAX)]
#: Largest row id (defects, reviews): their keys are PostgreSQL INTEGER, and a larger number in a
#: query is an error there, not a miss.
ROW_ID_MAX = 2**31 - 1
#: A row id in a path (``/v1/defects/{defect_id}``).
RowId = Annotated[int, Path(le=ROW_ID_MAX)]
# Text in paths and filters follows the contract's rules too: nothing that cannot be a stored value
# (control characters, over-long text, impossible times) reaches a query.
#: A traceability code in a path (``/v1/trace/{code}``).
CodePath = Annotated[str, Path(pattern=CODE_PATTERN)]
#: An inspection id in a path.
InspectionIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
#: A line id in a path (an unknown one is a 404).
LineIdPath = Annotated[LineId, Path()]
#: Filters of the listings.
LineIdQuery = Annotated[LineId | None, Query()]
ClassNameQuery = Annotated[ClassName | None, Query()]
CodeQuery = Annotated[str | None, Query(pattern=CODE_PATTERN)]
TriggerIdQuery = Annotated[
    TriggerId | None, Query(description="the PLC's measurement / job id (MeasId) the unit was triggered with")
]
#: A product of a line (``products:`` in its YAML); one the line, or every line, lacks is a 422.
ProductQuery = Annotated[
    ProductId | None, Query(description="a product (recipe) of the line: the units judged as it only")
]
Since = Annotated[Timestamp | None, Query(description="from this time on (ISO 8601 with offset)")]
Until = Annotated[Timestamp | None, Query(description="before this time (ISO 8601 with offset)")]

# The API's names for the contract's payloads (routes and services annotate with these).
DefectIn = DefectPayload
InspectionIn = InspectionPayload
InspectionBatchIn = InspectionBatchPayload
GenealogyIn = GenealogyPayload
ProcessEventIn = ProcessEventPayload
CodeAssignIn = CodeAssignPayload


# Bodies only reviewers send (the pages): no inspector builds them, so they live with the API.

Box = tuple[Finite, Finite, Finite, Finite]
DefectId = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]
DefectIds = Annotated[list[DefectId], Field(min_length=1, max_length=500)]
Comment = CommentText | None


def _box_problem(box: Box) -> str | None:
    x1, y1, x2, y2 = box
    if all(math.isfinite(v) for v in box) and 0 <= x1 < x2 and 0 <= y1 < y2:
        return None
    return "expected finite 0 <= x1 < x2 and 0 <= y1 < y2 (frame pixels)"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewIn(ReviewPayload):
    """A decision on a defect; ``bbox`` corrects its box (confirm or reclassify only)."""

    bbox: Box | None = Field(None, description="x1, y1, x2, y2 in frame pixels: the box moved or resized")

    @field_validator("bbox")
    @classmethod
    def _valid_box(cls, value: Box | None) -> Box | None:
        """A box with an area."""
        if value is not None and (problem := _box_problem(value)):
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _box_with_a_keeping_decision(self) -> Self:
        """A box is corrected only on a defect that stays."""
        if self.bbox is not None and self.decision == "reject":
            raise ValueError("bbox: a rejected defect has no box to correct")
        return self


class BulkReviewIn(ReviewPayload):
    """The same decision on several defects at once (all or nothing)."""

    defect_ids: DefectIds


class UndoIn(_Body):
    """Undo the last decision on a defect (a new review row; the history keeps both)."""

    comment: Comment = None


class AddDefectIn(_Body):
    """A defect the model missed, drawn on the frame by a reviewer."""

    class_name: ClassName
    bbox: Box = Field(description="x1, y1, x2, y2 in frame pixels")
    comment: Comment = None

    @field_validator("bbox")
    @classmethod
    def _valid_box(cls, value: Box) -> Box:
        """A box with an area."""
        if problem := _box_problem(value):
            raise ValueError(problem)
        return value


class MergeIn(_Body):
    """Merge boxes of one frame into the first: it takes their union, the others are rejected."""

    defect_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=ROW_ID_MAX)]], Field(min_length=2, max_length=50)
    ]
    class_name: ClassName | None = None
    comment: Comment = None


class GoldenIn(_Body):
    """Make an inspection's frame the golden sample (reference good image) of its station."""

    inspection_id: str = Field(pattern=ID_PATTERN)
    station: str | None = Field(None, pattern=NAME_PATTERN, description="default: the inspection's station")
    note: Comment = None


class AuditIn(_Body):
    """A person's audit of a pass-audit sample frame (``linecheck.audit``)."""

    outcome: Literal["ok", "escape"] = Field(
        description="ok: nothing missed; escape: the model missed a defect (draw it on the frame first)"
    )
    comment: Comment = None


#: Why a hold is placed (``linecheck.serving.store.models.HOLD_CAUSES``).
HoldCause = Literal["verification", "escape", "complaint", "other"]


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must say something (it is kept as the record's reason)")
    return text.strip()


Reason = Annotated[CommentText, AfterValidator(_not_blank)]


class HoldIn(_Body):
    """Hold the units a line (a product of it) made in a suspect period.

    They must not ship until each is re-inspected or released.
    """

    line_id: LineId
    product: ProductId | None = Field(None, description="only the units judged as this product of the line")
    since: Timestamp = Field(description="the suspect period's start (e.g. the last passed verification)")
    until: Timestamp | None = Field(None, description="the period's end (excluded); default: now")
    cause: HoldCause = Field(
        description="verification (a challenge part missed), escape (an audit found a missed defect), "
        "complaint (a customer's), other"
    )
    reason: Reason = Field(description="what happened, for the record")


class HoldReleaseIn(_Body):
    """Release a whole hold, or one unit of it (``code``), saying why."""

    code: str | None = Field(None, pattern=CODE_PATTERN, description="the unit to release (unset: the hold)")
    comment: Reason = Field(description="why it may ship (a sorting result, an engineering decision)")


class ReferencePartIn(_Body):
    """A reference part of an attribute study: its code and its true state."""

    code: str = Field(pattern=CODE_PATTERN)
    expect: Literal["pass", "fail"] = Field(description="pass: a good part; fail: a part with a known defect")


class MsaStudyIn(_Body):
    """An attribute study: reference parts run through a line's station in a period."""

    line_id: LineId
    since: Timestamp = Field(description="the study's first trial (inspections from then on)")
    until: Timestamp | None = Field(None, description="after its last trial (excluded); default: now")
    parts: list[ReferencePartIn] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _codes_once(self) -> Self:
        codes = [p.code for p in self.parts]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"parts: code(s) {twice} listed more than once")
        return self
