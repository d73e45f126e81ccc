"""A unit's verdict: its grade after review, and whether review released (or failed) it.

This one function is what the grade endpoint, the trace, the line statistics (fail rate) and the
kiosk all report, so they cannot disagree. The grade is the line kind's
(:meth:`linecheck.kinds.KindSpec.grade_unit`), with the config of the product the unit was judged
as (:mod:`linecheck.serving.api.services.products`), computed twice over the stored defects:

* **as inspected**: the model's defects with the model's classes and boxes, nothing excluded;
* **after review**: rejected defects left out, reclassified ones with their new class, moved boxes
  at their corrected place, defects a reviewer drew counted too.

A unit's ``status`` is then ``accepted`` (the grade accepts it and did so as inspected),
``released`` (released by review: rejected as inspected, accepted after review), ``failed``
(the grade after review does not accept it) or ``not_inspected`` (no frame of it was inspected:
it is not known to be good, so it never counts as accepted).

**Rework.** A unit sent to rework (a ``reworked`` process event) and inspected again after it is graded
on those later inspections only: what the earlier ones found was reworked away. Until it is inspected
again, every inspection counts, so it keeps the grade that sent it to rework. The trace keeps them all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import ValidationError
from sqlalchemy.orm import Session

from linecheck.config import LineConfig
from linecheck.errors import LinecheckError
from linecheck.kinds import Grade, KindSpec, StoredDefect, StoredInspection, get_kind
from linecheck.serving.api.services.audit import trusted_defect
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.products import unit_config
from linecheck.serving.store.repositories import reviews as review_repo
from linecheck.serving.store.repositories import units as unit_repo

UnitStatus = Literal["accepted", "released", "failed", "not_inspected"]
UNIT_STATUSES: tuple[UnitStatus, ...] = ("accepted", "released", "failed", "not_inspected")
#: What each status means, for the API docs and the pages.
STATUS_TEXT: dict[UnitStatus, str] = {
    "accepted": "accepted by its grade",
    "released": "released by review: failed as inspected, accepted after review",
    "failed": "failed: its grade after review does not accept it",
    "not_inspected": "not inspected: no frame of it could be inspected",
}


class InspectionFacts(Protocol):
    """What the verdict needs of an inspection (a stored row or an ``InspectionOut``)."""

    @property
    def id(self) -> str: ...  # noqa: D102

    @property
    def verdict(self) -> str: ...  # noqa: D102

    @property
    def roll_offset_m(self) -> float | None: ...  # noqa: D102

    @property
    def captured_at(self) -> datetime: ...  # noqa: D102

    @property
    def product(self) -> str | None: ...  # noqa: D102


class DefectFacts(Protocol):
    """What the verdict needs of a defect (a stored row or a ``DefectOut``)."""

    @property
    def inspection_id(self) -> str: ...  # noqa: D102

    @property
    def class_name(self) -> str: ...  # noqa: D102

    @property
    def final_class(self) -> str: ...  # noqa: D102

    @property
    def review_state(self) -> str: ...  # noqa: D102

    @property
    def location(self) -> Mapping[str, Any] | None: ...  # noqa: D102

    @property
    def final_location(self) -> Mapping[str, Any] | None: ...  # noqa: D102

    @property
    def source(self) -> str: ...  # noqa: D102


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitVerdict:
    """The verdict of one unit and the counts behind it."""

    code: str
    line_id: str
    kind: str
    #: The line's product the unit was graded as (None: the line's own config).
    product: str | None
    status: UnitStatus
    grade: Grade
    inspected_grade: Grade
    frames: int
    frames_failed: int
    frames_not_inspected: int
    defects_counted: int
    defects_excluded: int
    defects_pending: int
    defects_added: int
    #: The rework whose re-inspection the grade counts (None: no rework, or not re-inspected since).
    reworked_at: datetime | None = None
    #: Frames inspected before that rework, not counted.
    frames_superseded: int = 0

    @property
    def accepted(self) -> bool:
        """Whether the unit may ship: accepted, or released by review."""
        return self.status in ("accepted", "released")


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _readable(spec: KindSpec[Any], location: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """``location`` when the kind's location model accepts it, else None (the defect is unlocated)."""
    if not location:
        return location
    try:
        spec.location_model.model_validate(location)
    except ValidationError:
        return None
    return location


