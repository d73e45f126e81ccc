"""Inspection ingest: validation against the line, idempotency on the client's id, bulk insert.

Rules:

* A request is one inspection or ``{"inspections": [...]}``. A batch is atomic: either every
  item is stored (or recognised as a retry) or nothing is; a rejected batch names every bad item.
* The same id with the same content is a ``duplicate`` (a retry, nothing written); the same id
  with different content is a conflict (409). Content is compared by a SHA-256 of the
  validated inspection, so key order and number formatting do not matter.
* The unit for a code is created on the code's first inspection, with the line's kind.
* An inspection's ``product`` must be one of its line's products; its locations and found
  geometry are checked with that product's config (:mod:`.products`).
* ``audit_sample`` (a passed unit's frame kept for a person to audit) and ``audit_borderline`` (a
  passed frame kept as a near miss) are stored as sent (false when left out); like every field they
  are part of the content a retry must repeat.
* A frame, crop or heat map whose image the retention already expired is stored as expired
  (``image_expired_at`` ...): a record never points at a deleted file without saying so.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from linecheck.config import LineConfig
from linecheck.contract import bbox_problem
from linecheck.errors import InvalidFieldError, PayloadTooLargeError
from linecheck.kinds import check_code, get_kind
from linecheck.kinds.base import LOCATION_COLUMNS
from linecheck.serving.api.auth import require_line
from linecheck.serving.api.errors import ConflictingIdsError, InvalidFieldsError, from_validation_error
from linecheck.serving.api.metrics import ApiMetrics
from linecheck.serving.api.schemas import (
    INGEST_ADAPTER,
    DefectIn,
    InspectionBatchIn,
    InspectionIn,
)
from linecheck.serving.api.services.holds import auto_hold
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.products import ingest_config
from linecheck.serving.api.services.records import tz_offset
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import utcnow
from linecheck.serving.store.repositories import images as image_repo
from linecheck.serving.store.repositories import inspections as repo
from linecheck.serving.store.repositories import lines as line_repo

log = logging.getLogger(__name__)

IngestStatus = Literal["created", "duplicate"]


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestOutcome:
    """What happened to one posted inspection."""

    id: str
    status: IngestStatus


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedBody:
    """A decoded ingest request."""

    items: list[InspectionIn]
    batch: bool


def parse_ingest_body(body: bytes, *, max_batch: int) -> ParsedBody:
    """Decode and validate a ``POST /v1/inspections`` body (types and ranges; no line rules yet)."""
    try:
        parsed = INGEST_ADAPTER.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise InvalidFieldError("body", body[:80].decode("utf-8", "replace"), "not valid JSON") from None
        # loc[0] is the union tag ("single" / "batch"): not part of the client's field names.
        raise from_validation_error(exc, skip=1) from None
    if isinstance(parsed, InspectionBatchIn):
        if len(parsed.inspections) > max_batch:
            raise PayloadTooLargeError(
                f"inspections: {len(parsed.inspections)} items in one batch; at most {max_batch} are accepted"
            )
        return ParsedBody(items=parsed.inspections, batch=True)
    return ParsedBody(items=[parsed], batch=False)


def content_hash(item: InspectionIn) -> str:
    """SHA-256 of the validated inspection's JSON (fields in model order, free-form dicts key-sorted)."""
    return hashlib.sha256(item.model_dump_json().encode("utf-8")).hexdigest()


