"""Reviewer statistics: decisions per reviewer, and agreement where two reviewed the same defect.

A reviewer's outcome on a defect is their own decisions replayed (their undo takes back their
own decision): ``rejected``, or kept as a class. Two reviewers agree on a defect when they end on
the same outcome.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from linecheck.errors import InvalidFieldError
from linecheck.serving.api.responses import ReviewerOut, ReviewerStatsOut
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories.actors import actor_names
from linecheck.serving.store.repositories.exports import reviews_between
from linecheck.serving.store.review_state import replay

MAX_PERIOD = timedelta(days=366)


def _outcome(rows: list[Any]) -> tuple[str, str] | None:
    current = replay(rows[0].class_name, rows[0].source, rows)
    if current.decisions == 0:
        return None
    return ("rejected", "") if current.state == "rejected" else ("kept", current.final_class)


def reviewer_stats(
    db: Database, *, since: datetime | None, until: datetime | None, line_id: str | None
) -> ReviewerStatsOut:
    """Decisions per reviewer in [since, until) (default: the last 30 days) and their agreement."""
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=30)
    if since >= until or until - since > MAX_PERIOD:
        raise InvalidFieldError(
            "since", since.isoformat(), f"expected before until, at most {MAX_PERIOD.days} days"
        )
    with db.reader() as session:
        rows = reviews_between(session, since, until, line_id=line_id)
        names = actor_names(session, {row.reviewer for row in rows})
    decisions: dict[str, Counter[str]] = {}
    per_defect: dict[int, dict[str, list[Any]]] = {}
    for row in rows:
        decisions.setdefault(row.reviewer, Counter())[row.decision] += 1
        per_defect.setdefault(row.defect_id, {}).setdefault(row.reviewer, []).append(row)
    compared: Counter[str] = Counter()
    agreed: Counter[str] = Counter()
    defects_of: Counter[str] = Counter()
    both = agree = 0
    for by_reviewer in per_defect.values():
        for reviewer in by_reviewer:
            defects_of[reviewer] += 1
        outcomes = {r: o for r, found in by_reviewer.items() if (o := _outcome(found)) is not None}
        if len(outcomes) < 2:
            continue
        same = len(set(outcomes.values())) == 1
        both += 1
        agree += same
        for reviewer in outcomes:
            compared[reviewer] += 1
            agreed[reviewer] += same
    reviewers = [
        ReviewerOut(
            reviewer=reviewer,
            name=names.get(reviewer),
            decisions=dict(sorted(counts.items())),
            defects=defects_of[reviewer],
            compared=compared[reviewer],
            agreed=agreed[reviewer],
        )
        for reviewer, counts in sorted(decisions.items(), key=lambda kv: (-kv[1].total(), kv[0]))
    ]
    return ReviewerStatsOut(
        since=since,
        until=until,
        line_id=line_id,
        reviews=len(rows),
        reviewers=reviewers,
        defects_compared=both,
        defects_agreed=agree,
        agreement=agree / both if both else None,
    )
