"""A code's history as a GS1 EPCIS 2.0 JSON-LD document.

* every inspection of the code -> ``ObjectEvent`` (action OBSERVE, bizStep ``inspecting``,
  disposition ``conformant`` / ``non_conformant``; the verdict, model and defects as
  ``linecheck:`` extension fields);
* ``contains`` / ``packed_in`` genealogy -> ``AggregationEvent`` (action ADD, bizStep
  ``assembling`` / ``packing``), one per parent and time;
* ``made_from`` genealogy -> ``TransformationEvent`` (inputs = children, output = parent);
* process events -> ``ObjectEvent`` with the matching CBV business step.

Codes, lines and stations become URIs under ``base_uri`` (default ``urn:linecheck:``), e.g.
``urn:linecheck:code:RL0000000042``; extension fields live in the ``linecheck`` namespace
declared in the document's ``@context``. Event ids are name-based UUIDs, so exporting twice
gives the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from linecheck.serving.api.responses import InspectionOut, LinkOut, ProcessEventOut, TraceOut

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
_DISPOSITION = {"pass": "conformant", "fail": "non_conformant"}
_AGGREGATION_STEP = {"contains": "assembling", "packed_in": "packing"}
_EVENT_STEP = {"received": "receiving", "assembled": "assembling", "packed": "packing", "shipped": "shipping"}
_EVENT_DISPOSITION = {"shipped": "in_transit"}


class _Uris:
    """URIs under one base: ``urn:...:`` bases join with ':', others (http) with '/'."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.sep = ":" if base.startswith("urn:") else "/"
        self.base_trimmed = base if base.endswith((":", "/")) else base + self.sep

    def make(self, *parts: str) -> str:
        return self.base_trimmed + self.sep.join(quote(p, safe="-._~") for p in parts)

    def event_id(self, *parts: str) -> str:
        return uuid.uuid5(uuid.NAMESPACE_URL, self.make("event", *parts)).urn

    @property
    def namespace(self) -> str:
        return self.make("ext") + self.sep


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ext(values: dict[str, Any]) -> dict[str, Any]:
    """Prefix every key (recursively) with the ``linecheck`` namespace; drop None values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = _ext(value)
        elif isinstance(value, list):
            value = [_ext(v) if isinstance(v, dict) else v for v in value]
        out[f"linecheck:{key}"] = value
    return out


def _inspection_event(inspection: InspectionOut, uris: _Uris) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": uris.event_id("inspection", inspection.id),
        "eventTime": _time(inspection.captured_at),
        "eventTimeZoneOffset": inspection.captured_tz,
        "recordTime": _time(inspection.created_at),
        "epcList": [uris.make("code", inspection.code or "")],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "readPoint": {"id": uris.make("line", inspection.line_id, "station", inspection.station)},
        "bizLocation": {"id": uris.make("line", inspection.line_id)},
    }
    if inspection.verdict in _DISPOSITION:
        event["disposition"] = _DISPOSITION[inspection.verdict]
    event |= _ext(
        {
            "inspectionID": inspection.id,
            "verdict": inspection.verdict,
            "reason": inspection.reason,
            "model": {"name": inspection.model_name, "version": inspection.model_version}
            if inspection.model_name
            else None,
            "imageRef": inspection.image_ref,
            "defects": [
                {
                    "class": d.final_class,
                    "detectedClass": d.class_name,
                    "confidence": d.confidence,
                    "reviewState": d.review_state,
                    "location": d.location,
                }
                for d in inspection.defects
            ],
        }
    )
    return event


def _link_events(links: Iterable[LinkOut], uris: _Uris) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, datetime], list[str]] = {}
    for link in links:
        groups.setdefault((link.parent, link.relation, link.at), []).append(link.child)
    events: list[dict[str, Any]] = []
    for (parent, relation, at), children in groups.items():
        children = sorted(set(children))
        common = {
            "eventID": uris.event_id("genealogy", relation, parent, _time(at)),
            "eventTime": _time(at),
            "eventTimeZoneOffset": "+00:00",
        }
        if relation == "made_from":
            events.append(
                {
                    "type": "TransformationEvent",
                    **common,
                    "inputEPCList": [uris.make("code", c) for c in children],
                    "outputEPCList": [uris.make("code", parent)],
                    "bizStep": "commissioning",
                    "disposition": "active",
                }
            )
        else:
            events.append(
                {
                    "type": "AggregationEvent",
                    **common,
                    "parentID": uris.make("code", parent),
                    "childEPCs": [uris.make("code", c) for c in children],
                    "action": "ADD",
                    "bizStep": _AGGREGATION_STEP.get(relation, "other"),
                    "disposition": "in_progress",
                }
            )
    return events


def _process_event(event: ProcessEventOut, tz: str, uris: _Uris) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": uris.event_id("process", event.code, event.type, _time(event.at)),
        "eventTime": _time(event.at),
        "eventTimeZoneOffset": tz,
        "epcList": [uris.make("code", event.code)],
        "action": "OBSERVE",
        "bizStep": _EVENT_STEP.get(event.type) or uris.make("bizstep", event.type),
        "disposition": _EVENT_DISPOSITION.get(event.type, "in_progress"),
    }
    if event.line_id:
        out["bizLocation"] = {"id": uris.make("line", event.line_id)}
    return out | _ext({"location": event.location, "detail": event.detail, "recordedBy": event.created_by})


def trace_to_epcis(
    trace: TraceOut, *, base_uri: str = "urn:linecheck:", now: datetime | None = None
) -> dict[str, Any]:
    """The EPCIS 2.0 ``EPCISDocument`` of a trace, events in time order."""
    uris = _Uris(base_uri)
    events = [_inspection_event(i, uris) for i in trace.inspections if i.code is not None]
    links = {
        (lk.parent, lk.child, lk.relation): lk for lk in [*trace.genealogy.parents, *trace.genealogy.children]
    }
    events += _link_events(links.values(), uris)
    events += [_process_event(e, e.at_tz, uris) for e in trace.events]
    events.sort(key=lambda e: (e["eventTime"], e["eventID"]))
    return {
        "@context": [EPCIS_CONTEXT, {"linecheck": uris.namespace}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(now or datetime.now(UTC)),
        "epcisBody": {"eventList": events},
    }