def unit_verdict(
    line: LineConfig,
    code: str,
    inspections: Sequence[InspectionFacts],
    defects: Sequence[DefectFacts],
    reworked_at: datetime | None = None,
) -> UnitVerdict:
    """The verdict of ``code`` from its stored inspections and defects (pure: no I/O).

    ``line`` is the unit's line; the unit is graded with its product's config (:func:`.products.unit_config`).
    ``reworked_at``: when it was last reworked; once inspected after it, only those inspections count.
    """
    after = [i for i in inspections if reworked_at is not None and i.captured_at > reworked_at]
    superseded = 0
    if after:
        superseded = len(inspections) - len(after)
        kept = {i.id for i in after}
        inspections, defects = after, [d for d in defects if d.inspection_id in kept]
    else:
        reworked_at = None
    line = unit_config(line, inspections)
    spec = get_kind(line.kind)
    stored = [
        StoredInspection(id=i.id, verdict=i.verdict, roll_offset_m=i.roll_offset_m) for i in inspections
    ]
    as_inspected = [
        StoredDefect(class_name=d.class_name, location=d.location, inspection_id=d.inspection_id)
        for d in defects
        if d.source == "model"
    ]
    counted = [d for d in defects if d.review_state != "rejected"]
    after_review = [
        StoredDefect(
            class_name=d.final_class,
            location=d.final_location if d.final_location is not None else d.location,
            inspection_id=d.inspection_id,
        )
        for d in counted
    ]
    try:
        grade = spec.grade_unit(stored, after_review, line.options)
        inspected_grade = spec.grade_unit(stored, as_inspected, line.options)
    except (LinecheckError, ValueError, ArithmeticError):
        # A row written below the API (or before it checked as it does now) holds a value the kind
        # cannot grade with: grade again with what it can read, rather than fail every read of the unit.
        stored = [replace(i, roll_offset_m=_finite(i.roll_offset_m)) for i in stored]
        after_review = [replace(d, location=_readable(spec, d.location)) for d in after_review]
        as_inspected = [replace(d, location=_readable(spec, d.location)) for d in as_inspected]
        grade = spec.grade_unit(stored, after_review, line.options)
        inspected_grade = spec.grade_unit(stored, as_inspected, line.options)
    not_inspected = sum(i.verdict == "not_inspected" for i in inspections)
    status: UnitStatus
    if not inspections or not_inspected == len(inspections):
        status = "not_inspected"
    elif not grade.accepted:
        status = "failed"
    else:
        status = "accepted" if inspected_grade.accepted else "released"
    return UnitVerdict(
        code=code,
        line_id=line.id,
        kind=line.kind,
        product=line.product,
        status=status,
        grade=grade,
        inspected_grade=inspected_grade,
        frames=len(inspections),
        frames_failed=sum(i.verdict == "fail" for i in inspections),
        frames_not_inspected=not_inspected,
        defects_counted=len(counted),
        defects_excluded=len(defects) - len(counted),
        defects_pending=sum(d.review_state == "pending" for d in defects),
        defects_added=sum(d.source != "model" for d in defects),
        reworked_at=reworked_at,
        frames_superseded=superseded,
    )


def verdicts_for_codes(session: Session, lines: LineRegistry, codes: Sequence[str]) -> dict[str, UnitVerdict]:
    """Verdicts of the units among ``codes`` (codes that are no unit are left out)."""
    facts = unit_repo.unit_facts(session, codes)
    by_code: dict[str, list[Any]] = {}
    code_of: dict[str, str] = {}
    for row in facts.inspections:
        by_code.setdefault(row.code, []).append(row)
        code_of[row.id] = row.code
    # the state a defect's reviews support, not the row's copy of it (changed below the API, it would lie)
    history = review_repo.reviews_for_defects(session, [row.id for row in facts.defects])
    defects_of: dict[str, list[Any]] = {}
    for row in facts.defects:
        defects_of.setdefault(code_of[row.inspection_id], []).append(
            trusted_defect(row, history.get(row.id, ()))
        )
    verdicts: dict[str, UnitVerdict] = {}
    for code, line_id in facts.units.items():
        line = lines.require(line_id)
        verdicts[code] = unit_verdict(
            line, code, by_code.get(code, []), defects_of.get(code, []), facts.reworked.get(code)
        )
    return verdicts
