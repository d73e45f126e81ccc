"""Bad input: property tests on every request model and every JSON body of the real API (SQLite and
PostgreSQL), oversized bodies and images, path traversal."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from rel_epcis import strict_json
from rel_helpers import Served, auth, inspection, noise_png, stored_inspections

from linecheck.errors import InvalidFieldError, PayloadTooLargeError
from linecheck.kinds.bearing import BearingLocation
from linecheck.kinds.pv import PVLocation
from linecheck.kinds.textile import TextileLocation
from linecheck.serving.api import schemas
from linecheck.serving.api.errors import error_response, from_validation_error
from linecheck.serving.api.schemas import ROW_ID_MAX
from linecheck.serving.api.services.ingest import parse_ingest_body

#: Text clients send, control characters (NUL included) and all; lone surrogates are left out
#: (the JSON parser refuses them as a whole body, tested in test_rel_input_classes).
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20) | st.sampled_from(
    ["\x00", "a\x00b", "\x1b[31m", "\x07", "\x7f", "\x85", "tab\tand\nline"]
)
#: Everything a JSON parser hands over: NaN, Infinity and 1e400 (Python's and pydantic's parsers
#: take them), numbers that overflow the store (1e308), integers past 64 bits, control characters.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**30])
    | st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324])
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
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
    schemas.BulkReviewIn: {"decision": "confirm", "defect_ids": [1, 2], "comment": "x"},
    schemas.UndoIn: {"comment": "x"},
    schemas.AddDefectIn: {"class_name": "hole", "bbox": [1, 2, 30, 40], "comment": "x"},
    schemas.MergeIn: {"defect_ids": [1, 2], "class_name": "hole", "comment": "x"},
    schemas.GoldenIn: {"inspection_id": "a" * 32, "station": "cam1", "note": "x"},
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
        # and the 422 the API would answer is strict JSON holding only a short excerpt
        response = error_response(from_validation_error(exc))
        strict_json(response.body)
        assert len(response.body) < 2048 * len(exc.errors())
        return
    # accepted: it survives a round trip unchanged, as strict JSON
    dumped = parsed.model_dump_json()
    strict_json(dumped)
    assert model.model_validate_json(dumped) == parsed


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
        largest = ROW_ID_MAX if "/defects/" in path else BEYOND_INT64 - 1  # row ids are PostgreSQL INTEGER
        at_limit = path.replace(str(BEYOND_INT64), str(largest))
        if method == "GET":  # the largest accepted value is answered normally
            assert httpx.get(base + at_limit, headers=auth(keys[who]), timeout=30).status_code in (200, 404)


#: JSON literals put anywhere in a valid body: what strict JSON cannot carry but parsers take, what
#: overflows a column, control characters and lone surrogates in text, a long string, wrong shapes.
NASTY = [
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "-1e308", "9223372036854775808",
    '"\\u0000"', '"a\\u0000b"', '"\\u001b[2J"', '"\\u0085"', '"\\ud800"', '"' + "x" * 100_000 + '"',
    '"0001-01-01T00:00:00+05:00"', '"9999-12-31T23:59:59-05:00"', '"2026-11-23T10:00:00+23:59"',
    "[]", "{}", "null", "-1", "true", '{"\\u0000": NaN}',
]  # fmt: skip
MARK = "__NASTY__"


def _bodies(served: Served) -> list[tuple[str, str, Any]]:
    """(path, key, valid body) for every POST with a JSON body, over a seeded inspection."""
    seeded = inspection("textile-01", 21, defects=2)
    unread = {**inspection("textile-01", 22, defects=0), "code": None, "code_status": "code_unread"}
    for body in (seeded, unread):
        answer = httpx.post(f"{served.base}/v1/inspections", json=body, headers=auth(served.keys["textile"]))
        assert answer.status_code == 201, answer.text
    viewer = auth(served.keys["viewer"])
    got = httpx.get(f"{served.base}/v1/inspections/{seeded['id']}", headers=viewer).json()
    d1, d2 = (d["id"] for d in got["defects"])
    frame = f"/v1/inspections/{seeded['id']}"
    return [
        ("/v1/inspections", "textile", inspection("textile-01", 23)),
        ("/v1/inspections", "textile", {"inspections": [inspection("textile-01", 24)]}),
        (f"/v1/defects/{d1}/review", "reviewer", {"decision": "reclassify", "new_class": "hole"}),
        ("/v1/defects/review", "reviewer", {"decision": "confirm", "defect_ids": [d1, d2], "comment": "c"}),
        (f"/v1/defects/{d1}/undo", "reviewer", {"comment": "c"}),
        (f"{frame}/defects", "reviewer", {"class_name": "hole", "bbox": [1, 2, 30, 40]}),
        (f"{frame}/merge", "reviewer", {"defect_ids": [d1, d2], "comment": "c"}),
        (f"/v1/inspections/{unread['id']}/code", "reviewer", {"code": "RL0000000025"}),
        ("/v1/genealogy", "textile", {"parent": seeded["code"], "child": "LOT-1", "relation": "made_from"}),
        (f"/v1/units/{seeded['code']}/events", "textile", {"type": "shipped", "at": "2026-11-23T10:00:00Z",
                                                          "line_id": "textile-01", "location": "dock",
                                                          "detail": {"a": [1, {"b": "c"}]}}),
        ("/v1/lines/textile-01/golden", "reviewer", {"inspection_id": seeded["id"], "note": "n"}),
    ]  # fmt: skip


def _positions(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``value`` a value sits (including whole containers)."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _positions(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _positions(item, (*path, i))
    return found


_SEEDED: dict[str, list[tuple[str, str, Any]]] = {}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_nasty_values_anywhere_in_any_json_body_are_never_a_server_error(served: Served, data) -> None:
    if served.base not in _SEEDED:  # one seeding per server (hypothesis runs many examples on it)
        _SEEDED[served.base] = _bodies(served)
    bodies = _SEEDED[served.base]
    path, who, body = data.draw(st.sampled_from(bodies))
    body = json.loads(json.dumps(body))
    literal = data.draw(st.sampled_from(NASTY))
    positions = _positions(body)
    where = data.draw(st.sampled_from([*positions, ("__extra__",)]))
    target = body
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = MARK
    text = json.dumps(body).replace(json.dumps(MARK), literal)
    answer = httpx.post(
        served.base + path,
        content=text.encode(),
        headers={**auth(served.keys[who]), "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code < 500, (path, where, literal[:40], answer.text[:500])
    parsed = strict_json(answer.text)
    if answer.status_code == 422:
        assert len(answer.content) < 8192, len(answer.content)
        assert parsed["error"]["field"]
