"""A code's history as a GS1 EPCIS 2.0 JSON-LD document.

Every event is one immutable stored fact, so an event exported today is the same event, under the
same ID, in every later export and in the trace of every code it involves:

* every inspection of the code -> ``ObjectEvent`` (action OBSERVE, bizStep ``inspecting``,
  disposition ``conformant`` / ``non_conformant`` / ``unknown`` for pass / fail / not_inspected;
  the verdict, model, the trigger (the PLC's MeasId and encoder count, when sent), the product it
  was judged as (when the line has products) and the defects as the model reported them as
  ``linecheck:`` extension fields);
* every review decision (confirm, reject, reclassify, a corrected box, a defect drawn by a
  reviewer, an undo) -> ``ObjectEvent`` (bizStep ``inspecting``, ``linecheck:review``): reviews are
  appended, never changed, so a later decision is a new event rather than an edit of an old one;
* every audit of a passed frame kept for audit -> ``ObjectEvent`` (bizStep ``inspecting``,
  disposition ``conformant`` for *ok*, ``non_conformant`` for an *escape*: the unit passed with a
  defect the model missed; ``linecheck:audit``): audits are appended too, so a second audit of a
  frame is a second event;
* every hold the code is in -> ``ObjectEvent`` (bizStep ``holding``, disposition
  ``non_sellable_other``, ``linecheck:hold``: cause, reason, the suspect period), and its release of
  the code or of the whole hold -> ``ObjectEvent`` (bizStep ``holding``, disposition ``available``,
  ``linecheck:holdRelease``); a re-inspection after the hold is an inspection event of its own;
* a ``contains`` / ``packed_in`` link -> ``AggregationEvent`` (action ADD, bizStep ``assembling`` /
  ``packing``), one per link;
* a ``made_from`` link -> ``TransformationEvent`` (input = child, output = parent), one per link;
  links to one parent at one instant share a ``transformationID``: one transformation, several inputs;
* process events -> ``ObjectEvent`` with the matching CBV business step.

Event IDs are GS1 event hash IDs (:mod:`linecheck.serving.api.epcis_hash`): the SHA-256 of the
event's canonical content, so the ID is stable across exports and two different events never share
one. Offsets are the ones posted; a stored offset outside EPCIS's ``-14:00`` to ``+14:00`` pattern
(written by an older version) is exported as ``+00:00``, and a non-finite number stored in a JSON
field as ``"NaN"`` / ``"Infinity"``: whatever the store holds, the export is valid.

Codes, lines and stations become URIs under ``base_uri`` (default ``urn:linecheck:``), e.g.
``urn:linecheck:code:RL0000000042``; extension fields live in the ``linecheck`` namespace
declared in the document's ``@context``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from linecheck.serving.api.epcis_hash import event_hash_id
from linecheck.serving.api.hold_responses import HoldReleaseOut
from linecheck.serving.api.json_body import finite_json
from linecheck.serving.api.responses import (
    DefectOut,
    InspectionOut,
    LinkOut,
    PassAuditOut,
    ProcessEventOut,
    TraceOut,
)

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
#: Disposition of an inspected unit per verdict (``unknown``: it could not be judged).
DISPOSITIONS = {"pass": "conformant", "fail": "non_conformant", "not_inspected": "unknown"}
#: Disposition of an audited passed unit per audit outcome.
AUDIT_DISPOSITIONS = {"ok": "conformant", "escape": "non_conformant"}
_AGGREGATION_STEP = {"contains": "assembling", "packed_in": "packing"}
_EVENT_STEP = {
    "received": "receiving",
    "assembled": "assembling",
    "reworked": "repairing",
    "packed": "packing",
    "shipped": "shipping",
}
_EVENT_DISPOSITION = {"shipped": "in_transit"}
#: EPCIS 2.0's ``eventTimeZoneOffset`` pattern.
_OFFSET = re.compile(r"^[+-]((0\d|1[0-3]):[0-5]\d|14:00)$")


class _Uris:
    """URIs under one base: ``urn:...:`` bases join with ':', others (http) with '/'."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.sep = ":" if base.startswith("urn:") else "/"
        self.base_trimmed = base if base.endswith((":", "/")) else base + self.sep

    def make(self, *parts: str) -> str:
        return self.base_trimmed + self.sep.join(quote(p, safe="-._~") for p in parts)

    @property
    def namespace(self) -> str:
        return self.make("ext") + self.sep


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _offset(stored: str | None) -> str:
    """The stored ``+HH:MM`` offset when EPCIS accepts it, else UTC's."""
    return stored if stored and _OFFSET.fullmatch(stored) else "+00:00"


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


