"""One wire contract: the inspector's payload is what the API parses, with the same rules on both sides."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from linecheck.config import load_lines
from linecheck.contract import (
    INT64_MAX,
    MODEL_VERSION_MAX_CHARS,
    REASON_MAX_CHARS,
    TRIGGER_ID_MAX_CHARS,
    DefectPayload,
    InspectionPayload,
    bbox_problem,
)
from linecheck.errors import InvalidFieldError
from linecheck.inspect.messages import DefectRecord, InspectionResult
from linecheck.inspect.verdict import shorten
from linecheck.messages import CodeStatus, Verdict
from linecheck.serving.api.errors import InvalidFieldsError
from linecheck.serving.api.services.ingest import _check_item, content_hash, parse_ingest_body

CAPTURED = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)


def defect(**changes: Any) -> DefectRecord:
    fields: dict[str, Any] = dict(
        class_name="stain",
        confidence=0.912345,
        bbox=(10.04, 20.0, 50.0, 60.06),
        location={"along_m": 6.12, "across_m": 0.33, "length_m": 0.02, "width_m": 0.01},
        crop_ref="b" * 64,
        heatmap_ref="d" * 64,
    )
    return DefectRecord(**{**fields, **changes})


def result_fields(**changes: Any) -> dict[str, Any]:
    """Every field of a textile inspection set (nothing left to its default).

    The geometry is a ring's: plain JSON to the contract; the API's textile line refuses it.
    """
    fields: dict[str, Any] = dict(
        id="0123456789abcdef",
        line_id="textile-01",
        station="cam1",
        code="RL0000000042",
        code_status=CodeStatus.TRIGGER,
        captured_at=CAPTURED,
        model_name="textile",
        model_version="2",
        verdict=Verdict.FAIL,
        reason="stain at 6.12 m",
        latency_ms=12.345,
        frame_seq=12,
        trigger_id="M-1001",
        encoder_count=52311,
        image_width=640,
        image_height=480,
        image_ref="a" * 64,
        roll_offset_m=6.00004,
        geometry={"cy": 320.5, "cx": 240.0, "r_outer": 200.0, "r_split": 128.0, "r_inner": 56.0},
        defects=(defect(), defect(class_name="hole", location={"along_m": 7.0}, crop_ref="c" * 64)),
    )
    return {**fields, **changes}


def _wire(value: Any) -> Any:
    """An ``InspectionResult`` field value as it travels in JSON."""
    if isinstance(value, CodeStatus | Verdict):
        return value.value
    if isinstance(value, tuple) and value and isinstance(value[0], DefectRecord):
        return [d.to_payload() for d in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return value


def _api_error(body: dict[str, Any]) -> InvalidFieldError:
    with pytest.raises(InvalidFieldsError) as caught:
        parse_ingest_body(json.dumps(body).encode(), max_batch=5)
    return caught.value.errors[0]


#: Fields only a passed frame carries (kept for audit), checked on a passed result of their own below.
PASS_ONLY = ("audit_sample", "audit_borderline")


def test_every_field_survives_inspector_to_api() -> None:
    result = InspectionResult(**{**result_fields(), "product": "M10-120H"})
    payload = result.to_payload()
    assert list(payload) == [f for f in InspectionPayload.model_fields if f not in PASS_ONLY]
    assert all(value is not None for value in payload.values()), payload
    assert all(value is not None for d in payload["defects"] for value in d.values())
    assert type(payload["code_status"]) is str and type(payload["verdict"]) is str

    [item] = parse_ingest_body(json.dumps(payload).encode(), max_batch=1).items
    expected = {
        "id": result.id,
        "line_id": result.line_id,
        "station": result.station,
        "code": result.code,
        "code_status": CodeStatus.TRIGGER,
        "captured_at": CAPTURED.replace(microsecond=123000),  # sent to the millisecond
        "model_name": result.model_name,
        "model_version": result.model_version,
        "verdict": Verdict.FAIL,
        "reason": result.reason,
        "latency_ms": 12.35,
        "frame_seq": result.frame_seq,
        "trigger_id": "M-1001",
        "encoder_count": 52311,
        "product": "M10-120H",
        "image_width": result.image_width,
        "image_height": result.image_height,
        "image_ref": result.image_ref,
        "roll_offset_m": 6.0,
        "geometry": dict(sorted(result.geometry.items())) if result.geometry else None,
    }
    for name in InspectionPayload.model_fields:
        if name != "defects" and name not in PASS_ONLY:
            assert getattr(item, name) == expected[name], name
    assert item.code_status is CodeStatus.TRIGGER and item.verdict is Verdict.FAIL
    assert len(item.defects) == len(result.defects)
    for got, sent in zip(item.defects, result.defects, strict=True):
        wanted = {
            "class_name": sent.class_name,
            "confidence": round(sent.confidence, 4),
            "bbox": tuple(round(v, 1) for v in sent.bbox),
            "location": dict(sorted(sent.location.items())),
            "crop_ref": sent.crop_ref,
            "heatmap_ref": sent.heatmap_ref,
        }
        for name in DefectPayload.model_fields:
            assert getattr(got, name) == wanted[name], name
    # the API's parse of the payload is the inspector's own contract model
    assert item == result.to_contract()
    batch = parse_ingest_body(json.dumps({"inspections": [payload]}).encode(), max_batch=1)
    assert batch.batch and batch.items == [item]


def test_a_passed_frame_kept_for_audit_says_why_through_to_the_api() -> None:
    fields = {**result_fields(), "verdict": Verdict.PASS, "defects": (), "reason": None}
    result = InspectionResult(**fields, audit_sample=True, audit_borderline=True)
    payload = result.to_payload()
    assert (payload["audit_sample"], payload["audit_borderline"]) == (True, True)
    [item] = parse_ingest_body(json.dumps(payload).encode(), max_batch=1).items
    assert (item.audit_sample, item.audit_borderline) == (True, True) and item == result.to_contract()
    plain = InspectionResult(**fields).to_payload()
    assert not set(PASS_ONLY) & set(plain)  # left out when not kept: older payloads hash as before


#: Content hashes of the API's stored rows from before the contract module: a retry of an old
#: inspection must still be recognised as a duplicate, not a conflict.
HASHES = {
    "fail": "8f9b6ce56d1a2377a48526c0615eaea497f56043cb6a3ff1637c9b037b320958",
    "unread": "5e999a7632a69274a14bb197e0cfa1595caa8f8abdb2f362a2c5d376290e9788",
}


def _stored_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "0123456789abcdef",
        "line_id": "textile-01",
        "station": "cam1",
        "code": "RL0000000042",
        "code_status": "trigger",
        "captured_at": "2026-11-23T10:00:00+00:00",
        "model_name": "textile",
        "model_version": "1",
        "verdict": "fail",
        "reason": "two stains",
        "latency_ms": 12.5,
        "frame_seq": 12,
        "image_width": 640,
        "image_height": 640,
        "image_ref": "a" * 64,
        "roll_offset_m": 6.0,
        "defects": [
            {
                "class_name": "stain",
                "confidence": 0.91,
                "bbox": [10, 20, 50, 60],
                "location": {"width_m": 0.01, "along_m": 6.12, "length_m": 0.02, "across_m": 0.33},
                "crop_ref": "b" * 64,
            }
        ],
    }
    if name == "unread":
        body.update(
            id="bearing_0001",
            line_id="bearing-01",
            station="face",
            code=None,
            code_status="code_unread",
            model_name=None,
            model_version=None,
            verdict="not_inspected",
            reason="inference timeout",
            frame_seq=None,
            image_ref=None,
            roll_offset_m=None,
            defects=[],
        )
    return body


@pytest.mark.parametrize("name", sorted(HASHES))
def test_content_hash_is_unchanged(name: str) -> None:
    [item] = parse_ingest_body(json.dumps(_stored_body(name)).encode(), max_batch=1).items
    assert content_hash(item) == HASHES[name]


def test_a_heatmap_ref_is_part_of_the_content_and_a_null_one_is_not_sent() -> None:
    body = _stored_body("fail")
    body["defects"][0]["heatmap_ref"] = None  # sent as null: the same inspection as left out
    [item] = parse_ingest_body(json.dumps(body).encode(), max_batch=1).items
    assert content_hash(item) == HASHES["fail"]
    assert "heatmap_ref" not in item.model_dump(mode="json")["defects"][0]
    body["defects"][0]["heatmap_ref"] = "d" * 64
    [with_map] = parse_ingest_body(json.dumps(body).encode(), max_batch=1).items
    assert content_hash(with_map) != HASHES["fail"]
    assert with_map.model_dump(mode="json")["defects"][0]["heatmap_ref"] == "d" * 64
    assert "heatmap_ref" not in defect(heatmap_ref=None).to_payload()


def test_a_found_geometry_is_part_of_the_content_and_a_null_one_is_not_sent() -> None:
    body = _stored_body("fail")
    body["geometry"] = None  # sent as null: the same inspection as left out
    [item] = parse_ingest_body(json.dumps(body).encode(), max_batch=1).items
    assert content_hash(item) == HASHES["fail"]
    assert "geometry" not in item.model_dump(mode="json")
    body["geometry"] = {"r_outer": 200.0, "cx": 320.0, "cy": 320.0, "r_split": 128.0, "r_inner": 56.0}
    [found] = parse_ingest_body(json.dumps(body).encode(), max_batch=1).items
    assert content_hash(found) != HASHES["fail"]
    assert list(found.model_dump(mode="json")["geometry"]) == ["cx", "cy", "r_inner", "r_outer", "r_split"]
    body["geometry"] = dict(reversed(list(body["geometry"].items())))  # key order does not matter
    [again] = parse_ingest_body(json.dumps(body).encode(), max_batch=1).items
    assert content_hash(again) == content_hash(found)
    assert "geometry" not in InspectionResult(**result_fields(geometry=None)).to_payload()


@pytest.mark.parametrize("name", ["trigger_id", "encoder_count"])
def test_a_trigger_is_part_of_the_content_and_a_null_one_is_not_sent(name: str) -> None:
    body = _stored_body("fail")
    body[name] = None  # sent as null: the same inspection as left out (and as stored before 0010)
    [item] = parse_ingest_body(json.dumps(body).encode(), max_batch=1).items
    assert content_hash(item) == HASHES["fail"]
    assert name not in item.model_dump(mode="json")
    body[name] = -5 if name == "encoder_count" else "plc:M-1001"  # a wrapped signed counter is kept
    [sent] = parse_ingest_body(json.dumps(body).encode(), max_batch=1).items
    assert content_hash(sent) != HASHES["fail"]
    assert sent.model_dump(mode="json")[name] == body[name]
    assert name not in InspectionResult(**result_fields(**{name: None})).to_payload()


#: One inspection-level rule broken per row, and the field both sides must name.
INSPECTION_VIOLATIONS = [
    ({"id": "short"}, "id"),
    ({"id": "../../etc/passwd"}, "id"),
    ({"line_id": ""}, "line_id"),
    ({"station": "cam 1"}, "station"),
    ({"code": None}, "code"),
    ({"code": "RL 42"}, "code"),
    ({"code_status": CodeStatus.UNREAD}, "code"),
    ({"model_name": None}, "model_name"),
    ({"model_version": None}, "model_version"),
    ({"model_version": "v" * (MODEL_VERSION_MAX_CHARS + 1)}, "model_version"),
    ({"verdict": Verdict.NOT_INSPECTED}, "defects"),
    ({"reason": "x" * (REASON_MAX_CHARS + 1)}, "reason"),
    ({"latency_ms": -1.0}, "latency_ms"),
    ({"frame_seq": -1}, "frame_seq"),
    ({"image_width": 0}, "image_width"),
    ({"image_height": 100_001}, "image_height"),
    ({"image_ref": "../x"}, "image_ref"),
    ({"roll_offset_m": -0.5}, "roll_offset_m"),
    ({"roll_offset_m": 1_000_000.5}, "roll_offset_m"),
    ({"latency_ms": 3_600_000.5}, "latency_ms"),
    ({"reason": "camera\x00said"}, "reason"),
    ({"model_name": "m\x1b[31m"}, "model_name"),
    ({"trigger_id": ""}, "trigger_id"),
    ({"trigger_id": "M" * (TRIGGER_ID_MAX_CHARS + 1)}, "trigger_id"),
    ({"trigger_id": "M-1\r\x00"}, "trigger_id"),
    ({"encoder_count": INT64_MAX + 1}, "encoder_count"),
    ({"encoder_count": -INT64_MAX - 2}, "encoder_count"),
    ({"geometry": {"cx": 2**70}}, "geometry.cx"),
    ({"geometry": {"cx": 1.0, "note": "\x07"}}, "geometry.note"),
    (
        {"captured_at": datetime(2026, 11, 23, 10, tzinfo=timezone(timedelta(hours=14, minutes=30)))},
        "captured_at",
    ),
]


@pytest.mark.parametrize(("changes", "field"), INSPECTION_VIOLATIONS, ids=lambda v: str(v)[:40])
def test_inspection_rule_is_the_same_on_both_sides(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFieldError) as inspector:
        InspectionResult(**result_fields(**changes))
    body = InspectionResult(**result_fields()).to_payload()
    body.update({name: _wire(value) for name, value in changes.items()})
    api = _api_error(body)
    assert inspector.value.field == api.field == field
    assert inspector.value.reason == api.reason
    assert inspector.value.value == api.value


#: One defect-level rule broken per row: the inspector names the defect's field, the API its path.
DEFECT_VIOLATIONS = [
    ({"class_name": ""}, "class_name"),
    ({"class_name": "x" * 65}, "class_name"),
    ({"confidence": 1.5}, "confidence"),
    ({"confidence": -0.1}, "confidence"),
    ({"crop_ref": "../x"}, "crop_ref"),
    ({"crop_ref": "A" * 64}, "crop_ref"),
    ({"heatmap_ref": "../x"}, "heatmap_ref"),
    ({"heatmap_ref": "e" * 63}, "heatmap_ref"),
    ({"class_name": "st\x00ain"}, "class_name"),
    ({"location": {"along_m": float("nan")}}, "location.along_m"),
    ({"location": {"along_m": 1.0, "note": {"deep": "\x07"}}}, "location.note.deep"),
]


@pytest.mark.parametrize(("changes", "field"), DEFECT_VIOLATIONS, ids=lambda v: str(v)[:40])
def test_defect_rule_is_the_same_on_both_sides(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidFieldError) as inspector:
        defect(**changes)
    body = InspectionResult(**result_fields()).to_payload()
    body["defects"][0].update(changes)
    api = _api_error(body)
    assert (inspector.value.field, api.field) == (field, f"defects[0].{field}")
    assert inspector.value.reason == api.reason


@pytest.mark.parametrize(
    "bbox", [(600.0, 20.0, 641.0, 60.0), (10.0, 20.0, 50.0, 481.0), (10.0, 20.0, 10.0, 60.0)]
)
def test_box_outside_the_image_is_refused_on_both_sides(bbox: tuple[float, float, float, float]) -> None:
    with pytest.raises(InvalidFieldError) as inspector:
        InspectionResult(**result_fields(defects=(defect(bbox=bbox),)))
    body = InspectionResult(**result_fields(geometry=None)).to_payload()
    body["defects"][0]["bbox"] = list(bbox)
    [item] = parse_ingest_body(json.dumps(body).encode(), max_batch=1).items
    errors: list[InvalidFieldError] = []
    _check_item(item, load_lines()["textile-01"], "", errors)
    assert [(e.field, e.reason) for e in errors] == [(inspector.value.field, inspector.value.reason)]
    assert inspector.value.field == "defects[0].bbox"
    assert inspector.value.reason == bbox_problem(bbox, 640, 480)


def test_pass_with_defects_is_refused_by_the_inspector_only() -> None:
    """The inspector's defects reached their threshold, so ``pass`` contradicts them; the API keeps
    what other clients send (e.g. a pass whose defects are below a grade) and does not refuse it."""
    fields = result_fields(verdict=Verdict.PASS)
    with pytest.raises(InvalidFieldError) as inspector:
        InspectionResult(**fields)
    assert inspector.value.field == "verdict"
    body = InspectionResult(**result_fields()).to_payload()
    body["verdict"] = "pass"
    assert parse_ingest_body(json.dumps(body).encode(), max_batch=1).items[0].verdict is Verdict.PASS


@pytest.mark.parametrize(
    ("where", "field"),
    [(None, "surprise"), ("defect", "defects[0].surprise"), ("batch", "surprise")],
)
def test_a_key_unknown_to_the_contract_is_refused(where: str | None, field: str) -> None:
    payload = InspectionResult(**result_fields()).to_payload()
    body: dict[str, Any] = payload
    if where == "defect":
        payload["defects"][0]["surprise"] = 1
    elif where == "batch":
        body = {"inspections": [payload], "surprise": 1}
    else:
        payload["surprise"] = 1
    error = _api_error(body)
    assert error.field == field and error.value == 1
    assert error.reason == "Extra inputs are not permitted"


def test_the_inspector_shortens_its_reason_to_the_contract_limit() -> None:
    reason = shorten("timeout; " * 1000)
    assert len(reason) == REASON_MAX_CHARS and reason.endswith("…")
    result = InspectionResult(**result_fields(verdict=Verdict.NOT_INSPECTED, defects=(), reason=reason))
    [item] = parse_ingest_body(json.dumps(result.to_payload()).encode(), max_batch=1).items
    assert item.reason == reason


def test_the_inspector_replaces_control_characters_in_its_notes() -> None:
    """A camera's or a server's error text may carry control characters the contract refuses."""
    reason = shorten("camera said \x00\x1b[31mtimeout\x7f")
    assert reason == "camera said \ufffd\ufffd[31mtimeout\ufffd"
    result = InspectionResult(**result_fields(verdict=Verdict.NOT_INSPECTED, defects=(), reason=reason))
    [item] = parse_ingest_body(json.dumps(result.to_payload()).encode(), max_batch=1).items
    assert item.reason == reason


def test_a_replaced_field_is_checked_again() -> None:
    result = InspectionResult(**result_fields())
    with pytest.raises(InvalidFieldError) as caught:
        replace(result, model_version=None)
    assert caught.value.field == "model_version"
