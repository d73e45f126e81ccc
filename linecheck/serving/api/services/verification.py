"""A line's error-proofing verification, from its challenge parts' latest inspections."""

from __future__ import annotations

from datetime import datetime

from linecheck.errors import NotFoundError
from linecheck.serving.api.responses import ChallengePartOut, VerificationOut
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.store.db import Database
from linecheck.serving.store.models import Inspection, utcnow
from linecheck.serving.store.repositories import inspections as repo
from linecheck.verification import ChallengePart, PartRun, evaluate, met


def challenge_units(lines: LineRegistry, line_id: str | None = None) -> tuple[tuple[str, str], ...]:
    """(line id, code) of the challenge parts of ``line_id`` (None: of every line).

    The review and audit queues and the escape rate leave them out: their defects are known, and the
    verification judges them, not a reviewer.
    """
    return tuple(
        (lid, code)
        for lid, line in sorted(lines.all().items())
        if line.verification is not None and line_id in (None, lid)
        for code in line.verification.codes
    )


def line_verification(
    db: Database, lines: LineRegistry, line_id: str, now: datetime | None = None
) -> VerificationOut:
    """Where ``line_id``'s verification stands (404 when the line lists no challenge parts).

    Each part's latest inspection on this line counts, judged as the machine judged it: its verdict and
    the classes of the defects the model found (a reviewer's later decision does not make a red rabbit
    caught or missed). On a line with products, the parts of the product the line is on count, and only
    their inspections since that product's run began (:func:`linecheck.verification.evaluate`).
    """
    line = lines.require(line_id)
    config = line.verification
    if config is None:
        raise NotFoundError(f"line {line_id} lists no challenge parts (verification: in its YAML)")
    with db.reader() as session:
        latest = {}
        history: dict[str, list[Inspection]] = {}
        for inspection in repo.inspections_for_codes(session, config.codes):
            if inspection.line_id == line_id and inspection.code is not None:
                latest[inspection.code] = inspection  # capture order: the last one wins
                history.setdefault(inspection.code, []).append(inspection)
        classes: dict[str, set[str]] = {i.id: set() for runs in history.values() for i in runs}
        for defect in repo.defects_for_inspections(session, list(classes)):
            if defect.source == "model":
                classes[defect.inspection_id].add(defect.class_name)
        product, changeover_at = (
            repo.product_run(session, line_id, line.product_ids) if line.products else (None, None)
        )
    runs = {
        code: PartRun(
            captured_at=i.captured_at, verdict=i.verdict, classes=frozenset(classes[i.id]), inspection_id=i.id
        )
        for code, i in latest.items()
    }
    status = evaluate(config, runs, now or utcnow(), product=product, changeover_at=changeover_at)
    suspect_since = None
    if status.state == "failed":
        suspect_since = _last_met(
            [s.part for s in status.parts if s.met is False and s.current], history, classes
        )
    return VerificationOut(
        suspect_since=suspect_since,
        line_id=line_id,
        product=product,
        changeover_at=changeover_at,
        state=status.state,
        every_h=config.every_h,
        verified_at=status.verified_at,
        due_at=status.due_at,
        problem=status.problem(),
        parts=[
            ChallengePartOut(
                code=s.part.code,
                expect=s.part.expect,
                classes=list(s.part.classes),
                met=s.met,
                current=s.current,
                inspection_id=s.last.inspection_id if s.last else None,
                captured_at=s.last.captured_at if s.last else None,
                verdict=s.last.verdict if s.last else None,
                found_classes=sorted(s.last.classes) if s.last else [],
            )
            for s in status.parts
        ],
    )


def _last_met(
    missed: list[ChallengePart], history: dict[str, list[Inspection]], classes: dict[str, set[str]]
) -> datetime | None:
    """When the station was last known good for the missed parts (None: one of them never met it).

    That is the earliest, over those parts, of each one's last inspection that met its expectation
    before it was missed. Every unit made since then is suspect (hold them: ``POST /v1/holds``).
    """
    found: list[datetime] = []
    for part in missed:
        runs = history.get(part.code, [])[:-1]  # before the latest, which missed
        good = [i.captured_at for i in runs if met(part, i.verdict, classes.get(i.id, set()))]
        if not good:
            return None
        found.append(good[-1])
    return min(found) if found else None