def _detected(defect: DefectOut) -> dict[str, Any]:
    """A defect as the model reported it (what a reviewer later decided is in the review events)."""
    return {
        "defectID": defect.id,
        "class": defect.class_name,
        "confidence": defect.confidence,
        "bbox": list(defect.bbox),
        "location": defect.location,
    }


def _inspection_event(inspection: InspectionOut, uris: _Uris) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": _time(inspection.captured_at),
        "eventTimeZoneOffset": _offset(inspection.captured_tz),
        "recordTime": _time(inspection.created_at),
        "epcList": [uris.make("code", inspection.code or "")],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "disposition": DISPOSITIONS.get(inspection.verdict, "unknown"),
        "readPoint": {"id": uris.make("line", inspection.line_id, "station", inspection.station)},
        "bizLocation": {"id": uris.make("line", inspection.line_id)},
    }
    return event | _ext(
        {
            "inspectionID": inspection.id,
            "triggerID": inspection.trigger_id,
            "encoderCount": inspection.encoder_count,
            "product": inspection.product,
            "verdict": inspection.verdict,
            "reason": inspection.reason,
            "model": {"name": inspection.model_name, "version": inspection.model_version}
            if inspection.model_name
            else None,
            "imageRef": inspection.image_ref,
            "defects": [_detected(d) for d in inspection.defects if d.source == "model"],
        }
    )


def _review_events(inspection: InspectionOut, uris: _Uris) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for defect in inspection.defects:
        for review in defect.reviews:
            events.append(
                {
                    "type": "ObjectEvent",
                    "eventTime": _time(review.at),
                    "eventTimeZoneOffset": "+00:00",
                    "recordTime": _time(review.at),
                    "epcList": [uris.make("code", inspection.code or "")],
                    "action": "OBSERVE",
                    "bizStep": "inspecting",
                    "bizLocation": {"id": uris.make("line", inspection.line_id)},
                }
                | _ext(
                    {
                        "review": {
                            "reviewID": review.id,
                            "inspectionID": inspection.id,
                            "defectID": defect.id,
                            "decision": review.decision,
                            "newClass": review.new_class,
                            "bbox": list(review.bbox) if review.bbox is not None else None,
                            "comment": review.comment,
                            "reviewer": review.reviewer,
                        }
                    }
                )
            )
    return events


