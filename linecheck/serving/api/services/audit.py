"""The review audit trail checked: the hash chain, and each defect's row against its replayed reviews.

Two views of the same checks: :func:`unit_audit` for the reviews behind one trace (a few indexed
queries), :func:`verify_reviews` for the whole store (``linecheck db verify``: every review in
id order, every defect in pages; constant memory).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from linecheck.serving.api.responses import AuditOut
from linecheck.serving.store import audit
from linecheck.serving.store.repositories import reviews as review_repo
from linecheck.serving.store.review_state import disagreement, replay, trusted_location

#: Defects compared per page by :func:`verify_reviews`.
_PAGE = 2000


@dataclass(frozen=True, kw_only=True, slots=True)
class TrustedDefect:
    """What a unit's verdict needs of a defect, with the state its reviews support."""

    inspection_id: str
    class_name: str
    final_class: str
    review_state: str
    location: Mapping[str, Any] | None
    final_location: Mapping[str, Any] | None
    source: str


def trusted_defect(row: Row[Any], history: Sequence[Row[Any]]) -> TrustedDefect:
    """``row`` as its reviews say it is (the row's own state copy is not trusted)."""
    current = replay(row.class_name, row.source, history)
    return TrustedDefect(
        inspection_id=row.inspection_id,
        class_name=row.class_name,
        final_class=current.final_class,
        review_state=current.state,
        location=row.location,
        final_location=trusted_location(row.final_bbox, row.final_location, current),
        source=row.source,
    )


def defect_problem(defect: Row[Any], history: Sequence[Row[Any]]) -> str | None:
    """How ``defect``'s row disagrees with its reviews (None: it agrees)."""
    found = disagreement(
        defect.review_state,
        defect.final_class,
        defect.final_bbox,
        replay(defect.class_name, defect.source, history),
    )
    return None if found is None else f"defect {defect.id}: {found}"


def unit_audit(
    session: Session, defects: Sequence[Row[Any]], history: Mapping[int, Sequence[Row[Any]]]
) -> AuditOut:
    """The chain links of these defects' reviews and their rows' state (one more indexed query)."""
    reviews = sorted((r for rows in history.values() for r in rows), key=lambda r: int(r.id))
    before = review_repo.predecessor_hashes(session, [r.id for r in reviews])
    problems = [str(p) for r in reviews for p in audit.check_link(dict(r._mapping), before.get(r.id))]
    for defect in defects:
        problem = defect_problem(defect, history.get(defect.id, ()))
        if problem is not None:
            problems.append(problem)
    return AuditOut(ok=not problems, reviews_checked=len(reviews), problems=problems)


@dataclass(frozen=True, kw_only=True, slots=True)
class ReviewsReport:
    """The chain over every review, the defects checked against their reviews, and the anchors."""

    chain: audit.ChainReport
    defects_checked: int
    defect_problems: list[str]
    anchors_missing: list[str]

    @property
    def ok(self) -> bool:
        """Nothing broken, every anchor found."""
        return not self.chain.problems and not self.defect_problems and not self.anchors_missing


def verify_reviews(session: Session, *, anchors: Iterable[str] = ()) -> ReviewsReport:
    """Walk the whole chain and compare every defect with its replayed reviews."""
    wanted = list(dict.fromkeys(anchors))
    chain = audit.check_chain(audit.all_reviews(session), anchors=wanted)
    checked = 0
    problems: list[str] = []
    last = 0
    while True:
        page = review_repo.defect_states(session, after_id=last, limit=_PAGE)
        if not page:
            break
        history = review_repo.reviews_for_defects(session, [d.id for d in page])
        for defect in page:
            problem = defect_problem(defect, history.get(defect.id, ()))
            if problem is not None:
                problems.append(problem)
        checked += len(page)
        last = page[-1].id
    missing = [a for a in wanted if a not in chain.anchors_found]
    return ReviewsReport(
        chain=chain, defects_checked=checked, defect_problems=problems, anchors_missing=missing
    )
