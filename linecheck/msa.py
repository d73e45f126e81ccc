"""Attribute measurement system analysis (MSA) of a vision station: how well it decides reference parts.

A quality system treats an inspection station as a gauge (IATF 16949 7.1.5.1.1), and an accept/reject
gauge is studied as an **attribute** gauge: reference parts whose true state is known (good, or bad with a
known defect) are run through it several times, and each decision is compared with the truth (AIAG MSA,
4th edition, the analytic / signal-detection table of an attribute study). The figures:

* **effectiveness**: correct decisions / all decisions;
* **miss rate**: bad parts accepted / decisions on bad parts (an escape of the gauge);
* **false alarm rate**: good parts rejected / decisions on good parts;
* **repeatability**: the share of parts decided the same way on every trial;
* **kappa** (Cohen's): the agreement of the decisions with the truth beyond what chance gives.

The manual's acceptance criteria: *acceptable* with effectiveness >= 90 %, miss rate <= 2 % and false
alarm rate <= 5 %; *marginal* with >= 80 %, <= 5 % and <= 10 %; else *unacceptable*. A study without both
good and bad parts, or with fewer than two trials of a part, cannot show what it must: *insufficient*.

A line's challenge parts (:mod:`linecheck.verification`) run every shift are such a study over time: the
API computes it over any period from their stored inspections, or over a formal study's own list of
reference parts. Rates carry their 95 % Wilson interval (:func:`linecheck.audit.escape_rate`): 0 misses in
40 trials is not a miss rate of 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from linecheck.audit import EscapeRate, escape_rate

Expect = Literal["pass", "fail"]
MsaVerdict = Literal["acceptable", "marginal", "unacceptable", "insufficient"]

#: (effectiveness >=, miss rate <=, false alarm rate <=) of AIAG MSA's attribute study, per verdict.
CRITERIA: dict[str, tuple[float, float, float]] = {
    "acceptable": (0.90, 0.02, 0.05),
    "marginal": (0.80, 0.05, 0.10),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class PartTrials:
    """One reference part: its truth and the station's decisions on it (``pass`` / ``fail``, in order)."""

    code: str
    expect: Expect
    decisions: tuple[str, ...]
    #: Trials the station could not decide (``not_inspected``): not decisions, counted apart.
    undecided: int = 0

    @property
    def correct(self) -> int:
        """Decisions that match the truth."""
        return sum(d == self.expect for d in self.decisions)

    @property
    def repeatable(self) -> bool | None:
        """Every trial decided the same way (None: fewer than two decisions)."""
        return len(set(self.decisions)) == 1 if len(self.decisions) >= 2 else None


@dataclass(frozen=True, kw_only=True, slots=True)
class AttributeStudy:
    """The figures of an attribute study and its verdict (``problems``: why it is not acceptable)."""

    parts: tuple[PartTrials, ...]
    decisions: int
    correct: int
    effectiveness: float | None
    misses: EscapeRate
    false_alarms: EscapeRate
    repeatability: float | None
    kappa: float | None
    verdict: MsaVerdict
    problems: tuple[str, ...]


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of (truth, decision) pairs over the two categories (None: no pair, or chance is 1)."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(t == d for t, d in pairs) / n
    chance = sum(
        (sum(t == c for t, _ in pairs) / n) * (sum(d == c for _, d in pairs) / n) for c in ("pass", "fail")
    )
    return None if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def _verdict(
    effectiveness: float, misses: EscapeRate, false_alarms: EscapeRate
) -> tuple[MsaVerdict, tuple[str, ...]]:
    miss, alarm = misses.rate or 0.0, false_alarms.rate or 0.0
    for verdict, (e_min, miss_max, alarm_max) in CRITERIA.items():
        if effectiveness >= e_min and miss <= miss_max and alarm <= alarm_max:
            return verdict, ()  # type: ignore[return-value]
    e_min, miss_max, alarm_max = CRITERIA["marginal"]
    problems = []
    if effectiveness < e_min:
        problems.append(f"effectiveness {effectiveness:.1%} is under {e_min:.0%}")
    if miss > miss_max:
        problems.append(f"miss rate {miss:.1%} is over {miss_max:.0%}: bad parts are accepted")
    if alarm > alarm_max:
        problems.append(f"false alarm rate {alarm:.1%} is over {alarm_max:.0%}: good parts are rejected")
    return "unacceptable", tuple(problems)


def attribute_study(parts: Sequence[PartTrials]) -> AttributeStudy:
    """The study of these parts' decisions (the module's figures and verdict)."""
    pairs = [(p.expect, d) for p in parts for d in p.decisions]
    bad = [d for p in parts if p.expect == "fail" for d in p.decisions]
    good = [d for p in parts if p.expect == "pass" for d in p.decisions]
    misses = escape_rate(sum(d == "pass" for d in bad), len(bad))
    false_alarms = escape_rate(sum(d == "fail" for d in good), len(good))
    correct = sum(t == d for t, d in pairs)
    repeat = [p.repeatable for p in parts if p.repeatable is not None]
    effectiveness = correct / len(pairs) if pairs else None
    problems: list[str] = []
    if not bad:
        problems.append("no decision on a bad part (expect: fail): the miss rate is unknown")
    if not good:
        problems.append("no decision on a good part (expect: pass): the false alarm rate is unknown")
    once = [p.code for p in parts if len(p.decisions) < 2]
    if once:
        problems.append(f"part(s) decided fewer than twice: {', '.join(once[:10])}: repeatability is unknown")
    verdict: MsaVerdict = "insufficient"
    if not problems and effectiveness is not None:
        verdict, found = _verdict(effectiveness, misses, false_alarms)
        problems.extend(found)
    return AttributeStudy(
        parts=tuple(parts),
        decisions=len(pairs),
        correct=correct,
        effectiveness=effectiveness,
        misses=misses,
        false_alarms=false_alarms,
        repeatability=sum(repeat) / len(repeat) if repeat else None,
        kappa=cohen_kappa(pairs),
        verdict=verdict,
        problems=tuple(problems),
    )


def trials_of(expectations: Mapping[str, Expect], verdicts: Mapping[str, Sequence[str]]) -> list[PartTrials]:
    """Each reference part's trials from its stored verdicts (``pass`` / ``fail`` / ``not_inspected``)."""
    return [
        PartTrials(
            code=code,
            expect=expect,
            decisions=tuple(v for v in verdicts.get(code, ()) if v in ("pass", "fail")),
            undecided=sum(v not in ("pass", "fail") for v in verdicts.get(code, ())),
        )
        for code, expect in expectations.items()
    ]