def _tz_offset(item: InspectionIn) -> str:
    offset = item.captured_at.utcoffset()
    return tz_offset(int(offset.total_seconds() // 60) if offset is not None else 0)


def _check_location(
    defect: DefectIn, line: LineConfig, field: str, errors: list[InvalidFieldError]
) -> BaseModel | None:
    if defect.location is None:
        return None
    spec = get_kind(line.kind)
    try:
        location = spec.location_model.model_validate(defect.location)
    except ValidationError as exc:
        errors.extend(from_validation_error(exc, prefix=field).errors)
        return None
    for sub, value, message in spec.check_location(location, line.options):
        errors.append(InvalidFieldError(f"{field}.{sub}", value, message))
    return location


def _check_geometry(
    item: InspectionIn, line: LineConfig, prefix: str, errors: list[InvalidFieldError]
) -> None:
    """A found geometry must be one the line's kind reads back (for the frame's size, the line's grid)."""
    if item.geometry is None:
        return
    try:
        get_kind(line.kind).geometry_from_json(
            item.geometry, line.options, width=item.image_width, height=item.image_height
        )
    except InvalidFieldError as exc:
        errors.append(InvalidFieldError(f"{prefix}{exc.field}", exc.value, exc.reason))


def _check_item(item: InspectionIn, line: LineConfig, prefix: str, errors: list[InvalidFieldError]) -> None:
    """The rules that need the line (the contract's own were checked when the body was parsed).

    Locations and a found geometry are checked with the geometry of the item's product (left
    unchecked when the line has no such product: that is the error then).
    """
    judged: LineConfig | None = None
    try:
        judged = ingest_config(line, item.product, field=f"{prefix}product")
    except InvalidFieldError as exc:
        errors.append(exc)
    if item.code is not None:
        try:
            check_code(item.code, line.code_pattern, field=f"{prefix}code")
        except InvalidFieldError as exc:
            errors.append(exc)
    if judged is not None:
        _check_geometry(item, judged, prefix, errors)
    classes = set(line.classes)
    for j, defect in enumerate(item.defects):
        field = f"{prefix}defects[{j}]"
        if defect.class_name not in classes:
            errors.append(
                InvalidFieldError(
                    f"{field}.class_name", defect.class_name, f"not a class of line {line.id}: {line.classes}"
                )
            )
        problem = bbox_problem(defect.bbox, item.image_width, item.image_height)
        if problem is not None:
            errors.append(InvalidFieldError(f"{field}.bbox", list(defect.bbox), problem))
        if judged is not None:
            _check_location(defect, judged, f"{field}.location", errors)


def _defect_columns(defect: DefectIn, kind: str) -> dict[str, Any]:
    """The store's location columns, as the line's kind fills them."""
    if not defect.location:
        return dict.fromkeys(LOCATION_COLUMNS)
    return get_kind(kind).location_columns(defect.location)


class IngestService:
    """Stores inspections; one instance per app (it keeps a cache of known stations)."""

    def __init__(self, db: Database, lines: LineRegistry, metrics: ApiMetrics) -> None:
        self._db = db
        self._lines = lines
        self._metrics = metrics
        self._stations: set[tuple[str, str]] = set()
        self._stations_lock = threading.Lock()

    def validate(
        self, items: Sequence[InspectionIn], hashes: Sequence[str], key: KeyInfo, *, batch: bool
    ) -> dict[str, LineConfig]:
        """Check every item against its line and the key's scope; raise naming every bad field."""
        errors: list[InvalidFieldError] = []
        lines: dict[str, LineConfig] = {}
        for i, item in enumerate(items):
            prefix = f"inspections[{i}]." if batch else ""
            line = lines.get(item.line_id) or self._lines.get(item.line_id)
            if line is None:
                known = sorted(self._lines.all())
                errors.append(
                    InvalidFieldError(
                        f"{prefix}line_id", item.line_id, f"not a registered line; known: {known}"
                    )
                )
                continue
            require_line(key, item.line_id, field=f"{prefix}line_id")
            lines[item.line_id] = line
            _check_item(item, line, prefix, errors)
        seen: dict[str, tuple[int, str]] = {}
        for i, (item, digest) in enumerate(zip(items, hashes, strict=True)):
            first = seen.get(item.id)
            if first is None:
                seen[item.id] = (i, digest)
            elif first[1] != digest:
                errors.append(
                    InvalidFieldError(
                        f"inspections[{i}].id",
                        item.id,
                        f"repeats inspections[{first[0]}].id with other content",
                    )
                )
        if errors:
            raise InvalidFieldsError(errors)
        return lines

    def ingest(self, items: Sequence[InspectionIn], key: KeyInfo, *, batch: bool) -> list[IngestOutcome]:
        """Validate and store ``items`` atomically; return one outcome per item, in order."""
        hashes = [content_hash(item) for item in items]
        lines = self.validate(items, hashes, key, batch=batch)
        unique: dict[str, tuple[int, InspectionIn, str]] = {}
        for i, (item, digest) in enumerate(zip(items, hashes, strict=True)):
            unique.setdefault(item.id, (i, item, digest))
        field = "inspections[{}].id" if batch else "id"
        with self._db.writer() as session:
            existing = repo.existing_hashes(session, list(unique))
            conflicts = [
                (field.format(i), item.id) for i, item, h in unique.values() if existing.get(item.id, h) != h
            ]
            if conflicts:
                self._metrics.conflicts.inc(len(conflicts))
                raise ConflictingIdsError(conflicts)
            new = [(i, item, h) for i, item, h in unique.values() if item.id not in existing]
            now = utcnow()
            # share-locked: the retention cannot expire one of these before this commits
            expired = image_repo.expired_among(session, _refs(item for _, item, _ in new), lock=True)
            self._ensure_stations(session, [(item.line_id, item.station) for _, item, _ in new])
            repo.insert_units(
                session,
                [
                    {
                        "code": item.code,
                        "kind": lines[item.line_id].kind,
                        "line_id": item.line_id,
                        "created_at": now,
                    }
                    for _, item, _ in new
                    if item.code is not None
                ],
            )
            inserted = repo.insert_inspections(
                session, [self._row(item, h, key, now, expired) for _, item, h in new]
            )
            raced = [entry for entry in new if entry[1].id not in inserted]
            if raced:  # stored by a concurrent request between our read and our insert
                again = repo.existing_hashes(session, [item.id for _, item, _ in raced])
                conflicts = [(field.format(i), item.id) for i, item, h in raced if again.get(item.id) != h]
                if conflicts:
                    self._metrics.conflicts.inc(len(conflicts))
                    raise ConflictingIdsError(conflicts)
            defect_rows = [
                self._defect_row(item, defect, lines[item.line_id].kind, expired)
                for _, item, _ in new
                if item.id in inserted
                for defect in item.defects
            ]
            repo.insert_defects(session, defect_rows)
            session.commit()
        self._count(items, inserted)
        self._hold_after_missed_parts([item for _, item, _ in new if item.id in inserted], lines)
        outcomes: list[IngestOutcome] = []
        created: set[str] = set()
        for item in items:
            status: IngestStatus = (
                "created" if item.id in inserted and item.id not in created else "duplicate"
            )
            created.add(item.id)
            outcomes.append(IngestOutcome(id=item.id, status=status))
        return outcomes

    def _hold_after_missed_parts(
        self, stored: Sequence[InspectionIn], lines: Mapping[str, LineConfig]
    ) -> None:
        """Hold the suspect units when a stored challenge part missed, on lines with ``auto_hold``.

        The inspections are stored already: a hold that cannot be placed (the database gone between the
        two) is logged as an error and counted, and the answer stays the inspections' 201.
        """
        for item in stored:
            config = lines[item.line_id].verification
            if item.code is None or config is None or not config.auto_hold or item.code not in config.codes:
                continue
            try:
                hold = auto_hold(self._db, self._lines, item.line_id, item.code, item.id)
            except Exception:
                self._metrics.holds.labels(item.line_id, "failed").inc()
                log.exception(
                    "challenge part %s (inspection %s) on %s: the automatic hold could not be placed; "
                    "place it by hand (POST /v1/holds from the verification's suspect_since)",
                    item.code, item.id, item.line_id,
                )  # fmt: skip
                continue
            if hold is not None:
                self._metrics.holds.labels(hold.line_id, hold.cause).inc()
                log.warning(
                    "challenge part %s missed on %s: hold %d placed on %d unit(s) made since %s",
                    item.code, item.line_id, hold.id, hold.units, hold.since.isoformat(),
                )  # fmt: skip

    def _ensure_stations(self, session: Any, pairs: list[tuple[str, str]]) -> None:
        with self._stations_lock:
            unknown = {pair for pair in pairs if pair not in self._stations}
        if unknown:
            line_repo.ensure_stations(session, unknown)

    def _count(self, items: Sequence[InspectionIn], inserted: set[str]) -> None:
        with self._stations_lock:
            self._stations.update((item.line_id, item.station) for item in items)
        for item in items:
            outcome = "created" if item.id in inserted else "duplicate"
            self._metrics.inspections.labels(item.line_id, outcome).inc()
            if outcome == "created":
                for defect in item.defects:
                    self._metrics.defects.labels(item.line_id, defect.class_name).inc()

    @staticmethod
    def _row(
        item: InspectionIn, digest: str, key: KeyInfo, now: Any, expired: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        expired = expired or {}
        return {
            "id": item.id,
            "code": item.code,
            "code_status": item.code_status.value,
            "line_id": item.line_id,
            "station": item.station,
            "captured_at": item.captured_at,
            "captured_tz": _tz_offset(item),
            "model_name": item.model_name,
            "model_version": item.model_version,
            "verdict": item.verdict.value,
            "reason": item.reason,
            "latency_ms": item.latency_ms,
            "frame_seq": item.frame_seq,
            "trigger_id": item.trigger_id,
            "encoder_count": item.encoder_count,
            "product": item.product,
            "audit_sample": bool(item.audit_sample),
            "audit_borderline": bool(item.audit_borderline),
            "image_width": item.image_width,
            "image_height": item.image_height,
            "image_ref": item.image_ref,
            "image_expired_at": expired.get(item.image_ref) if item.image_ref else None,
            "roll_offset_m": item.roll_offset_m,
            "geometry": item.geometry,
            "defect_count": len(item.defects),
            "content_hash": digest,
            "created_at": now,
            "created_by": key.actor,
            "code_assigned_by": None,
            "code_assigned_at": None,
        }

    @staticmethod
    def _defect_row(
        item: InspectionIn, defect: DefectIn, kind: str, expired: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        expired = expired or {}
        x1, y1, x2, y2 = defect.bbox
        return {
            "inspection_id": item.id,
            "line_id": item.line_id,
            "captured_at": item.captured_at,
            "class_name": defect.class_name,
            "final_class": defect.class_name,
            "confidence": defect.confidence,
            "x1": x1,
            "y1": y1,
            "x2": x2,
            "y2": y2,
            "location": defect.location,
            "crop_ref": defect.crop_ref,
            "heatmap_ref": defect.heatmap_ref,
            "crop_expired_at": expired.get(defect.crop_ref) if defect.crop_ref else None,
            "heatmap_expired_at": expired.get(defect.heatmap_ref) if defect.heatmap_ref else None,
            "review_state": "pending",
            "reviewed_at": None,
            **_defect_columns(defect, kind),
        }


def _refs(items: Iterable[InspectionIn]) -> list[str]:
    """Every image ref ``items`` hold: frames, crops and heat maps."""
    refs: list[str] = []
    for item in items:
        refs += [item.image_ref] if item.image_ref else []
        refs += [ref for d in item.defects for ref in (d.crop_ref, d.heatmap_ref) if ref]
    return refs
