"""Response bodies of the pass audits: the audit queue and a line's escape rate (:mod:`.services.audits`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from linecheck.serving.api.responses import DefectOut, PageOut, PassAuditOut, _Out


class AuditQueueItemOut(_Out):
    """A passed frame kept for audit: its facts, why it was kept, the defects drawn on it, the audit."""

    inspection_id: str
    line_id: str
    station: str
    code: str | None
    product: str | None = Field(None, description="the line's product the unit was judged as, if any")
    audit_sample: bool = Field(
        description="kept as a pass-audit sample (the line's audit.pass_sample): counts in the escape rate"
    )
    audit_borderline: bool = Field(
        description="kept as a near miss (a detection came within the line's audit.borderline of its "
        "threshold): audited alike, never in the escape rate"
    )
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
    """A page of the frames kept for audit, newest first."""

    items: list[AuditQueueItemOut]


class NearMissCountsOut(_Out):
    """A line's near misses (``audit_borderline``) in a period, by their newest audit: not in the escape rate.

    Near misses are chosen by the model's own scores (a detection just under its threshold), so the
    share of escapes among them says nothing about the line's escape rate; a frame that is a sample
    too counts here and, as a sample, in the rate.
    """

    kept: int = Field(description="near misses kept for audit")
    audited: int
    escapes: int = Field(description="audits of a near miss that found a defect the model missed")
    pending: int = Field(description="near misses not audited yet")


class LastEscapeOut(_Out):
    """The newest escape of a period, and since when the units like it are suspect."""

    inspection_id: str
    code: str | None
    product: str | None
    captured_at: datetime
    suspect_since: datetime | None = Field(
        description="the newest frame of the line (and product) before it that an audit found clean: the "
        "units made since may hold the same miss (hold them: POST /v1/holds, cause escape); null: none "
        "within the 31 days a hold may cover"
    )


class EscapeRateOut(_Out):
    """A line's pass audits over a period: the escape rate measured in production, with its 95 % interval.

    Counted over the audit samples captured in the period (challenge parts left out), each by its
    newest audit; ``escape_rate`` = escapes / audited, ``low`` / ``high`` its Wilson score interval
    (null when nothing was audited). The near misses are counted apart, in ``borderline``.
    """

    line_id: str
    product: str | None = Field(None, description="the product asked for: its samples only")
    since: datetime
    until: datetime
    sampled: int = Field(description="passed frames kept for audit as samples (near misses apart)")
    audited: int
    escapes: int = Field(description="audits that found a defect the model missed")
    pending: int = Field(description="samples not audited yet")
    escape_rate: float | None
    low: float | None = Field(description="lower bound of the 95 % Wilson score interval")
    high: float | None = Field(description="upper bound of the 95 % Wilson score interval")
    escapes_by_class: dict[str, int] = Field(
        description="classes of the defects drawn on the escape frames (not rejected), most first"
    )
    last_escape: LastEscapeOut | None = Field(
        None,
        description="the newest escape among the period's frames kept for audit (samples or near misses)",
    )
    borderline: NearMissCountsOut = Field(
        description="the near misses (audit_borderline) of the period, audited like the samples but chosen "
        "by the model's own scores: not in the escape rate (a near miss that is also a sample counts there "
        "as a sample)"
    )