def _audit_event(audit: PassAuditOut, inspection: InspectionOut, uris: _Uris) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": _time(audit.at),
        "eventTimeZoneOffset": "+00:00",
        "recordTime": _time(audit.at),
        "epcList": [uris.make("code", inspection.code or "")],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "disposition": AUDIT_DISPOSITIONS.get(audit.outcome, "unknown"),
        "bizLocation": {"id": uris.make("line", inspection.line_id)},
    } | _ext(
        {
            "audit": {
                "auditID": audit.id,
                "inspectionID": inspection.id,
                "outcome": audit.outcome,
                "comment": audit.comment,
                "auditor": audit.actor,
            }
        }
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class HoldFact:
    """A hold a traced code is in, and the releases that concern the code (its own and the whole hold's)."""

    id: int
    line_id: str
    cause: str
    reason: str
    since: datetime
    until: datetime
    created_by: str
    created_at: datetime
    releases: tuple[HoldReleaseOut, ...] = ()


def _hold_events(code: str, hold: HoldFact, uris: _Uris) -> list[dict[str, Any]]:
    common = {
        "type": "ObjectEvent",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [uris.make("code", code)],
        "action": "OBSERVE",
        "bizStep": "holding",
        "bizLocation": {"id": uris.make("line", hold.line_id)},
    }
    placed = {
        **common,
        "eventTime": _time(hold.created_at),
        "recordTime": _time(hold.created_at),
        "disposition": "non_sellable_other",
    } | _ext(
        {
            "hold": {
                "holdID": hold.id,
                "cause": hold.cause,
                "reason": hold.reason,
                "since": _time(hold.since),
                "until": _time(hold.until),
                "placedBy": hold.created_by,
            }
        }
    )
    released = [
        {
            **common,
            "eventTime": _time(r.created_at),
            "recordTime": _time(r.created_at),
            "disposition": "available",
        }
        | _ext(
            {
                "holdRelease": {
                    "holdID": hold.id,
                    "releaseID": r.id,
                    "wholeHold": r.code is None,
                    "comment": r.comment,
                    "releasedBy": r.created_by,
                }
            }
        )
        for r in hold.releases
    ]
    return [placed, *released]


def _link_event(link: LinkOut, uris: _Uris) -> dict[str, Any]:
    common = {"eventTime": _time(link.at), "eventTimeZoneOffset": _offset(link.at_tz)}
    if link.relation == "made_from":
        return {
            "type": "TransformationEvent",
            **common,
            "inputEPCList": [uris.make("code", link.child)],
            "outputEPCList": [uris.make("code", link.parent)],
            "transformationID": uris.make("transformation", link.parent, _time(link.at)),
            "bizStep": "commissioning",
            "disposition": "active",
        }
    return {
        "type": "AggregationEvent",
        **common,
        "parentID": uris.make("code", link.parent),
        "childEPCs": [uris.make("code", link.child)],
        "action": "ADD",
        "bizStep": _AGGREGATION_STEP.get(link.relation, "other"),
        "disposition": "in_progress",
    }


def _process_event(event: ProcessEventOut, uris: _Uris) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": _time(event.at),
        "eventTimeZoneOffset": _offset(event.at_tz),
        "epcList": [uris.make("code", event.code)],
        "action": "OBSERVE",
        "bizStep": _EVENT_STEP.get(event.type) or uris.make("bizstep", event.type),
        "disposition": _EVENT_DISPOSITION.get(event.type, "in_progress"),
    }
    if event.line_id:
        out["bizLocation"] = {"id": uris.make("line", event.line_id)}
    # The hash keeps milliseconds: a stored time finer than that is kept here, so two events of
    # one code and type a few microseconds apart stay two events.
    sub_ms = event.at.microsecond % 1000 or None
    return out | _ext(
        {
            "location": event.location,
            "detail": event.detail,
            "recordedBy": event.created_by,
            "eventTimeMicroseconds": sub_ms,
        }
    )


def _identified(events: Iterable[dict[str, Any]], namespaces: dict[str, str]) -> list[dict[str, Any]]:
    """Each event (non-finite numbers named) with its GS1 hash ID, in time order."""
    out = []
    for event in events:
        event = finite_json(event)
        out.append({"eventID": event_hash_id(event, namespaces), **event})
    out.sort(key=lambda e: (e["eventTime"], e["eventID"]))
    return out


def trace_to_epcis(
    trace: TraceOut,
    *,
    audits: Sequence[PassAuditOut] = (),
    holds: Sequence[HoldFact] = (),
    base_uri: str = "urn:linecheck:",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The EPCIS 2.0 ``EPCISDocument`` of a trace (its audits and its code's holds too), in time order."""
    uris = _Uris(base_uri)
    coded = [i for i in trace.inspections if i.code is not None]
    events = [_inspection_event(i, uris) for i in coded]
    events += [e for i in coded for e in _review_events(i, uris)]
    by_id = {i.id: i for i in coded}
    events += [_audit_event(a, by_id[a.inspection_id], uris) for a in audits if a.inspection_id in by_id]
    events += [e for hold in holds for e in _hold_events(trace.code, hold, uris)]
    links = {
        (lk.parent, lk.child, lk.relation): lk for lk in [*trace.genealogy.parents, *trace.genealogy.children]
    }
    events += [_link_event(lk, uris) for lk in links.values()]
    events += [_process_event(e, uris) for e in trace.events]
    return {
        "@context": [EPCIS_CONTEXT, {"linecheck": uris.namespace}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(now or datetime.now(UTC)),
        "epcisBody": {"eventList": _identified(events, {"linecheck": uris.namespace})},
    }
