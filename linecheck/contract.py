"""The wire contract: what the inspector (or any other client) sends to the API, field by field.

One pydantic model per payload (``extra="forbid"``), one constant per limit, and the rules that
need no line config as model validators, so that the inspector refuses a result with the same
rule, field name and message the API would answer 422 with. Both sides build these models:
the inspector in ``InspectionResult.to_payload()``, the API when it parses a request body.

Rules that need a line's config (classes, code pattern, PV grid, location kind) stay in the API's
ingest service; so does the box-inside-the-image check (:func:`bbox_problem`), which the service
reports item by item together with those, and which the inspector applies too.

What no field accepts anywhere, whatever the database (each store fails on some of these, and a
stored one would break later reads): a non-finite number (``NaN``, ``Infinity``, ``1e400``); a
time outside years 2 to 9998 in UTC, or whose offset is beyond +-14:00 or not whole minutes; and
in text (free-form details included, keys and values at any depth) NUL, other control characters
but tab and line breaks, and lone surrogates. The annotated types below (:data:`Timestamp`,
:data:`Metres`, :data:`SafeText` and its bounded kinds) and :func:`json_problems` are those rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from linecheck.errors import InvalidFieldError
from linecheck.messages import CodeStatus, Verdict

#: Client-generated inspection id, the idempotency key (``uuid4().hex`` on the inspector).
ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
#: A station (camera) name.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
#: Any traceability code; each line narrows it further with its own pattern.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$"
#: An image reference: the SHA-256 of the image's bytes, 64 lowercase hex (so never a path).
REF_PATTERN = r"^[0-9a-f]{64}$"
#: Largest integer the stores hold (SQLite INTEGER / PostgreSQL BIGINT); larger ones are refused.
INT64_MAX = 2**63 - 1
LINE_ID_MAX_CHARS = 64
MODEL_NAME_MAX_CHARS = 64
MODEL_VERSION_MAX_CHARS = 32
#: Longest trigger id: a PLC's measurement / job id (OPC 40100 ``MeasId``) or ``<station>:<seq>``.
TRIGGER_ID_MAX_CHARS = 128
CLASS_NAME_MAX_CHARS = 64
#: Longest ``reason`` of an inspection; the inspector shortens its notes to fit.
REASON_MAX_CHARS = 2000
#: Longest reviewer comment.
COMMENT_MAX_CHARS = 2000
#: Longest free-text location of a process event.
EVENT_LOCATION_MAX_CHARS = 200
#: Largest image width or height, in pixels.
IMAGE_SIDE_MAX_PX = 100_000
#: Most defects one inspection may carry.
DEFECTS_MAX = 1000
#: Largest length or position in metres (a 1000 km roll does not exist; 1e308 overflowed the store).
METRES_MAX = 1_000_000.0
#: Longest inference latency an inspection may report (a call is bounded by its timeout anyway).
LATENCY_MAX_MS = 3_600_000.0
#: Largest UTC offset of a timestamp (GS1 EPCIS and ISO 8601 practice: -14:00 to +14:00).
UTC_OFFSET_MAX = timedelta(hours=14)
#: Times accepted: the calendar less a year at each end, so that no period a service works out
#: (a default window, a shift boundary, a local time) can step outside what Python and the stores hold.
TIMESTAMP_MIN = datetime(2, 1, 1, tzinfo=UTC)
TIMESTAMP_MAX = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
#: Free-form JSON (process event ``detail``, defect ``location``): nesting, entries, key and text sizes.
JSON_MAX_DEPTH = 8
JSON_MAX_ENTRIES = 500
JSON_KEY_MAX_CHARS = 64
JSON_TEXT_MAX_CHARS = 2000
#: Characters no text field accepts: C0 controls but tab, LF and CR; DEL; C1 controls; lone surrogates.
_REFUSED_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable text (a control character, and where), or None."""
    found = _REFUSED_CHARS.search(value)
    if found is None:
        return None
    return (
        f"control character U+{ord(found.group()):04X} at position {found.start()}: "
        "text may hold printable characters, tabs and line breaks only"
    )


def clean_text(value: str) -> str:
    """``value`` with every refused character replaced by U+FFFD (for text a program composes)."""
    return _REFUSED_CHARS.sub("\ufffd", value)


