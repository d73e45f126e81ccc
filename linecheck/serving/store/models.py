"""SQLAlchemy 2 models of the traceability store.

The schema itself is created and changed only by the Alembic migrations in
``linecheck/serving/store/migrations``; a test checks that the migrations and these models agree.

Codes (``units.code``, genealogy and process events) are plain strings: a raw-material lot or a
shipping box can be linked and traced before (or without) ever being inspected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Constraint names are fixed so that migrations and models name them the same on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")

#: Predicates of the image retention's partial indexes (migration 0011 writes the same text). The
#: retention's queries use the same text, so that SQLite (which matches a partial index's terms
#: literally) and PostgreSQL both use them. A *live* image is one whose record has not expired it.
LIVE_FRAME = "image_ref IS NOT NULL AND image_expired_at IS NULL"
#: A pass frame: judged pass with no defect (a defect added by a reviewer makes it another frame).
LIVE_PASS_FRAME = f"{LIVE_FRAME} AND verdict = 'pass' AND defect_count = 0"
LIVE_OTHER_FRAME = f"{LIVE_FRAME} AND (verdict <> 'pass' OR defect_count <> 0)"
LIVE_CROP = "crop_ref IS NOT NULL AND crop_expired_at IS NULL"
LIVE_HEATMAP = "heatmap_ref IS NOT NULL AND heatmap_expired_at IS NULL"
LIVE_DEFECT_IMAGES = f"({LIVE_CROP}) OR ({LIVE_HEATMAP})"
EXPIRED_FILE_LEFT = "expired_at IS NOT NULL AND file_deleted_at IS NULL"
#: Predicate of the audit queue's partial index (migration 0014): the frames kept for audit, the
#: pass-audit samples and the near misses.
AUDIT_KEPT = "audit_sample OR audit_borderline"


def _partial(name: str, *columns: str, where: str) -> Index:
    """An index of the rows ``where`` holds for, on SQLite and PostgreSQL alike."""
    return Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored in UTC on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC (naive UTC for SQLite); refuse naive input."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only accepts timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Line(Base):
    """A production line; ``config`` holds its full validated YAML config (classes, code pattern...)."""

    __tablename__ = "lines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200), default="")
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class Station(Base):
    """A camera / station of a line."""

    __tablename__ = "stations"
    __table_args__ = (UniqueConstraint("line_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("lines.id"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Unit(Base):
    """A traceable unit (roll, ring, module), created on its first inspection."""

    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    line_id: Mapped[str] = mapped_column(ForeignKey("lines.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Inspection(Base):
    """One inspected frame (or a frame that could not be inspected), keyed by the client's id."""

    __tablename__ = "inspections"
    __table_args__ = (
        Index("ix_inspections_line_id_captured_at", "line_id", "captured_at"),
        # a PLC's log names a unit by its trigger (MeasId): look it up per line
        Index("ix_inspections_line_id_trigger_id", "line_id", "trigger_id"),
        # the inspections and statistics of one product of a line, by time (0012)
        Index("ix_inspections_line_id_product_captured_at", "line_id", "product", "captured_at"),
        Index(
            "ix_inspections_unread",
            "captured_at",
            sqlite_where=text("code IS NULL"),
            postgresql_where=text("code IS NULL"),
        ),
        # image retention: the frames still stored, oldest first, and who else holds a ref (0011)
        _partial("ix_inspections_pass_image_live", "captured_at", "id", where=LIVE_PASS_FRAME),
        _partial("ix_inspections_other_image_live", "captured_at", "id", where=LIVE_OTHER_FRAME),
        _partial("ix_inspections_image_ref_live", "image_ref", where=LIVE_FRAME),
        # the audit queue, the escape rate and the near misses: a line's frames kept for audit by time (0014)
        _partial("ix_inspections_audit_kept", "line_id", "captured_at", where=AUDIT_KEPT),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    code_status: Mapped[str] = mapped_column(String(16))
    line_id: Mapped[str] = mapped_column(ForeignKey("lines.id"))
    station: Mapped[str] = mapped_column(String(64))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    captured_tz: Mapped[str] = mapped_column(String(6), default="+00:00")
    model_name: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    #: 64-bit everywhere (a camera's frame counter; SQLite's INTEGER already is, PostgreSQL's needs BIGINT).
    frame_seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    #: The trigger the unit came with (a PLC's MeasId, or ``<station>:<seq>``) and the encoder count
    #: at it; None for inspections stored before 0010 and from inspectors that send neither.
    trigger_id: Mapped[str | None] = mapped_column(String(128))
    encoder_count: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    #: The product (one of the line's ``products:``) the unit was judged as; None: the line's own config
    #: (a line without products, and inspections stored before 0012).
    product: Mapped[str | None] = mapped_column(String(64))
    #: A passed unit's frame kept for a person to audit (the line's ``audit.pass_sample``,
    #: :mod:`linecheck.audit`); false for every inspection stored before 0013.
    audit_sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: A passed frame kept for audit as a near miss (a detection came within the line's ``audit.borderline``
    #: of its threshold); audited like a sample, never in the escape rate; false before 0014.
    audit_borderline: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    image_width: Mapped[int] = mapped_column(Integer)
    image_height: Mapped[int] = mapped_column(Integer)
    image_ref: Mapped[str | None] = mapped_column(String(64))
    #: When the image retention removed the frame (``image_ref`` is kept; the bytes are gone).
    image_expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    roll_offset_m: Mapped[float | None] = mapped_column(Float)
    #: The product's geometry found in the frame (``geometry_mode: auto``), as the line's kind
    #: writes it; None when the line YAML's was used (and for inspections stored before 0009).
    geometry: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    defect_count: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    code_assigned_by: Mapped[str | None] = mapped_column(String(64))
    code_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def kept_for_audit(self) -> bool:
        """Kept for a person to audit: a pass-audit sample, a near miss, or both (in SQL: ``AUDIT_KEPT``)."""
        return self.audit_sample or self.audit_borderline


class Defect(Base):
    """One detected defect; line and capture time are copied from the inspection for fast queues."""

    __tablename__ = "defects"
    __table_args__ = (
        # the review queue walks these in id (arrival) order, with or without a line filter
        Index("ix_defects_review_state_id", "review_state", "id"),
        Index("ix_defects_review_state_line_id_id", "review_state", "line_id", "id"),
        Index("ix_defects_line_id_captured_at", "line_id", "captured_at"),
        # image retention: defects whose crop or heat map is still stored, and who holds a ref (0011)
        _partial("ix_defects_images_live", "captured_at", "id", where=LIVE_DEFECT_IMAGES),
        _partial("ix_defects_crop_ref_live", "crop_ref", where=LIVE_CROP),
        _partial("ix_defects_heatmap_ref_live", "heatmap_ref", where=LIVE_HEATMAP),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[str] = mapped_column(ForeignKey("inspections.id"), index=True)
    line_id: Mapped[str] = mapped_column(String(64))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    class_name: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    location: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    location_key: Mapped[str | None] = mapped_column(String(32))
    along_m: Mapped[float | None] = mapped_column(Float)
    size_m: Mapped[float | None] = mapped_column(Float)
    cell_row: Mapped[int | None] = mapped_column(Integer)
    cell_col: Mapped[int | None] = mapped_column(Integer)
    zone: Mapped[str | None] = mapped_column(String(16))
    crop_ref: Mapped[str | None] = mapped_column(String(64))
    #: JPEG heat map of an anomaly region over the crop (same box); None for other defects.
    heatmap_ref: Mapped[str | None] = mapped_column(String(64))
    #: When the image retention removed the crop / the heat map (the refs are kept).
    crop_expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heatmap_expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_state: Mapped[str] = mapped_column(String(16), default="pending")
    final_class: Mapped[str] = mapped_column(String(64), index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The box after a reviewer moved / resized it (None: the model's box stands), and its location.
    final_bbox: Mapped[list[float] | None] = mapped_column(JSONType)
    final_location: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: ``model`` (detected) or ``reviewer`` (a missed defect drawn by a person, ``created_by``).
    source: Mapped[str] = mapped_column(String(16), default="model", server_default="model")
    created_by: Mapped[str | None] = mapped_column(String(64))


class Review(Base):
    """One review decision on a defect; reviews are only ever added, never changed.

    Each row is sealed into a hash chain (``prev_hash`` -> ``hash``, see
    :mod:`linecheck.serving.store.audit`): a row changed, deleted or replaced below the API shows.
    """

    __tablename__ = "reviews"
    __table_args__ = (Index("uq_reviews_prev_hash", "prev_hash", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    defect_id: Mapped[int] = mapped_column(ForeignKey("defects.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    new_class: Mapped[str | None] = mapped_column(String(64))
    reviewer: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    comment: Mapped[str | None] = mapped_column(Text)
    #: The box this decision set (x1, y1, x2, y2 in frame pixels), when the reviewer corrected it.
    bbox: Mapped[list[float] | None] = mapped_column(JSONType)
    #: ``hash`` of the review stored before this one (the chain's genesis: 64 zeros).
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of this row's content and ``prev_hash`` (``audit.review_digest``).
    hash: Mapped[str] = mapped_column(String(64))


class Audit(Base):
    """A person's audit of a pass-audit sample frame: ``ok`` (nothing missed) or ``escape``.

    Append-only like the reviews (the database refuses UPDATE and DELETE): a re-audit is a new row,
    and the newest row of an inspection is its audit.
    """

    __tablename__ = "audits"
    __table_args__ = (
        CheckConstraint("outcome IN ('ok', 'escape')", name="outcome"),
        Index("ix_audits_inspection_id_id", "inspection_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    inspection_id: Mapped[str] = mapped_column(ForeignKey("inspections.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    #: The key that audited (``key:<id>``), as reviews record it.
    actor: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: Why a hold was placed (``holds.cause``).
HOLD_CAUSES = ("verification", "escape", "complaint", "other")


class Hold(Base):
    """A containment: the units a line (a product of it) made in a period are suspect and must not ship.

    The units are those with an inspection on ``line_id`` (of ``product``) captured in [``since``,
    ``until``); a hold is a fact, never changed (the database refuses UPDATE and DELETE): its end is
    a :class:`HoldRelease`, and a unit leaves it when it is re-inspected after the hold was placed.
    """

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("cause IN ('verification', 'escape', 'complaint', 'other')", name="cause"),
        CheckConstraint("since < until", name="period"),
        Index("ix_holds_line_id_since", "line_id", "since"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(String(64))
    product: Mapped[str | None] = mapped_column(String(64))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    #: The key that placed it (``key:<id>``).
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HoldRelease(Base):
    """A person's release of a hold (``code`` None) or of one unit of it, with the reason. Append-only."""

    __tablename__ = "hold_releases"
    __table_args__ = (Index("ix_hold_releases_hold_id_code", "hold_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hold_id: Mapped[int] = mapped_column(ForeignKey("holds.id"))
    code: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GenealogyLink(Base):
    """``parent`` is made from / contains / packs ``child`` (parent = the later, larger thing)."""

    __tablename__ = "genealogy"
    __table_args__ = (UniqueConstraint("parent_code", "child_code", "relation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_code: Mapped[str] = mapped_column(String(64), index=True)
    child_code: Mapped[str] = mapped_column(String(64), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The UTC offset ``at`` was posted with (``+HH:MM``); links stored before revision 0006 read +00:00.
    at_tz: Mapped[str] = mapped_column(String(6), default="+00:00", server_default="+00:00")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class ProcessEvent(Base):
    """A business step for a code (received, processed, assembled, packed, shipped)."""

    __tablename__ = "process_events"
    __table_args__ = (
        UniqueConstraint("code", "type", "at"),
        Index("ix_process_events_code_at", "code", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    at_tz: Mapped[str] = mapped_column(String(6), default="+00:00")
    line_id: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class Image(Base):
    """Metadata of a content-addressed image (the bytes live in the image store).

    The image retention first sets ``expired_at`` (with every record holding the ref), then
    deletes the file and sets ``file_deleted_at``: see :mod:`linecheck.serving.api.services.retention`.
    """

    __tablename__ = "images"
    __table_args__ = (
        _partial("ix_images_live_created_at", "created_at", "ref", where="expired_at IS NULL"),
        _partial("ix_images_expired_file_left", "ref", where=EXPIRED_FILE_LEFT),
    )

    ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    #: When the retention expired the image (GET answers 410 from then on), and by which setting.
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expired_by: Mapped[str | None] = mapped_column(String(200))
    #: When its file was deleted (null with ``expired_at`` set: the deletion is still to be done).
    file_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GoldenSample(Base):
    """The reference good image of a line's station (the newest row of a station is the one in use)."""

    __tablename__ = "golden_samples"
    __table_args__ = (Index("ix_golden_samples_line_id_station_id", "line_id", "station", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("lines.id"))
    station: Mapped[str] = mapped_column(String(64))
    image_ref: Mapped[str] = mapped_column(String(64))
    inspection_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))


class ApiKey(Base):
    """An API key: a public id plus the SHA-256 of its secret part (the secret is never stored)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    lines: Mapped[list[str]] = mapped_column(JSONType, default=list)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReadinessProbe(Base):
    """The one row ``/readyz`` rewrites to prove the store takes writes (who probed last, and when)."""

    __tablename__ = "readiness_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(128))
