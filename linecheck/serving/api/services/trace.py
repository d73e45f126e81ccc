"""Trace a code: unit, genealogy, inspections with defects and reviews, events, model versions.

Process events are those of the code and of its relatives (up and down), in time order.

A trace is a fixed number of indexed queries per genealogy level, independent of table size.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from linecheck.errors import NotFoundError
from linecheck.serving.api.epcis import trace_to_epcis
from linecheck.serving.api.responses import (
    GenealogyOut,
    InspectionOut,
    LinkOut,
    ModelUseOut,
    PassAuditOut,
    ProcessEventOut,
    TraceOut,
    UnitOut,
)
from linecheck.serving.api.services.grades import grade_out
from linecheck.serving.api.services.holds import held_in, unit_holds
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.queries import audited_inspections
from linecheck.serving.api.services.verdicts import unit_verdict
from linecheck.serving.store.db import Database
from linecheck.serving.store.models import GenealogyLink
from linecheck.serving.store.repositories import audits as audit_repo
from linecheck.serving.store.repositories import events as event_repo
from linecheck.serving.store.repositories import genealogy as genealogy_repo
from linecheck.serving.store.repositories import inspections as inspection_repo
from linecheck.serving.store.repositories.actors import actor_names

#: Most links followed in one direction, whatever the depth (a guard against huge fan-outs).
MAX_LINKS = 5000
#: How each relation reads, subject first (``packed_in``: the child is packed in the parent box).
RELATION_PHRASES = {
    "contains": "{parent} contains {child}",
    "made_from": "{parent} made from {child}",
    "packed_in": "{child} packed in {parent}",
}


def link_phrase(parent: str, child: str, relation: str) -> str:
    """The link in words, in the direction the relation reads."""
    template = RELATION_PHRASES.get(relation, "{parent} " + relation.replace("_", " ") + " {child}")
    return template.format(parent=parent, child=child)


def _walk(session: Session, code: str, *, up: bool, max_depth: int) -> list[LinkOut]:
    """Breadth-first over the genealogy from ``code``, one query per level, cycles ignored."""
    seen = {code}
    frontier = [code]
    found: list[LinkOut] = []
    for depth in range(1, max_depth + 1):
        if not frontier or len(found) >= MAX_LINKS:
            break
        links: list[GenealogyLink] = (
            genealogy_repo.parents_of(session, frontier)
            if up
            else genealogy_repo.children_of(session, frontier)
        )
        frontier = []
        for link in sorted(links, key=lambda lk: (lk.at, lk.id)):
            found.append(
                LinkOut(
                    parent=link.parent_code,
                    child=link.child_code,
                    relation=link.relation,
                    at=link.at,
                    at_tz=link.at_tz,
                    depth=depth,
                    created_by=link.created_by,
                    phrase=link_phrase(link.parent_code, link.child_code, link.relation),
                )
            )
            nxt = link.parent_code if up else link.child_code
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return found


def _model_uses(inspections: list[InspectionOut]) -> list[ModelUseOut]:
    uses: dict[tuple[str, str], list[datetime]] = {}
    for inspection in inspections:
        if inspection.model_name is not None and inspection.model_version is not None:
            uses.setdefault((inspection.model_name, inspection.model_version), []).append(
                inspection.captured_at
            )
    return [
        ModelUseOut(
            model_name=name, model_version=version, inspections=len(ts), first_at=min(ts), last_at=max(ts)
        )
        for (name, version), ts in sorted(uses.items(), key=lambda kv: min(kv[1]))
    ]


def trace_epcis(
    db: Database, lines: LineRegistry, code: str, *, max_depth: int, base_uri: str
) -> dict[str, Any]:
    """``code``'s history as an EPCIS 2.0 document.

    Its trace, every audit of its inspections kept for audit (the trace carries only each one's newest),
    and the holds it is in with their releases of it.
    """
    trace = trace_code(db, code, max_depth=max_depth)
    kept = [i.id for i in trace.inspections if i.audit_sample or i.audit_borderline]
    with db.reader() as session:
        audits = audit_repo.audits_of(session, kept)
        names = actor_names(session, {a.actor for a in audits})
        holds = held_in(session, lines, code)
        return trace_to_epcis(
            trace, audits=[PassAuditOut.of(a, names) for a in audits], holds=holds, base_uri=base_uri
        )


def trace_code(db: Database, code: str, *, max_depth: int, lines: LineRegistry | None = None) -> TraceOut:
    """Everything about ``code``; :class:`NotFoundError` when the store knows nothing of it.

    With ``lines``, the unit's grade after review is included: the same
    :func:`~linecheck.serving.api.services.verdicts.unit_verdict` as the grade endpoint, over the
    inspections and defects the trace already read.
    """
    with db.reader() as session:
        unit = inspection_repo.get_unit(session, code)
        parents = _walk(session, code, up=True, max_depth=max_depth)
        children = _walk(session, code, up=False, max_depth=max_depth)
        rows = inspection_repo.inspections_for_codes(session, [code])
        inspections, audit = audited_inspections(session, rows)
        related = [code, *sorted({lk.parent for lk in parents} | {lk.child for lk in children} - {code})]
        events = event_repo.events_for_codes(session, related)
        if unit is None and not parents and not children and not rows and not events:
            raise NotFoundError(f"code={code!r} is not known to the store")
        names = actor_names(
            session, {lk.created_by for lk in (*parents, *children)} | {e.created_by for e in events}
        )
        for link in (*parents, *children):
            link.created_by_name = names.get(link.created_by)
        event_rows = [ProcessEventOut.model_validate(e) for e in events]
        for event in event_rows:
            event.created_by_name = names.get(event.created_by)
        grade = None
        if unit is not None and lines is not None:
            defects = [d for i in inspections for d in i.defects]
            reworks = [e.at for e in events if e.code == code and e.type == "reworked"]
            verdict = unit_verdict(
                lines.require(unit.line_id), code, inspections, defects, max(reworks, default=None)
            )
            grade = grade_out(verdict, unit_holds(session, lines, code))
        return TraceOut(
            grade=grade,
            code=code,
            unit=UnitOut.model_validate(unit) if unit is not None else None,
            genealogy=GenealogyOut(parents=parents, children=children),
            inspections=inspections,
            events=event_rows,
            model_versions=_model_uses(inspections),
            audit=audit,
        )
