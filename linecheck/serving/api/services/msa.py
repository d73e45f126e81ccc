"""A station's attribute MSA from stored inspections: its challenge parts over a period, or a posted study.

The rule is :mod:`linecheck.msa`; a trial is an inspection of a reference part's code on the line in the
period, decided as the machine decided it (its verdict; a reviewer's later decision does not change it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from linecheck.audit import EscapeRate
from linecheck.errors import NotFoundError
from linecheck.msa import Expect, attribute_study, trials_of
from linecheck.serving.api.msa_responses import MsaOut, MsaPartOut, RateOut
from linecheck.serving.api.schemas import MsaStudyIn
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.stats import check_period
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories import inspections as repo

#: The period of a line's running study when none is given, and the longest one.
DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    return check_period(since, until, default=DEFAULT_PERIOD, longest=MAX_PERIOD)


def _rate(found: EscapeRate) -> RateOut:
    return RateOut(count=found.escapes, of=found.audited, rate=found.rate, low=found.low, high=found.high)


def _study(
    db: Database,
    line_id: str,
    expectations: Mapping[str, Expect],
    since: datetime,
    until: datetime,
    source: str,
) -> MsaOut:
    verdicts: dict[str, list[str]] = {}
    with db.reader() as session:
        for inspection in repo.inspections_for_codes(session, list(expectations)):
            if inspection.line_id == line_id and since <= inspection.captured_at < until and inspection.code:
                verdicts.setdefault(inspection.code, []).append(inspection.verdict)  # capture order
    study = attribute_study(trials_of(expectations, verdicts))
    return MsaOut.model_validate(
        {
            "line_id": line_id,
            "source": source,
            "since": since,
            "until": until,
            "verdict": study.verdict,
            "problems": list(study.problems),
            "decisions": study.decisions,
            "correct": study.correct,
            "effectiveness": study.effectiveness,
            "misses": _rate(study.misses),
            "false_alarms": _rate(study.false_alarms),
            "repeatability": study.repeatability,
            "kappa": study.kappa,
            "parts": [
                MsaPartOut(
                    code=p.code,
                    expect=p.expect,
                    decisions=list(p.decisions),
                    correct=p.correct,
                    not_inspected=p.undecided,
                    repeatable=p.repeatable,
                )
                for p in study.parts
            ],
        }
    )


def line_msa(
    db: Database, lines: LineRegistry, line_id: str, *, since: datetime | None, until: datetime | None
) -> MsaOut:
    """The study of ``line_id``'s challenge parts over the period (default: the last 30 days)."""
    line = lines.require(line_id)
    if line.verification is None:
        raise NotFoundError(
            f"line {line_id} lists no challenge parts (verification: in its YAML): POST /v1/msa with the "
            "reference parts of a study"
        )
    since, until = _period(since, until)
    expectations: dict[str, Expect] = {p.code: p.expect for p in line.verification.parts}
    return _study(db, line_id, expectations, since, until, "challenge_parts")


def study_msa(db: Database, lines: LineRegistry, body: MsaStudyIn) -> MsaOut:
    """The study of the posted reference parts on their line."""
    lines.require_field(body.line_id)
    since, until = _period(body.since, body.until)
    expectations: dict[str, Expect] = {p.code: p.expect for p in body.parts}
    return _study(db, body.line_id, expectations, since, until, "study")