def _checked_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise PydanticCustomError("text_control_character", "{problem}", {"problem": problem})
    return value


#: Text without control characters (any length; the kinds below bound it, length checked first).
SafeText = Annotated[str, AfterValidator(_checked_text)]
_Clean = AfterValidator(_checked_text)
ClassName = Annotated[str, StringConstraints(min_length=1, max_length=CLASS_NAME_MAX_CHARS), _Clean]
LineId = Annotated[str, StringConstraints(min_length=1, max_length=LINE_ID_MAX_CHARS), _Clean]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=MODEL_NAME_MAX_CHARS), _Clean]
ModelVersion = Annotated[str, StringConstraints(min_length=1, max_length=MODEL_VERSION_MAX_CHARS), _Clean]
Reason = Annotated[str, StringConstraints(max_length=REASON_MAX_CHARS), _Clean]
Comment = Annotated[str, StringConstraints(max_length=COMMENT_MAX_CHARS), _Clean]
EventLocation = Annotated[str, StringConstraints(max_length=EVENT_LOCATION_MAX_CHARS), _Clean]
TriggerId = Annotated[str, StringConstraints(min_length=1, max_length=TRIGGER_ID_MAX_CHARS), _Clean]
#: A product (recipe) a line makes, as its YAML's ``products:`` names it (``6204-2RS``, ``PV-6x10``).
ProductId = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
#: A line encoder's count at a trigger: any 64-bit integer (a PLC's signed counter wraps below zero).
EncoderCount = Annotated[int, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]


def timestamp_problem(value: datetime) -> str | None:
    """Why an aware ``value`` cannot be stored, computed with and exported, or None."""
    offset = value.utcoffset()
    if offset is None:
        return "expected a timezone offset"
    if offset.microseconds or offset.seconds % 60:
        return f"UTC offset {offset} is not a whole number of minutes"
    if abs(offset) > UTC_OFFSET_MAX:
        return "UTC offset beyond -14:00 to +14:00"
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not TIMESTAMP_MIN <= utc <= TIMESTAMP_MAX:
        return f"expected a time from {TIMESTAMP_MIN:%Y-%m-%d} to {TIMESTAMP_MAX:%Y-%m-%d} in UTC"
    return None


def _checked_timestamp(value: datetime) -> datetime:
    problem = timestamp_problem(value)
    if problem is not None:
        raise PydanticCustomError("timestamp_range", "{problem}", {"problem": problem})
    return value


#: An ISO 8601 time with an offset within +-14:00, from :data:`TIMESTAMP_MIN` to :data:`TIMESTAMP_MAX`.
Timestamp = Annotated[AwareDatetime, AfterValidator(_checked_timestamp)]
#: A length or position in metres.
Metres = Annotated[float, Field(ge=0, le=METRES_MAX, allow_inf_nan=False)]
#: A finite number (a coordinate in frame pixels; whether it lies in the frame is checked with the frame).
Finite = Annotated[float, Field(allow_inf_nan=False)]

Loc = tuple[str | int, ...]


def json_problems(value: Any, loc: Loc = ()) -> list[tuple[Loc, Any, str]]:
    """Problems of free-form JSON ``value`` as ``(location, value, message)``, at most one per entry.

    Numbers must be finite (integers within 64 bits), text and keys free of control characters,
    keys at most :data:`JSON_KEY_MAX_CHARS` and text :data:`JSON_TEXT_MAX_CHARS` characters, nesting
    at most :data:`JSON_MAX_DEPTH` deep and :data:`JSON_MAX_ENTRIES` entries in all. A bad key is
    reported at the object holding it (its text is not a usable field name).
    """
    problems: list[tuple[Loc, Any, str]] = []
    entries = 0

    def walk(node: Any, where: Loc, depth: int) -> None:
        nonlocal entries
        entries += 1
        if entries > JSON_MAX_ENTRIES:
            if entries == JSON_MAX_ENTRIES + 1:
                problems.append((loc, None, f"more than {JSON_MAX_ENTRIES} values in all"))
            return
        if isinstance(node, bool) or node is None:
            return
        if isinstance(node, int):
            if not -INT64_MAX - 1 <= node <= INT64_MAX:
                problems.append((where, node, "integer beyond 64 bits"))
        elif isinstance(node, float):
            if not math.isfinite(node):
                problems.append((where, node, "not a finite number"))
        elif isinstance(node, str):
            if len(node) > JSON_TEXT_MAX_CHARS:
                problems.append((where, node, f"text longer than {JSON_TEXT_MAX_CHARS} characters"))
            elif (problem := text_problem(node)) is not None:
                problems.append((where, node, problem))
        elif depth >= JSON_MAX_DEPTH:
            problems.append((where, None, f"nested deeper than {JSON_MAX_DEPTH} levels"))
        elif isinstance(node, Mapping):
            for key, item in node.items():
                if not isinstance(key, str):
                    problems.append((where, key, "keys must be text"))
                elif len(key) > JSON_KEY_MAX_CHARS:
                    problems.append((where, key, f"key longer than {JSON_KEY_MAX_CHARS} characters"))
                elif (problem := text_problem(key)) is not None:
                    problems.append((where, key, f"key {key!r}: {problem}"))
                else:
                    walk(item, (*where, key), depth + 1)
        elif isinstance(node, list | tuple):
            for i, item in enumerate(node):
                walk(item, (*where, i), depth + 1)
        else:
            problems.append((where, type(node).__name__, "not a JSON value"))

    walk(value, loc, 0)
    return problems


