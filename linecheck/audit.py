"""Pass audits: a sample of the units the model passed, kept and checked by a person, to measure escapes.

A station's records say what it rejected; nothing says what it let through. A quality department samples
the passed units (AQL-style audit, 抽检) to find the defects the model missed, and reports the **escape
rate** measured on production: the share of audited passed units with a defect. The line YAML says how
many passed units are kept for audit::

    audit:
      pass_sample: 0.02        # 2 % of the passed units: their frames are uploaded with the record
      borderline: 0.1          # and every passed frame whose best detection came within 0.1 of its threshold

The rule the inspector applies (:func:`sampled`) is deterministic: a unit is in the sample when the hash of
its line and code falls below ``pass_sample``. Every frame of a sampled unit (every station of a bearing) is
kept, the choice does not depend on the model's verdict or on anything a person chooses, and re-running the
rule over stored records finds the same units. Web kinds (a fabric roll is one unit of many frames) sample
frames, not rolls: the hash is over the code and the frame number.

**Near misses** (``borderline``) are kept too: a passed frame whose most confident detection came within
``borderline`` of its class threshold (:func:`borderline_gap`). They are where escapes hide and what a
model learns most from (active learning), but they are chosen by the model's own scores: they are audited
and labelled like the sample, and never counted in the escape rate, which only the random sample
estimates without bias.

A reviewer audits each sampled frame: ``ok`` (no defect), or ``escape`` after drawing the defect the model
missed on the frame (it then counts in the unit's grade and as a label). :func:`escape_rate` turns the
counts into the rate and its 95 % Wilson score interval, as the API reports it per line and product.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

#: The two outcomes of an audit of one sampled frame.
AUDIT_OUTCOMES = ("ok", "escape")

#: z of the two-sided 95 % interval.
Z95 = 1.959963984540054


class AuditConfig(BaseModel):
    """How many of a line's passed units are kept for a person to audit (``audit:`` in a line YAML)."""

    model_config = ConfigDict(extra="forbid")

    pass_sample: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="share of passed units (web kinds: frames) whose frames are uploaded for audit",
    )
    borderline: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="a passed frame whose best detection scored within this of its class threshold is kept "
        "for audit too (a near miss; not in the escape rate); 0: off",
    )


def sample_point(line_id: str, code: str, frame_seq: int | None = None) -> float:
    """Where a unit (``frame_seq`` given: one frame of a web unit) falls in [0, 1): the hash of its names."""
    key = f"{line_id}\x1f{code}" if frame_seq is None else f"{line_id}\x1f{code}\x1f{frame_seq}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def sampled(config: AuditConfig | None, line_id: str, code: str | None, frame_seq: int | None = None) -> bool:
    """True when the unit of ``code`` on ``line_id`` is in the pass-audit sample (never without a code)."""
    if config is None or config.pass_sample <= 0.0 or code is None:
        return False
    return sample_point(line_id, code, frame_seq) < config.pass_sample


def borderline_gap(scores: Sequence[float], thresholds: Sequence[float]) -> float | None:
    """How far below its threshold the best detection under threshold came (0.03: 0.03 short; None: none)."""
    gaps = [t - s for s, t in zip(scores, thresholds, strict=True) if s < t]
    return min(gaps) if gaps else None


def near_miss(config: AuditConfig | None, gap: float | None) -> bool:
    """True when a passed frame whose best detection was ``gap`` short of its threshold is a near miss."""
    return config is not None and config.borderline > 0.0 and gap is not None and gap <= config.borderline


@dataclass(frozen=True, kw_only=True, slots=True)
class EscapeRate:
    """Escapes found among audited passed units, with the 95 % Wilson score interval of the rate."""

    audited: int
    escapes: int
    rate: float | None
    low: float | None
    high: float | None


def escape_rate(escapes: int, audited: int, z: float = Z95) -> EscapeRate:
    """The escape rate ``escapes / audited`` and its Wilson score interval (None when nothing was audited).

    The Wilson interval (Wilson 1927) keeps its coverage at rates near zero, where an escape rate lives
    and the normal approximation's interval would reach below 0: 0 escapes in 200 audits is a rate of 0
    with an upper bound of about 1.9 %, not "no escapes".
    """
    if not 0 <= escapes <= audited:
        raise ValueError(f"escapes={escapes} must be between 0 and audited={audited}")
    if audited == 0:
        return EscapeRate(audited=0, escapes=0, rate=None, low=None, high=None)
    p = escapes / audited
    z2 = z * z
    centre = (p + z2 / (2 * audited)) / (1 + z2 / audited)
    half = z * math.sqrt(p * (1 - p) / audited + z2 / (4 * audited * audited)) / (1 + z2 / audited)
    return EscapeRate(
        audited=audited, escapes=escapes, rate=p, low=max(0.0, centre - half), high=min(1.0, centre + half)
    )
