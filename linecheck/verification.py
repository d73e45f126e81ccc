"""Error-proofing verification: known parts that prove, every shift, that the line still catches defects.

A quality system does not take a vision station's word that it works. At the start of each shift (IATF
16949's verification of error-proofing) the operator runs **challenge parts** through it: a part with a
known defect (a "red rabbit", which must be rejected, with that defect) and a known good part (which must
pass). Each carries its own code, so the line recognises it. The line YAML lists them::

    verification:
      every_h: 8                         # a passed verification is due again after 8 h (one shift)
      parts:
        - {code: BR9900000001, expect: fail, classes: [scratch]}   # must fail, a scratch among its defects
        - {code: BR9900000002, expect: pass}                        # must pass

**After a changeover** (a line with ``products:``): the station must prove itself again on the new product
before its units count as verified (IATF 16949 verifies error-proofing at start-up and at changeover). A
part may name the products it is a challenge part of (``products: [6205-2RS]``; unset: every product);
the line's verification covers the parts of the product it is on, and only their inspections since
that product's run began (``changeover_at``: the first inspection of the product after one of another)
count. Run the new product's challenge parts right after the changeover: they start the product's run.

The rule both the inspector (which tells the operator at once) and the API (which keeps the record and
answers ``GET /v1/lines/{id}/verification``) apply lives here: :func:`met` says whether one inspection of a
part met its expectation, :func:`evaluate` says where the line stands from each part's latest inspection:

* ``failed``: some part's latest inspection did not meet its expectation (a red rabbit passed): the station
  is not error-proof until a verification passes again;
* ``due``: some part has no inspection within ``every_h`` (never run, or too long ago);
* ``verified``: every part met its expectation within ``every_h``; ``due_at`` says until when.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

VerificationState = Literal["verified", "due", "failed"]


class ChallengePart(BaseModel):
    """A challenge part: its code, the verdict it must get, the classes it must show (a defective part)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=128)
    expect: Literal["pass", "fail"]
    classes: list[str] = Field(
        default_factory=list, description="(expect: fail) classes that must be among the part's defects"
    )
    products: list[str] = Field(
        default_factory=list,
        description="the line's products this is a challenge part of (empty: every product)",
    )

    def applies_to(self, product: str | None) -> bool:
        """Whether the part is a challenge part of ``product`` (None: the line's own config)."""
        return not self.products or product in self.products

    @model_validator(mode="after")
    def _classes_only_for_a_defective_part(self) -> ChallengePart:
        if self.classes and self.expect == "pass":
            raise ValueError(f"part {self.code}: classes {self.classes} given for a part that must pass")
        return self


class VerificationConfig(BaseModel):
    """A line's challenge parts and how often they must be run (``verification:`` in a line YAML)."""

    model_config = ConfigDict(extra="forbid")

    every_h: float = Field(8.0, gt=0, le=24 * 31, description="hours a passed verification holds")
    parts: list[ChallengePart] = Field(min_length=1)
    auto_hold: bool = Field(
        False,
        description="when a part is missed, the API holds the units made since the station was last known "
        "good (or over the last every_h, when it never was), at once",
    )

    @model_validator(mode="after")
    def _codes_once(self) -> VerificationConfig:
        codes = [p.code for p in self.parts]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"parts list code(s) {twice} more than once")
        return self

    @property
    def codes(self) -> list[str]:
        """The challenge parts' codes, in the YAML's order."""
        return [p.code for p in self.parts]

    def part(self, code: str | None) -> ChallengePart | None:
        """The challenge part with ``code``, if it is one."""
        return next((p for p in self.parts if p.code == code), None)


@dataclass(frozen=True, slots=True)
class PartRun:
    """One inspection of a challenge part: when, the verdict and the classes of its defects."""

    captured_at: datetime
    verdict: str
    classes: frozenset[str]
    inspection_id: str | None = None


def met(part: ChallengePart, verdict: str, classes: Collection[str]) -> bool:
    """Whether an inspection with ``verdict`` and defects of ``classes`` met ``part``'s expectation."""
    if part.expect == "pass":
        return verdict == "pass"
    return verdict == "fail" and set(part.classes) <= set(classes)


@dataclass(frozen=True, slots=True)
class PartStatus:
    """A part and its latest inspection (None: never inspected), and whether that met the expectation."""

    part: ChallengePart
    last: PartRun | None
    met: bool | None
    current: bool


@dataclass(frozen=True, slots=True)
class VerificationStatus:
    """Where a line stands: its state, when its verification completed and until when it holds, each part."""

    state: VerificationState
    verified_at: datetime | None
    due_at: datetime | None
    parts: Sequence[PartStatus]
    product: str | None = None
    changeover_at: datetime | None = None

    def problem(self) -> str | None:
        """What is wrong, in words (None when verified)."""
        if self.state == "failed":
            missed = [s for s in self.parts if s.met is False]
            return "; ".join(f"challenge part {s.part.code} {_missed(s)}" for s in missed)
        if self.state == "due":
            if not self.parts:
                return (
                    f"no challenge part is listed for product {self.product} (verification.parts[].products)"
                )
            late = [s.part.code for s in self.parts if not s.current]
            since = self.changeover_at
            if since is not None and any(
                s.last is not None and s.last.captured_at < since for s in self.parts
            ):
                return (
                    f"challenge part(s) {', '.join(late)} not run since the changeover to product "
                    f"{self.product} at {since.isoformat(timespec='seconds')}"
                )
            return f"challenge part(s) {', '.join(late)} not run within the verification interval"
        return None


def _missed(status: PartStatus) -> str:
    last = status.last
    assert last is not None
    wanted = status.part.expect + (f" with {', '.join(status.part.classes)}" if status.part.classes else "")
    found = last.verdict + (f" with {', '.join(sorted(last.classes))}" if last.classes else "")
    return f"was judged {found}, expected {wanted}"


def evaluate(
    config: VerificationConfig,
    latest: Mapping[str, PartRun],
    now: datetime,
    *,
    product: str | None = None,
    changeover_at: datetime | None = None,
) -> VerificationStatus:
    """The line's verification from each part's latest inspection (``latest``: code -> run) at ``now``.

    ``product``: the product the line is on (its parts are the ones that count); ``changeover_at``: when
    its run began (None: no changeover seen), before which no part's inspection counts.
    """
    window = timedelta(hours=config.every_h)
    parts = []
    for part in config.parts:
        if not part.applies_to(product):
            continue
        run = latest.get(part.code)
        ok = None if run is None else met(part, run.verdict, run.classes)
        current = (
            run is not None
            and now - run.captured_at <= window
            and (changeover_at is None or run.captured_at >= changeover_at)
        )
        parts.append(PartStatus(part=part, last=run, met=ok, current=current))
    found = {"parts": parts, "product": product, "changeover_at": changeover_at}
    if any(p.met is False for p in parts):
        return VerificationStatus(state="failed", verified_at=None, due_at=None, **found)  # type: ignore[arg-type]
    if parts and all(p.met and p.current for p in parts):
        runs = [p.last.captured_at for p in parts if p.last is not None]
        return VerificationStatus(
            state="verified",
            verified_at=max(runs),
            due_at=min(runs) + window,
            **found,  # type: ignore[arg-type]
        )
    return VerificationStatus(state="due", verified_at=None, due_at=None, **found)  # type: ignore[arg-type]