Relation = Literal["contains", "made_from", "packed_in"]
EventType = Literal["received", "processed", "assembled", "reworked", "packed", "shipped"]
Decision = Literal["confirm", "reject", "reclassify"]

_P = TypeVar("_P", bound=BaseModel)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


def _refuse(model: type[BaseModel], problems: Sequence[tuple[str | Loc, Any, str]]) -> None:
    """Raise one ``ValidationError`` locating each ``(field, value, message)`` at its field.

    A plain ``ValueError`` from a model validator has no location; this one names the field, so
    the API's 422 body and the inspector's error both say ``code`` (or ``defects``...). ``field``
    is a name or a location tuple (``("detail", "a", 0)``).
    """
    if problems:
        raise ValidationError.from_exception_data(
            model.__name__,
            [
                InitErrorDetails(
                    type=PydanticCustomError("invariant", "{reason}", {"reason": reason}),
                    loc=(field,) if isinstance(field, str) else field,
                    input=value,
                )
                for field, value, reason in problems
            ],
        )


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


class DefectPayload(_Payload):
    """One detection of an inspection."""

    class_name: ClassName
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    bbox: tuple[Finite, Finite, Finite, Finite] = Field(description="x1, y1, x2, y2 in image pixels")
    location: dict[str, Any] | None = Field(
        None, description="textile {along_m, across_m, length_m, width_m} | pv {row, col} | bearing {zone}"
    )
    crop_ref: str | None = Field(None, pattern=REF_PATTERN)
    heatmap_ref: str | None = Field(
        None,
        pattern=REF_PATTERN,
        description="anomaly defects: JPEG heat map of the region over the crop (the crop's box); "
        "null for detector and classifier defects",
    )

    @field_validator("location")
    @classmethod
    def _canonical_location(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Sort keys so that the same location always serialises (and hashes) the same way."""
        return _sorted(value) if value is not None else None

    @model_validator(mode="after")
    def _location_is_plain_json(self) -> Self:
        """Finite numbers and clean text at any depth of the location (the kind checks its fields)."""
        if self.location is not None:
            _refuse(type(self), json_problems(self.location, ("location",)))
        return self

    @model_serializer(mode="wrap")
    def _heatmap_ref_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave a null ``heatmap_ref`` out: a defect without one serialises (and hashes) as before."""
        data: dict[str, Any] = handler(self)
        if "heatmap_ref" in data and data["heatmap_ref"] is None:
            del data["heatmap_ref"]
        return data


#: Inspection fields added after the first contract; a null one is left out of the payload and its hash.
_OMITTED_WHEN_NULL = (
    "trigger_id",
    "encoder_count",
    "geometry",
    "product",
    "audit_sample",
    "audit_borderline",
)


class TriggerPayload(_Payload):
    """What a trigger names a unit by, checked where it enters (OPC UA StartSingleJob, ``POST /trigger``)."""

    trigger_id: TriggerId | None = None
    encoder_count: EncoderCount | None = None


class InspectionPayload(_Payload):
    """One inspected frame (``POST /v1/inspections``); field order is the content hash's order."""

    id: str = Field(pattern=ID_PATTERN, description="client-generated, the idempotency key")
    line_id: LineId
    station: str = Field(pattern=NAME_PATTERN)
    code: str | None = Field(None, pattern=CODE_PATTERN, description="null exactly when code_unread")
    code_status: CodeStatus
    captured_at: Timestamp
    model_name: ModelName | None = None
    model_version: ModelVersion | None = None
    verdict: Verdict
    reason: Reason | None = None
    latency_ms: float | None = Field(None, ge=0, le=LATENCY_MAX_MS, allow_inf_nan=False)
    frame_seq: int | None = Field(None, ge=0, le=INT64_MAX)
    trigger_id: TriggerId | None = Field(
        None,
        description="the trigger the unit came with: the PLC's measurement / job id (OPC UA StartSingleJob "
        "MeasId, POST /trigger trigger_id), or <station>:<frame_seq> for a free-running camera's frame",
    )
    encoder_count: EncoderCount | None = Field(
        None,
        description="the line encoder's count at the trigger (PLC shift-register position); null: none given",
    )
    product: ProductId | None = Field(
        None,
        description="the product (recipe) the unit was judged as, one of its line's products: its thresholds "
        "and geometry applied; null: the line's own (a line with no products:)",
    )
    audit_sample: Literal[True] | None = Field(
        None,
        description="true: a passed unit's frame kept for a person to audit (the line's audit.pass_sample, "
        "linecheck.audit); its image_ref is the frame; null: not in the sample",
    )
    audit_borderline: Literal[True] | None = Field(
        None,
        description="true: a passed frame kept for audit as a near miss (a detection came within the line's "
        "audit.borderline of its threshold); audited like a sample, never in the escape rate",
    )
    image_width: int = Field(gt=0, le=IMAGE_SIDE_MAX_PX)
    image_height: int = Field(gt=0, le=IMAGE_SIDE_MAX_PX)
    image_ref: str | None = Field(None, pattern=REF_PATTERN)
    roll_offset_m: Metres | None = None
    geometry: dict[str, Any] | None = Field(
        None,
        description="lines with geometry_mode auto: the product's geometry found in this frame, as "
        "the line's kind writes it (pv {x0, y0, cell_w, cell_h, rows, cols, gap, angle_deg} | "
        "bearing {cx, cy, r_outer, r_split, r_inner}, pixels); null when the line YAML's was used",
    )
    defects: list[DefectPayload] = Field(default_factory=list, max_length=DEFECTS_MAX)

    @field_validator("geometry")
    @classmethod
    def _canonical_geometry(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Sort keys so that the same geometry always serialises (and hashes) the same way."""
        return _sorted(value) if value is not None else None

    @model_serializer(mode="wrap")
    def _optional_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave out the fields added later (:data:`_OMITTED_WHEN_NULL`) when they are null.

        An inspection without them serialises (and hashes) as before they existed.
        """
        data: dict[str, Any] = handler(self)
        for name in _OMITTED_WHEN_NULL:
            if name in data and data[name] is None:
                del data[name]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Code null exactly when unread; a model answered unless not inspected, then no defects.

        A geometry is plain JSON (finite numbers, clean text); the line's kind checks its fields.
        """
        problems: list[tuple[str | Loc, Any, str]] = []
        if self.code_status is CodeStatus.UNREAD:
            if self.code is not None:
                problems.append(("code", self.code, "must be null when code_status is code_unread"))
        elif self.code is None:
            problems.append(("code", None, f"required when code_status is {self.code_status}"))
        if self.verdict is Verdict.NOT_INSPECTED:
            if self.defects:
                problems.append(("defects", len(self.defects), "must be empty when verdict is not_inspected"))
        else:
            for name in ("model_name", "model_version"):
                if getattr(self, name) is None:
                    problems.append((name, None, f"required when verdict is {self.verdict}"))
        if self.geometry is not None:
            problems.extend(json_problems(self.geometry, ("geometry",)))
        for name in ("audit_sample", "audit_borderline"):
            if getattr(self, name) and (self.verdict is not Verdict.PASS or self.code is None):
                problems.append((name, True, "only a passed unit with a code is kept for audit"))
        _refuse(type(self), problems)
        return self


class InspectionBatchPayload(_Payload):
    """Several inspections in one request (all stored, or none)."""

    inspections: list[InspectionPayload] = Field(min_length=1)


def _body_kind(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "inspections" in value else "single"


#: A ``POST /v1/inspections`` body: one inspection or ``{"inspections": [...]}``.
IngestBody = Annotated[
    Annotated[InspectionPayload, Tag("single")] | Annotated[InspectionBatchPayload, Tag("batch")],
    Discriminator(_body_kind),
]
INGEST_ADAPTER: TypeAdapter[InspectionPayload | InspectionBatchPayload] = TypeAdapter(IngestBody)


def bbox_problem(bbox: Sequence[float], width: int, height: int) -> str | None:
    """Why ``bbox`` is not a box inside a ``width`` x ``height`` image, or None when it is."""
    x1, y1, x2, y2 = bbox
    if all(math.isfinite(v) for v in bbox) and 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height:
        return None
    return f"expected 0 <= x1 < x2 <= {width} and 0 <= y1 < y2 <= {height}"


class ReviewPayload(_Payload):
    """A reviewer's decision on a defect."""

    decision: Decision
    new_class: ClassName | None = Field(None, description="required for reclassify")
    comment: Comment | None = None

    @model_validator(mode="after")
    def _new_class_with_reclassify(self) -> Self:
        """``new_class`` exactly when the decision is reclassify."""
        if self.decision == "reclassify" and self.new_class is None:
            _refuse(type(self), [("new_class", None, "required when decision is reclassify")])
        if self.decision != "reclassify" and self.new_class is not None:
            reason = f"only allowed with reclassify, not {self.decision}"
            _refuse(type(self), [("new_class", self.new_class, reason)])
        return self


class GenealogyPayload(_Payload):
    """``parent`` contains / is made from / packs ``child`` (parent is the later, larger thing)."""

    parent: str = Field(pattern=CODE_PATTERN)
    child: str = Field(pattern=CODE_PATTERN)
    relation: Relation
    at: Timestamp | None = Field(None, description="when it happened; default: now")

    @model_validator(mode="after")
    def _not_its_own_parent(self) -> Self:
        """A code cannot contain itself."""
        if self.parent == self.child:
            _refuse(type(self), [("child", self.child, "a code cannot be its own parent")])
        return self


class ProcessEventPayload(_Payload):
    """A business step for a code."""

    type: EventType
    at: Timestamp
    line_id: LineId | None = None
    location: EventLocation | None = None
    detail: dict[str, Any] | None = Field(
        None, description="free-form JSON: finite numbers, text without control characters"
    )

    @model_validator(mode="after")
    def _detail_is_plain_json(self) -> Self:
        """Finite numbers and clean text at any depth (each database refuses or mangles the rest)."""
        if self.detail is not None:
            _refuse(type(self), json_problems(self.detail, ("detail",)))
        return self


class CodeAssignPayload(_Payload):
    """A code typed in by hand for a frame whose code could not be read."""

    code: str = Field(pattern=CODE_PATTERN)


def field_path(loc: Sequence[str | int]) -> str:
    """``("inspections", 1, "defects", 0, "bbox")`` -> ``inspections[1].defects[0].bbox``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def field_errors(exc: ValidationError, *, skip: int = 0, prefix: str = "") -> list[InvalidFieldError]:
    """One error per pydantic error, naming its field (``skip`` leading loc parts, e.g. a union tag)."""
    errors: list[InvalidFieldError] = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])[skip:]
        value = None if err["type"] == "missing" else err.get("input")
        message = err["msg"]
        if err["type"] == "missing" and loc and isinstance(loc[-1], int):
            # a too-short list/tuple: name the sequence itself, with what arrived
            message = f"too short: item {loc[-1]} is missing"
            loc, value = loc[:-1], err.get("input")
        path = field_path(loc)
        if prefix:
            path = f"{prefix}.{path}" if path != "body" else prefix
        errors.append(InvalidFieldError(path, value, message))
    return errors


def build(model: type[_P], data: Mapping[str, Any]) -> _P:
    """``data`` as a contract ``model``; raises the first :class:`InvalidFieldError` the API would name."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        first = errors[0]
        more = f" (and {len(errors) - 1} more invalid fields)" if len(errors) > 1 else ""
        raise InvalidFieldError(first.field, first.value, first.reason + more) from None
