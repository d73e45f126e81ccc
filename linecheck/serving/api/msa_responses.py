"""Response bodies of the attribute MSA of a station (:mod:`linecheck.msa`, :mod:`.services.msa`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from linecheck.serving.api.responses import _Out


class RateOut(_Out):
    """A rate of the study with its 95 % Wilson interval (null: no decision it could count)."""

    count: int = Field(description="misses (bad parts accepted) or false alarms (good parts rejected)")
    of: int = Field(description="decisions on bad parts (misses) or on good parts (false alarms)")
    rate: float | None
    low: float | None
    high: float | None


class MsaPartOut(_Out):
    """A reference part's trials."""

    code: str
    expect: Literal["pass", "fail"]
    decisions: list[str] = Field(description="the station's decisions (pass / fail), in capture order")
    correct: int
    not_inspected: int = Field(description="trials the station could not decide: no decision, counted apart")
    repeatable: bool | None = Field(
        description="decided alike on every trial (null: fewer than two decisions)"
    )


class MsaOut(_Out):
    """An attribute study of a line's station (AIAG MSA): effectiveness, misses, false alarms, kappa."""

    line_id: str
    source: Literal["challenge_parts", "study"] = Field(
        description="challenge_parts: the line's verification parts over the period; study: the parts posted"
    )
    since: datetime
    until: datetime
    verdict: Literal["acceptable", "marginal", "unacceptable", "insufficient"] = Field(
        description="acceptable: effectiveness >= 90 %, miss rate <= 2 %, false alarms <= 5 %; marginal: "
        ">= 80 %, <= 5 %, <= 10 %; insufficient: no good or no bad part decided, or a part decided once"
    )
    problems: list[str] = Field(description="why it is not acceptable, in words")
    decisions: int
    correct: int
    effectiveness: float | None = Field(description="correct decisions / decisions")
    misses: RateOut = Field(description="bad parts accepted / decisions on bad parts")
    false_alarms: RateOut = Field(description="good parts rejected / decisions on good parts")
    repeatability: float | None = Field(description="share of parts decided alike on every trial")
    kappa: float | None = Field(description="Cohen's kappa of the decisions against the truth")
    parts: list[MsaPartOut]
