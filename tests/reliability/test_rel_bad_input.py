"""Bad input: property tests on every request model, oversized bodies and images, path traversal."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from rel_helpers import auth, inspection, noise_png, stored_inspections

from linecheck.errors import InvalidFieldError, PayloadTooLargeError
from linecheck.kinds.bearing import BearingLocation
from linecheck.kinds.pv import PVLocation
from linecheck.kinds.textile import TextileLocation
from linecheck.serving.api import schemas
from linecheck.serving.api.services.ingest import parse_ingest_body

#: Standard JSON (no NaN / Infinity, which strict JSON cannot carry).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

#: Every request model of the API with one valid body.
VALID: dict[type[BaseModel], dict[str, Any]] = {
    schemas.InspectionIn: inspection("pv-01", 1),
    schemas.DefectIn: inspection("pv-01", 1)["defects"][0],
    schemas.InspectionBatchIn: {"inspections": [inspection("bearing-01", 2)]},
    TextileLocation: {"along_m": 1.0, "across_m": 0.5},
    PVLocation: {"row": 1, "col": 2},
    BearingLocation: {"zone": "bore"},
    schemas.ReviewIn: {"decision": "reclassify", "new_class": "hole", "comment": "x"},
    schemas.GenealogyIn: {"parent": "PAL0001", "child": "BR0000000001", "relation": "packed_in"},
    schemas.ProcessEventIn: {"type": "shipped", "at": "2026-11-23T10:00:00Z"},
    schemas.CodeAssignIn: {"code": "BR0000000001"},
}
MODELS = list(VALID)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field_value=st.data())
def test_one_bad_field_is_named_and_nothing_else_breaks(model: type[BaseModel], field_value) -> None:
    """Replacing one field of a valid body by any JSON value: valid, or an error naming that field."""
    body = dict(VALID[model])
    field = field_value.draw(st.sampled_from(sorted(model.model_fields)))
    value = field_value.draw(json_values)
    body[field] = value
    try:
        parsed = model.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        assert {err["loc"][0] for err in exc.errors()} == {field}, exc.errors()
        return
    # accepted: it survives a round trip unchanged
    assert model.model_validate_json(parsed.model_dump_json()) == parsed


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@settings(max_examples=40, deadline=None)
@given(extra=st.text(min_size=1, max_size=10), value=json_values)
def test_unknown_fields_are_refused_by_name(model: type[BaseModel], extra: str, value: Any) -> None:
    if extra in model.model_fields:
        return
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**VALID[model], extra: value})
    assert [e["loc"] for e in caught.value.errors()] == [(extra,)]


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_ingest_parser_only_raises_field_errors(body: bytes) -> None:
    try:
        parse_ingest_body(body, max_batch=5)
    except (InvalidFieldError, PayloadTooLargeError) as exc:
        assert str(exc)


LIMITS = {"max_body_bytes": 20_000, "max_image_bytes": 30_000}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_inspection_body_is_413_and_stores_nothing(api_server, keys, chunked) -> None:
    batch = {"inspections": [inspection("textile-01", i, defects=3) for i in range(40)]}
    data = json.dumps(batch).encode()
    assert len(data) > LIMITS["max_body_bytes"]
    content: Any = iter([data[i : i + 4096] for i in range(0, len(data), 4096)]) if chunked else data
    with api_server(**LIMITS) as base:
        answer = httpx.post(
            f"{base}/v1/inspections",
            content=content,
            headers={**auth(keys["textile"]), "Content-Type": "application/json"},
            timeout=30,
        )
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["type"] == "payload_too_large"
        assert stored_inspections(base, keys["viewer"]) == []
        small = {"inspections": batch["inspections"][:2]}
        answer = httpx.post(f"{base}/v1/inspections", json=small, headers=auth(keys["textile"]), timeout=30)
        assert answer.status_code == 200


@pytest.mark.parametrize(("side", "status"), [(64, 201), (160, 413)])
def test_image_size_limit(api_server, keys, side, status) -> None:
    png = noise_png(3, side)
    with api_server(**LIMITS) as base:
        answer = httpx.post(
            f"{base}/v1/images",
            content=png,
            headers={**auth(keys["textile"]), "Content-Type": "image/png"},
            timeout=30,
        )
        assert answer.status_code == status, (len(png), answer.text)


TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fsecret.txt",
    "..%252f..%252fsecret.txt",
    "%2Fetc%2Fpasswd",
    "....//....//secret.txt",
    "..\\..\\secret.txt",
    "ab/../../secret.txt",
    "A" * 64,
    "0" * 63 + "/",
    "0" * 64 + "%00.png",
]


def test_path_traversal_in_image_refs_is_rejected(api_server, keys, tmp_path) -> None:
    secret = tmp_path / "api" / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("top secret")
    with (
        api_server() as base,
        httpx.Client(base_url=base, headers=auth(keys["viewer"]), timeout=30, follow_redirects=True) as http,
    ):
        for ref in TRAVERSALS:
            answer = http.get(f"/v1/images/{ref}")
            assert answer.status_code in (404, 422), (ref, answer.status_code)
            assert b"top secret" not in answer.content and b"root:" not in answer.content
        for field in ("image_ref", "crop_ref"):
            for ref in ("../../secret.txt", "/etc/passwd", "0" * 62 + "/.."):
                body = inspection("textile-01", 9)
                if field == "image_ref":
                    body["image_ref"] = ref
                else:
                    body["defects"][0]["crop_ref"] = ref
                answer = httpx.post(f"{base}/v1/inspections", json=body, headers=auth(keys["textile"]))
                assert answer.status_code == 422, answer.text
                assert answer.json()["error"]["field"].endswith(field)
        assert stored_inspections(base, keys["viewer"]) == []


BEYOND_INT64 = 2**63


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", f"/v1/inspections?offset={BEYOND_INT64}", None, "offset"),
        ("GET", f"/v1/review/queue?offset={BEYOND_INT64}", None, "offset"),
        ("GET", f"/v1/defects/{BEYOND_INT64}", None, "defect_id"),
        ("POST", f"/v1/defects/{BEYOND_INT64}/review", {"decision": "confirm"}, "defect_id"),
        ("POST", "/v1/inspections", {**inspection("textile-01", 1), "frame_seq": BEYOND_INT64}, "frame_seq"),
    ],
    ids=["inspections-offset", "queue-offset", "defect-id", "review-defect-id", "frame-seq"],
)
def test_integers_past_int64_are_422_not_500(api_server, keys, method, path, body, field) -> None:
    """Found by schemathesis in the soak: an offset past int64 crashed SQLite with a 500."""
    who = "textile" if path == "/v1/inspections" else "reviewer"
    with api_server() as base:
        answer = httpx.request(method, base + path, json=body, headers=auth(keys[who]), timeout=30)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == field
        at_limit = path.replace(str(BEYOND_INT64), str(BEYOND_INT64 - 1))
        if method == "GET":  # the largest accepted value is answered normally
            assert httpx.get(base + at_limit, headers=auth(keys[who]), timeout=30).status_code in (200, 404)
