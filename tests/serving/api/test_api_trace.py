"""Trace with genealogy up and down, process events in time order, model versions; EPCIS 2.0 export."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from api_harness import Api
from api_payloads import later, textile

from linecheck.serving.api.epcis import trace_to_epcis
from linecheck.serving.api.responses import TraceOut

# GS1's schema and examples, copied into the repository (see tests/data/epcis2/README.md).
EPCIS_DIR = Path(__file__).resolve().parents[2] / "data" / "epcis2"
ROLL = "RL0000000042"


def _format_checker() -> jsonschema.FormatChecker:
    """uri and date-time checks (jsonschema only checks them with optional packages installed)."""
    checker = jsonschema.FormatChecker()

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return (
            not isinstance(value, str)
            or re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+", value) is not None
        )

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
            raise ValueError(f"not RFC 3339: {value}")
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None

    return checker


@pytest.fixture(scope="module")
def epcis_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((EPCIS_DIR / "EPCIS-JSON-Schema.json").read_text())
    return jsonschema.Draft7Validator(schema, format_checker=_format_checker())


def _errors(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize("example", ["ObjectEvent", "AggregationEvent", "TransformationEvent"])
def test_gs1_examples_pass_our_validator(epcis_validator: jsonschema.Draft7Validator, example: str) -> None:
    document = json.loads((EPCIS_DIR / f"example-{example}.json").read_text())
    assert _errors(epcis_validator, document) == []
    broken = {**document, "eventTime": "yesterday"}
    assert _errors(epcis_validator, broken)


def _history(api: Api) -> dict[str, Any]:
    """A roll made from a yarn lot, cut into a fabric batch, packed and shipped; two inspections."""
    first = textile(ROLL, at=later(0), model_version="1")
    second = textile(
        ROLL, at=later(5), model_version="2", roll_offset_m=6.5, trigger_id="M-88", encoder_count=4711
    )
    second["defects"][0]["class_name"] = "hole"
    for body in (second, first):  # sent out of order: the trace sorts by capture time
        assert api.post("/v1/inspections", "textile", json=body).status_code == 201
    links = [
        {"parent": ROLL, "child": "YARN-LOT-7", "relation": "made_from", "at": later(-600).isoformat()},
        {"parent": "FB-2026-01", "child": ROLL, "relation": "made_from", "at": later(60).isoformat()},
        {"parent": "BOX-77", "child": "FB-2026-01", "relation": "packed_in", "at": later(120).isoformat()},
    ]
    for link in links:  # the box and the batch are units of no line: a reviewer key links them
        who = "textile" if ROLL in (link["parent"], link["child"]) else "reviewer"
        assert api.post("/v1/genealogy", who, json=link).status_code == 201
    assert api.post("/v1/genealogy", "textile", json=links[0]).json() == {"status": "duplicate"}
    events = [
        ("BOX-77", {"type": "shipped", "at": later(180).isoformat(), "location": "dock 3"}),
        ("YARN-LOT-7", {"type": "received", "at": later(-700).isoformat()}),
        (ROLL, {"type": "processed", "at": "2026-11-23T11:30:00+01:00", "line_id": "textile-01"}),
    ]
    for code, event in events:
        assert api.post(f"/v1/units/{code}/events", "textile", json=event).status_code == 201
    assert api.post(f"/v1/units/{events[0][0]}/events", "textile", json=events[0][1]).status_code == 200
    defect = api.get(f"/v1/inspections/{first['id']}").json()["defects"][0]["id"]
    api.post(f"/v1/defects/{defect}/review", "reviewer", json={"decision": "reclassify", "new_class": "knot"})
    api.post(f"/v1/defects/{defect}/review", "reviewer", json={"decision": "confirm", "comment": "sure"})
    return {"first": first, "second": second}


def test_trace_has_everything_about_a_code(api: Api) -> None:
    sent = _history(api)
    response = api.get(f"/v1/trace/{ROLL}")
    assert response.status_code == 200, response.text
    trace = response.json()
    assert trace["unit"]["code"] == ROLL and trace["unit"]["kind"] == "textile"
    parents = [(lk["parent"], lk["relation"], lk["depth"]) for lk in trace["genealogy"]["parents"]]
    assert parents == [("FB-2026-01", "made_from", 1), ("BOX-77", "packed_in", 2)]
    children = [(lk["child"], lk["depth"]) for lk in trace["genealogy"]["children"]]
    assert children == [("YARN-LOT-7", 1)]
    assert [i["id"] for i in trace["inspections"]] == [sent["first"]["id"], sent["second"]["id"]]
    reviewed = trace["inspections"][0]["defects"][0]
    assert [r["decision"] for r in reviewed["reviews"]] == ["reclassify", "confirm"]
    assert (reviewed["class_name"], reviewed["final_class"], reviewed["review_state"]) == (
        "stain",
        "knot",
        "confirmed",
    )
    assert [(e["code"], e["type"]) for e in trace["events"]] == [
        ("YARN-LOT-7", "received"),
        (ROLL, "processed"),  # 11:30+01:00 = 10:30Z
        ("BOX-77", "shipped"),
    ]
    assert [(m["model_version"], m["inspections"]) for m in trace["model_versions"]] == [("1", 1), ("2", 1)]
    # the lot's trace walks the other way: up through the roll to the box
    up = api.get("/v1/trace/YARN-LOT-7").json()
    assert [lk["parent"] for lk in up["genealogy"]["parents"]] == [ROLL, "FB-2026-01", "BOX-77"]
    assert up["unit"] is None


def test_unknown_code_is_404(api: Api) -> None:
    response = api.get("/v1/trace/RL9999999999")
    assert response.status_code == 404
    assert "RL9999999999" in response.json()["error"]["message"]


def test_epcis_export_validates_against_gs1_schema(
    api: Api, epcis_validator: jsonschema.Draft7Validator
) -> None:
    _history(api)
    response = api.get(f"/v1/trace/{ROLL}/epcis")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    document = response.json()
    assert _errors(epcis_validator, document) == []
    events = document["epcisBody"]["eventList"]
    kinds = [(e["type"], e.get("bizStep")) for e in events]
    assert kinds.count(("ObjectEvent", "inspecting")) == 4  # two inspections, two review decisions
    assert ("AggregationEvent", "packing") in kinds
    assert kinds.count(("TransformationEvent", "commissioning")) == 2
    assert [e["eventTime"] for e in events] == sorted(e["eventTime"] for e in events)
    inspections = [e for e in events if "linecheck:inspectionID" in e]
    assert [e["disposition"] for e in inspections] == ["non_conformant", "non_conformant"]
    assert inspections[0]["epcList"] == [f"urn:linecheck:code:{ROLL}"]
    assert inspections[0]["linecheck:defects"][0]["linecheck:class"] == "stain"  # as the model saw it
    # the unit as the PLC named it, where the inspector sent it (a frame without a trigger has neither key)
    assert (inspections[1]["linecheck:triggerID"], inspections[1]["linecheck:encoderCount"]) == ("M-88", 4711)
    assert not {"linecheck:triggerID", "linecheck:encoderCount"} & set(inspections[0])
    reviews = [e["linecheck:review"] for e in events if "linecheck:review" in e]
    assert [(r["linecheck:decision"], r.get("linecheck:newClass")) for r in reviews] == [
        ("reclassify", "knot"),
        ("confirm", None),
    ]
    assert all(e["eventID"].startswith("ni:///sha-256;") for e in events)
    box = next(e for e in events if e["type"] == "AggregationEvent")
    assert (box["parentID"], box["childEPCs"]) == (
        "urn:linecheck:code:BOX-77",
        ["urn:linecheck:code:FB-2026-01"],
    )
    processed = next(
        e
        for e in events
        if e.get("linecheck:location") is None
        and e["type"] == "ObjectEvent"
        and "bizLocation" in e
        and e["bizStep"] != "inspecting"
    )
    assert processed["eventTimeZoneOffset"] == "+01:00"
    # the same export twice gives the same event ids
    again = api.get(f"/v1/trace/{ROLL}/epcis").json()["epcisBody"]["eventList"]
    assert [e["eventID"] for e in again] == [e["eventID"] for e in events]


@pytest.mark.parametrize("base", ["urn:linecheck:", "https://trace.example.com/id/"])
def test_epcis_with_other_base_uri_still_validates(
    api: Api, epcis_validator: jsonschema.Draft7Validator, base: str
) -> None:
    _history(api)
    trace = TraceOut.model_validate(api.get(f"/v1/trace/{ROLL}").json())
    document = trace_to_epcis(trace, base_uri=base)
    assert _errors(epcis_validator, document) == []
    assert document["epcisBody"]["eventList"][0]["epcList"][0].startswith(base)
    broken = json.loads(json.dumps(document))
    del broken["epcisBody"]["eventList"][0]["eventTimeZoneOffset"]
    assert _errors(epcis_validator, broken)
