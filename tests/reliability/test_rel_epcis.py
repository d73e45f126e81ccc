"""EPCIS export: GS1 event hash IDs, stable and unique across exports, offsets kept, a disposition
for every verdict; arbitrary stored data (hypothesis) exports as schema-valid documents.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_epcis import schema_errors, strict_json
from rel_helpers import Served, auth, inspection

from linecheck.kinds import Kind, get_kind
from linecheck.serving.api.epcis import trace_to_epcis
from linecheck.serving.api.epcis_hash import event_hash_id, pre_hash
from linecheck.serving.api.services.lines import sync_lines
from linecheck.serving.api.services.trace import trace_code
from linecheck.serving.api.testing import DEFAULT_LINES_DIR, create_key
from linecheck.serving.store.db import Database, upgrade_head
from linecheck.serving.store.models import Defect, utcnow
from linecheck.serving.store.repositories import events as event_repo
from linecheck.serving.store.repositories import genealogy as genealogy_repo
from linecheck.serving.store.repositories import inspections as inspection_repo
from linecheck.serving.store.repositories import reviews as review_repo
from linecheck.serving.store.testing import copy_sqlite, new_postgres_schema

# --- the hash ID itself ----------------------------------------------------------------------

#: A published CBV 2.0 test vector (GS1 event hash ID reference examples), without its
#: bizTransactionList: epcs already in canonical GS1 Digital Link form, times in UTC with ms.
GS1_EVENT = {
    "type": "ObjectEvent",
    "eventTime": "2005-04-03T20:33:31.116-06:00",
    "eventTimeZoneOffset": "-06:00",
    "recordTime": "2005-04-05T02:33:31.116Z",
    "eventID": "urn:uuid:anything",
    "epcList": [
        "https://id.gs1.org/01/10614141073464/21/2018",
        "https://id.gs1.org/01/10614141073464/21/2017",
    ],
    "action": "OBSERVE",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "readPoint": {"id": "https://id.gs1.org/414/0614141073467/254/1234"},
    "example:myField": "myValue",
}
GS1_PRE_HASH = (
    "eventType=ObjectEventeventTime=2005-04-04T02:33:31.116ZeventTimeZoneOffset=-06:00"
    "epcListepc=https://id.gs1.org/01/10614141073464/21/2017epc=https://id.gs1.org/01/10614141073464/21/2018"
    "action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shipping"
    "disposition=https://ref.gs1.org/cbv/Disp-in_transitreadPointid=https://id.gs1.org/414/0614141073467/254/1234"
    "{http://ns.example.com/epcis/}myField=myValue"
)


def test_pre_hash_follows_the_published_cbv_2_0_example() -> None:
    assert pre_hash(GS1_EVENT, {"example": "http://ns.example.com/epcis/"}) == GS1_PRE_HASH
    digest = hashlib.sha256(GS1_PRE_HASH.encode()).hexdigest()
    assert event_hash_id(GS1_EVENT, {"example": "http://ns.example.com/epcis/"}) == (
        f"ni:///sha-256;{digest}?ver=CBV2.0"
    )


def test_pre_hash_of_our_own_event_types() -> None:
    namespaces = {"linecheck": "urn:linecheck:ext:"}
    aggregation = {
        "type": "AggregationEvent",
        "eventTime": "2026-11-23T10:00:00.123456Z",
        "eventTimeZoneOffset": "+01:00",
        "parentID": "urn:linecheck:code:BOX-7",
        "childEPCs": ["urn:linecheck:code:FB-2", "urn:linecheck:code:FB-1"],
        "action": "ADD",
        "bizStep": "packing",
        "disposition": "in_progress",
        "linecheck:recordedBy": "key:abc",
        "linecheck:detail": {"linecheck:b": [2.50, 1.0, True], "linecheck:a": None},
    }
    assert pre_hash(aggregation, namespaces) == (
        "eventType=AggregationEventeventTime=2026-11-23T10:00:00.123ZeventTimeZoneOffset=+01:00"
        "parentID=urn:linecheck:code:BOX-7childEPCsepc=urn:linecheck:code:FB-1epc=urn:linecheck:code:FB-2"
        "action=ADDbizStep=https://ref.gs1.org/cbv/BizStep-packingdisposition=https://ref.gs1.org/cbv/Disp-in_progress"
        "{urn:linecheck:ext:}detail{urn:linecheck:ext:}b=1{urn:linecheck:ext:}b=2.5{urn:linecheck:ext:}b=true"
        "{urn:linecheck:ext:}recordedBy=key:abc"
    )
    transformation = {
        "type": "TransformationEvent",
        "eventTime": "2026-11-23T10:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "inputEPCList": ["urn:linecheck:code:LOT-1"],
        "outputEPCList": ["urn:linecheck:code:RL1"],
        "transformationID": "urn:linecheck:transformation:RL1:x",
        "bizStep": "commissioning",
        "bizLocation": {"id": "urn:linecheck:line:textile-01"},
    }
    assert pre_hash(transformation, namespaces) == (
        "eventType=TransformationEventeventTime=2026-11-23T10:00:00.000ZeventTimeZoneOffset=+00:00"
        "inputEPCListepc=urn:linecheck:code:LOT-1outputEPCListepc=urn:linecheck:code:RL1"
        "transformationID=urn:linecheck:transformation:RL1:xbizStep=https://ref.gs1.org/cbv/BizStep-commissioning"
        "bizLocationid=urn:linecheck:line:textile-01"
    )


def test_fields_outside_the_hash_do_not_change_it_and_content_does() -> None:
    base = event_hash_id(GS1_EVENT, {"example": "http://ns.example.com/epcis/"})
    same = {**GS1_EVENT, "eventID": "urn:uuid:other", "recordTime": "2030-01-01T00:00:00Z"}
    same["epcList"] = list(reversed(GS1_EVENT["epcList"]))
    assert event_hash_id(same, {"example": "http://ns.example.com/epcis/"}) == base
    for change in (
        {"disposition": "conformant"},
        {"example:myField": "other"},
        {"eventTimeZoneOffset": "+01:00"},
    ):
        assert event_hash_id({**GS1_EVENT, **change}, {"example": "http://ns.example.com/epcis/"}) != base


# --- through the real API, SQLite and PostgreSQL -----------------------------------------------


def _events(served: Served, code: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{served.base}/v1/trace/{code}/epcis", headers=auth(served.keys["viewer"]), timeout=30
    )
    assert answer.status_code == 200, answer.text[:1000]
    document = strict_json(answer.text)
    assert schema_errors(document) == []
    return list(document["epcisBody"]["eventList"])


def _same_id_same_event(exports: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for events in exports:
        ids = [e["eventID"] for e in events]
        assert len(ids) == len(set(ids)), "an export repeats an eventID"
        for event in events:
            assert by_id.setdefault(event["eventID"], event) == event, "one eventID, two contents"
    return by_id


def test_two_made_from_links_at_one_instant_are_two_events(served: Served) -> None:
    at = "2026-11-23T10:00:00+01:00"
    for child in ("LOT-A", "LOT-B"):
        link = {"parent": "RL0000000031", "child": child, "relation": "made_from", "at": at}
        answer = httpx.post(f"{served.base}/v1/genealogy", json=link, headers=auth(served.keys["reviewer"]))
        assert answer.status_code == 201, answer.text
    exports = [_events(served, code) for code in ("LOT-A", "LOT-B", "RL0000000031")]
    by_id = _same_id_same_event(exports)
    transformations = [e for e in by_id.values() if e["type"] == "TransformationEvent"]
    assert sorted(e["inputEPCList"][0] for e in transformations) == [
        "urn:linecheck:code:LOT-A",
        "urn:linecheck:code:LOT-B",
    ]
    assert len({e["transformationID"] for e in transformations}) == 1  # one transformation, two inputs
    assert all(
        e["eventID"].startswith("ni:///sha-256;") and e["eventID"].endswith("?ver=CBV2.0")
        for e in by_id.values()
    )


def test_genealogy_events_keep_the_posted_offset(served: Served) -> None:
    link = {"parent": "BOX-5", "child": "LOT-5", "relation": "packed_in", "at": "2026-11-23T10:00:00+05:30"}
    assert (
        httpx.post(
            f"{served.base}/v1/genealogy", json=link, headers=auth(served.keys["reviewer"])
        ).status_code
        == 201
    )
    trace = httpx.get(f"{served.base}/v1/trace/LOT-5", headers=auth(served.keys["viewer"])).json()
    assert trace["genealogy"]["parents"][0]["at_tz"] == "+05:30"
    (event,) = _events(served, "LOT-5")
    assert (event["type"], event["eventTimeZoneOffset"]) == ("AggregationEvent", "+05:30")
    assert event["eventTime"] == "2026-11-23T04:30:00Z"


@pytest.mark.parametrize(
    ("verdict", "disposition"),
    [("pass", "conformant"), ("fail", "non_conformant"), ("not_inspected", "unknown")],
)
def test_every_verdict_has_a_disposition(served: Served, verdict, disposition) -> None:
    body = inspection("pv-01", 3, defects=1 if verdict == "fail" else 0)
    body["verdict"] = verdict
    if verdict == "not_inspected":
        body.update(model_name=None, model_version=None, reason="inference timed out")
    pv_key = create_key(served.url, "line", "pv-01")
    answer = httpx.post(f"{served.base}/v1/inspections", json=body, headers=auth(pv_key))
    assert answer.status_code == 201, answer.text
    (event,) = [e for e in _events(served, body["code"]) if e.get("bizStep") == "inspecting"]
    assert event["disposition"] == disposition


def test_a_review_is_its_own_event_and_does_not_change_the_inspection_event(served: Served) -> None:
    body = inspection("textile-01", 8)
    assert (
        httpx.post(
            f"{served.base}/v1/inspections", json=body, headers=auth(served.keys["textile"])
        ).status_code
        == 201
    )
    before = _events(served, body["code"])
    got = httpx.get(f"{served.base}/v1/inspections/{body['id']}", headers=auth(served.keys["viewer"])).json()
    review = {"decision": "reclassify", "new_class": "knot", "comment": "a knot, not a stain"}
    answer = httpx.post(
        f"{served.base}/v1/defects/{got['defects'][0]['id']}/review",
        json=review,
        headers=auth(served.keys["reviewer"]),
    )
    assert answer.status_code == 201
    after = _events(served, body["code"])
    assert before[0] in after  # the inspection event is unchanged, under the same ID
    (reviewed,) = [e for e in after if e not in before]
    assert reviewed["linecheck:review"]["linecheck:decision"] == "reclassify"
    assert reviewed["linecheck:review"]["linecheck:newClass"] == "knot"


def test_each_audit_of_a_passed_unit_is_its_own_event_with_its_disposition(served: Served) -> None:
    body = inspection("bearing-01", 9, defects=0) | {"audit_sample": True}
    answer = httpx.post(f"{served.base}/v1/inspections", json=body, headers=auth(served.keys["bearing"]))
    assert answer.status_code == 201, answer.text
    before = _events(served, body["code"])
    reviewer = auth(served.keys["reviewer"])

    def audit(outcome: str) -> None:
        answer = httpx.post(
            f"{served.base}/v1/inspections/{body['id']}/audit", json={"outcome": outcome}, headers=reviewer
        )
        assert answer.status_code == 201, answer.text

    audit("ok")
    drawn = {"class_name": get_kind(Kind.BEARING).classes[0], "bbox": [100, 100, 140, 130]}
    answer = httpx.post(f"{served.base}/v1/inspections/{body['id']}/defects", json=drawn, headers=reviewer)
    assert answer.status_code == 201, answer.text
    audit("escape")  # a second look found what the model and the first audit missed

    after = _events(served, body["code"])
    assert before[0] in after  # the inspection's own event (conformant, as judged) is unchanged
    assert before[0]["disposition"] == "conformant"
    audits = [e for e in after if "linecheck:audit" in e]
    assert [(e["disposition"], e["linecheck:audit"]["linecheck:outcome"]) for e in audits] == [
        ("conformant", "ok"),
        ("non_conformant", "escape"),
    ]
    assert {e["linecheck:audit"]["linecheck:inspectionID"] for e in audits} == {body["id"]}
    assert all(e["linecheck:audit"]["linecheck:auditor"].startswith("key:") for e in audits)
    assert len({e["linecheck:audit"]["linecheck:auditID"] for e in audits}) == 2
    assert _events(served, body["code"]) == after  # the same events, under the same IDs, on every export


def test_a_hold_and_its_release_of_the_code_are_events_of_their_own(served: Served) -> None:
    body = inspection("bearing-01", 10, defects=0)
    answer = httpx.post(f"{served.base}/v1/inspections", json=body, headers=auth(served.keys["bearing"]))
    assert answer.status_code == 201, answer.text
    reviewer = auth(served.keys["reviewer"])
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    hold = {"line_id": "bearing-01", "since": since, "cause": "complaint", "reason": "cracked ring"}
    answer = httpx.post(f"{served.base}/v1/holds", json=hold, headers=reviewer)
    assert answer.status_code == 201, answer.text
    hold_id = answer.json()["id"]
    held = _events(served, body["code"])
    [placed] = [e for e in held if e.get("bizStep") == "holding"]
    assert placed["disposition"] == "non_sellable_other"
    assert placed["linecheck:hold"]["linecheck:holdID"] == hold_id
    assert placed["linecheck:hold"]["linecheck:cause"] == "complaint"

    release = {"code": body["code"], "comment": "re-measured: in tolerance"}
    answer = httpx.post(f"{served.base}/v1/holds/{hold_id}/release", json=release, headers=reviewer)
    assert answer.status_code == 201, answer.text
    after = _events(served, body["code"])
    assert all(e in after for e in held)  # nothing exported before changed
    [released] = [e for e in after if e not in held]
    assert (released["bizStep"], released["disposition"]) == ("holding", "available")
    assert released["linecheck:holdRelease"]["linecheck:wholeHold"] is False
    assert released["linecheck:holdRelease"]["linecheck:comment"] == "re-measured: in tolerance"


# --- arbitrary stored data -----------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world_db(request: pytest.FixtureRequest, rel_template: Path, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = copy_sqlite(rel_template, tmp_path / "world" / "linecheck.db")
    else:
        url = new_postgres_schema(request.getfixturevalue("rel_postgres"))
    db = Database.from_url(url)
    upgrade_head(db.engine)
    sync_lines(db, DEFAULT_LINES_DIR)
    yield db
    db.dispose()


T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
instants = st.sampled_from(
    [T0, T0 + timedelta(microseconds=1), T0 + timedelta(milliseconds=1)]
) | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
offsets = st.integers(-14 * 60, 14 * 60).map(
    lambda m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
) | st.sampled_from(["+00:00", "bad", "+99:99", ""])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)
event_types = st.sampled_from(["received", "processed", "assembled", "packed", "shipped"])
relations = st.sampled_from(["contains", "made_from", "packed_in"])


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Any]:
    """A handful of codes with inspections, reviews, genealogy (cycles allowed) and events."""
    n = draw(st.integers(2, 5))
    inspections = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.sampled_from(["pass", "fail", "not_inspected"]),
                instants,
                offsets,
                st.lists(
                    st.tuples(st.floats(0, 1), st.sampled_from(["confirm", "reject", "reclassify", None])),
                    max_size=2,
                ),
            ),
            max_size=4,
        )
    )
    links = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), relations, instants, offsets),
            max_size=5,
            unique_by=lambda t: (t[0], t[1], t[2]),
        )
    )
    events = draw(
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                event_types,
                instants,
                offsets,
                st.none()
                | st.dictionaries(
                    st.text(max_size=5).filter(
                        lambda s: "\x00" not in s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
                    ),
                    json_values,
                    max_size=3,
                ),
            ),
            max_size=5,
            unique_by=lambda t: (t[0], t[1], t[2]),
        )
    )
    return {
        "n": n,
        "inspections": inspections,
        "links": [lk for lk in links if lk[0] != lk[1]],
        "events": events,
    }


_counter = itertools.count()


def _store(db: Database, world: dict[str, Any]) -> tuple[list[str], int]:
    """Write ``world`` through the repositories; return its codes and the number of facts stored."""
    prefix = f"RL{next(_counter) % 10**6:06d}"
    codes = [f"{prefix}{i:04d}" for i in range(world["n"])]
    facts = 0
    with db.writer() as session:
        now = utcnow()
        inspection_repo.insert_units(
            session,
            [{"code": c, "kind": "textile", "line_id": "textile-01", "created_at": now} for c in codes],
        )
        for unit, verdict, at, tz, defects in world["inspections"]:
            defects = defects if verdict == "fail" else []
            iid = uuid.uuid4().hex
            inspection_repo.insert_inspections(
                session,
                [
                    {
                        "id": iid, "code": codes[unit], "code_status": "trigger", "line_id": "textile-01",
                        "station": "cam1", "captured_at": at, "captured_tz": tz, "model_name": "textile",
                        "model_version": "1", "verdict": verdict, "reason": None, "latency_ms": 1.5,
                        "frame_seq": 1, "image_width": 640, "image_height": 640, "image_ref": None,
                        "roll_offset_m": None, "defect_count": len(defects), "content_hash": "0" * 64,
                        "created_at": now, "created_by": "key:seed", "code_assigned_by": None,
                        "code_assigned_at": None,
                    }
                ],
            )  # fmt: skip
            facts += 1
            for confidence, decision in defects:
                inspection_repo.insert_defects(
                    session,
                    [
                        {
                            "inspection_id": iid, "line_id": "textile-01", "captured_at": at,
                            "class_name": "stain", "final_class": "stain", "confidence": confidence,
                            "x1": 1.0, "y1": 1.0, "x2": 5.0, "y2": 5.0, "location": {"along_m": 1.0},
                            "location_key": None, "along_m": 1.0, "size_m": None, "crop_ref": None,
                            "review_state": "pending", "reviewed_at": None,
                        }
                    ],
                )  # fmt: skip
                if decision is not None:
                    defect = (
                        session.query(Defect)
                        .filter(Defect.inspection_id == iid)
                        .order_by(Defect.id.desc())
                        .first()
                    )
                    new_class = "knot" if decision == "reclassify" else None
                    review_repo.add_review(
                        session, defect, decision=decision, new_class=new_class, reviewer="key:qa", at=at,
                        comment=None,
                    )  # fmt: skip
                    facts += 1
        for parent, child, relation, at, tz in world["links"]:
            created = genealogy_repo.add_link(
                session,
                parent=codes[parent],
                child=codes[child],
                relation=relation,
                at=at,
                at_tz=tz,
                actor="key:seed",
            )
            facts += created
        for unit, kind, at, tz, detail in world["events"]:
            created = event_repo.add_event(
                session, code=codes[unit], type=kind, at=at, at_tz=tz, line_id="textile-01", location=None,
                detail=detail, actor="key:seed",
            )  # fmt: skip
            facts += created
        session.commit()
    return codes, facts


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds())
def test_arbitrary_stored_data_exports_valid_stable_unique_events(world_db: Database, world) -> None:
    codes, facts = _store(world_db, world)
    exports = []
    for code in codes:
        try:
            trace = trace_code(world_db, code, max_depth=10)
        except Exception as exc:  # a code with nothing stored about it is a 404, never anything else
            assert type(exc).__name__ == "NotFoundError", exc
            continue
        document = trace_to_epcis(trace, base_uri="urn:linecheck:")
        document = strict_json(json.dumps(document, allow_nan=False))
        assert schema_errors(document) == []
        exports.append(document["epcisBody"]["eventList"])
    by_id = _same_id_same_event(exports)
    assert len(by_id) == facts  # one event per stored fact, none merged, none split
    for event in by_id.values():
        assert event["eventID"].startswith("ni:///sha-256;")
