"""Response bodies of the pass audits: the audit queue and a line's escape rate (:mod:`.services.audits`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from linecheck.serving.api.responses import DefectOut, PageOut, PassAuditOut, _Out


class AuditQueueItemOut(_Out):
    """A passed frame kept for audit: the inspection's facts, the defects drawn on it, and its audit."""

    inspection_id: str
    line_id: str
    station: str
    code: str | None
    product: str | None = Field(None, description="the line's product the unit was judged as, if any")
    captured_at: datetime
    image_ref: str | None
    image_expired_at: datetime | None = Field(
        None, description="when the image retention deleted the frame (null: stored)"
    )
    image_width: int
    image_height: int
    model_name: str | None
    model_version: str | None
    drawn_defects: list[DefectOut] = Field(
        default_factory=list,
        description="the defects a reviewer drew on the frame (POST /v1/inspections/{id}/defects): what an "
        "escape audit says the model missed",
    )
    audit: PassAuditOut | None = Field(None, description="its newest audit; null: pending")


class AuditQueueOut(PageOut):
    """A page of the audit samples, newest first."""

    items: list[AuditQueueItemOut]


class EscapeRateOut(_Out):
    """A line's pass audits over a period: the escape rate measured in production, with its 95 % interval.

    Counted over the audit samples captured in the period (challenge parts left out), each by its
    newest audit; ``escape_rate`` = escapes / audited, ``low`` / ``high`` its Wilson score interval
    (null when nothing was audited).
    """

    line_id: str
    product: str | None = Field(None, description="the product asked for: its samples only")
    since: datetime
    until: datetime
    sampled: int = Field(description="passed frames kept for audit")
    audited: int
    escapes: int = Field(description="audits that found a defect the model missed")
    pending: int = Field(description="samples not audited yet")
    escape_rate: float | None
    low: float | None = Field(description="lower bound of the 95 % Wilson score interval")
    high: float | None = Field(description="upper bound of the 95 % Wilson score interval")
    escapes_by_class: dict[str, int] = Field(
        description="classes of the defects drawn on the escape frames (not rejected), most first"
    )
