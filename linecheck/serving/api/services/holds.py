"""Holds: containment of the units made while a line could not be trusted.

When a challenge part is missed (the station was not error-proof), an audit finds an escape, or a
customer complains, every unit the line made since it was last known good is suspect (IATF 16949's
control of nonconforming product: suspect product is identified and contained). A reviewer places a
**hold** on a line (a product of it) over a period: the units with an inspection in it may not ship
until each one is

* **re-inspected**: inspected again, on any line, after the hold was placed; its grade then decides
  (a failing re-inspection fails the unit), or
* **released** by a person, one unit or the whole hold, with the reason (a sorting result, an
  engineering decision).

Holds and releases are quality records: only ever added (the database refuses changes). A unit's grade
(``GET /v1/units/{code}/grade``, the trace) lists the holds it is in and ``may_ship``: accepted (or
released by review) and held by none. The lines' challenge parts are never held: they are not product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from linecheck.errors import InvalidFieldError, NotFoundError, StateConflictError
from linecheck.serving.api.auth import require_line
from linecheck.serving.api.epcis import HoldFact
from linecheck.serving.api.hold_responses import (
    HoldContainerOut,
    HoldContainersOut,
    HoldOut,
    HoldPageOut,
    HoldReleaseOut,
    HoldUnitOut,
    HoldUnitPageOut,
)
from linecheck.serving.api.responses import HoldUnitState, UnitHoldOut, VerificationOut
from linecheck.serving.api.schemas import HoldIn, HoldReleaseIn
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.queries import COUNT_CAP
from linecheck.serving.api.services.verdicts import verdicts_for_codes
from linecheck.serving.api.services.verification import line_verification
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import Hold, HoldRelease, utcnow
from linecheck.serving.store.repositories import genealogy as genealogy_repo
from linecheck.serving.store.repositories import holds as repo
from linecheck.serving.store.repositories.actors import actor_names

#: The longest period one hold covers (a month's production; hold a longer one as several).
MAX_HOLD_PERIOD = timedelta(days=31)
#: How far past the API's clock ``until`` may lie (a PC whose clock runs a little ahead).
CLOCK_SLACK = timedelta(minutes=5)


def _challenge_codes(lines: LineRegistry, line_id: str) -> frozenset[str]:
    line = lines.get(line_id)
    return frozenset(line.verification.codes) if line is not None and line.verification else frozenset()


def _release_out(release: HoldRelease, names: dict[str, str]) -> HoldReleaseOut:
    return HoldReleaseOut(
        id=release.id,
        hold_id=release.hold_id,
        code=release.code,
        comment=release.comment,
        created_by=release.created_by,
        created_by_name=names.get(release.created_by),
        created_at=release.created_at,
    )


def unit_state(
    release: HoldRelease | None, newest_capture: datetime | None, placed_at: datetime
) -> HoldUnitState:
    """Where a unit stands in a hold: the one rule of every path here.

    Released (its own release or the whole hold's), re-inspected (an inspection of it captured after the
    hold was placed), else held. The repository says the same in SQL to count and page a hold's units
    without reading them (``repositories.holds._HoldUnits``); ``tests/serving/api/test_api_holds.py``
    holds the two to one answer.
    """
    if release is not None:
        return "released"
    if newest_capture is not None and newest_capture > placed_at:
        return "reinspected"
    return "held"


class _HoldView:
    """A hold read with its releases; its units are counted and paged in the database."""

    def __init__(
        self, session: Session, lines: LineRegistry, hold: Hold, releases: Sequence[HoldRelease]
    ) -> None:
        self.session = session
        self.hold = hold
        self.releases = list(releases)
        self.whole = next((r for r in self.releases if r.code is None), None)
        self.by_code = {r.code: r for r in self.releases if r.code is not None}
        self.challenge_codes = _challenge_codes(lines, hold.line_id)

    def counts(self) -> repo.HoldCounts:
        """The hold's units by state."""
        return repo.hold_counts(
            self.session, self.hold, whole_released=self.whole is not None, exclude_codes=self.challenge_codes
        )

    def units(
        self, state: HoldUnitState | None = None, *, limit: int | None = None, offset: int = 0
    ) -> list[repo.HeldUnit]:
        """The hold's units (in ``state``; a page), newest first."""
        return repo.hold_units(
            self.session,
            self.hold,
            whole_released=self.whole is not None,
            exclude_codes=self.challenge_codes,
            state=state,
            limit=limit,
            offset=offset,
        )

    def state_of(self, unit: repo.HeldUnit) -> tuple[HoldUnitState, HoldRelease | None]:
        """Where ``unit`` stands in the hold, and the release that released it."""
        release = self.by_code.get(unit.code) or self.whole
        return unit_state(release, unit.reinspected_at, self.hold.created_at), release

    def contains(self, code: str) -> bool:
        """Whether ``code`` is one of the hold's units."""
        return code not in self.challenge_codes and repo.in_hold(self.session, self.hold, code)

    def out(self, names: dict[str, str]) -> HoldOut:
        """The hold with its units counted in the database (a month's hold is not read unit by unit)."""
        hold = self.hold
        counts = self.counts()
        return HoldOut(
            id=hold.id,
            line_id=hold.line_id,
            product=hold.product,
            since=hold.since,
            until=hold.until,
            cause=hold.cause,
            reason=hold.reason,
            created_by=hold.created_by,
            created_by_name=names.get(hold.created_by),
            created_at=hold.created_at,
            released=_release_out(self.whole, names) if self.whole is not None else None,
            units=counts.units,
            held=counts.held,
            reinspected=counts.reinspected,
            released_units=counts.released,
        )


def _views(session: Session, lines: LineRegistry, holds: Sequence[Hold]) -> list[_HoldView]:
    releases = repo.releases_of(session, [h.id for h in holds])
    return [_HoldView(session, lines, h, releases.get(h.id, [])) for h in holds]


def _names(session: Session, views: Sequence[_HoldView]) -> dict[str, str]:
    return actor_names(
        session, {v.hold.created_by for v in views} | {r.created_by for v in views for r in v.releases}
    )


def _period(since: datetime, until: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    until = until or now
    if until > now + CLOCK_SLACK:
        raise InvalidFieldError(
            "until",
            until.isoformat(),
            f"lies in the future (now: {now.isoformat()}): hold what was made, and place another hold later",
        )
    if since >= until:
        raise InvalidFieldError("since", since.isoformat(), f"must be before until={until.isoformat()}")
    if until - since > MAX_HOLD_PERIOD:
        raise InvalidFieldError(
            "since", since.isoformat(), f"period longer than {MAX_HOLD_PERIOD.days} days: hold it as several"
        )
    return since, until


def place_hold(db: Database, lines: LineRegistry, body: HoldIn, key: KeyInfo) -> HoldOut:
    """Place a hold (the module's rules); the line must be the key's (a line-scoped reviewer)."""
    line = lines.require_field(body.line_id)
    require_line(key, body.line_id)
    line.for_product(body.product)  # a product the line does not make: 422 naming `product`
    now = utcnow()
    since, until = _period(body.since, body.until, now)
    with db.writer() as session:
        hold = repo.add_hold(
            session,
            line_id=body.line_id,
            product=body.product,
            since=since,
            until=until,
            cause=body.cause,
            reason=body.reason,
            actor=key.actor,
            at=now,
        )
        session.commit()
        views = _views(session, lines, [hold])
        return views[0].out(_names(session, views))


def list_holds(
    db: Database, lines: LineRegistry, flt: repo.HoldFilter, *, limit: int, offset: int
) -> HoldPageOut:
    """A page of holds, newest first, each with its units' counts."""
    with db.reader() as session:
        holds = repo.list_holds(session, flt, limit=limit, offset=offset)
        total = repo.count_holds(session, flt, cap=COUNT_CAP)
        views = _views(session, lines, holds)
        names = _names(session, views)
        return HoldPageOut(
            items=[v.out(names) for v in views],
            total=min(total, COUNT_CAP),
            total_exact=total <= COUNT_CAP,
            limit=limit,
            offset=offset,
        )


def _require_hold(session: Session, hold_id: int) -> Hold:
    hold = repo.get_hold(session, hold_id)
    if hold is None:
        raise NotFoundError(f"hold id={hold_id} does not exist")
    return hold


def get_hold(db: Database, lines: LineRegistry, hold_id: int) -> HoldOut:
    """One hold with its units' counts (404 when there is none)."""
    with db.reader() as session:
        views = _views(session, lines, [_require_hold(session, hold_id)])
        return views[0].out(_names(session, views))


def hold_units(
    db: Database,
    lines: LineRegistry,
    hold_id: int,
    *,
    state: HoldUnitState | None,
    limit: int,
    offset: int,
) -> HoldUnitPageOut:
    """A page of a hold's units (``state``: only those), newest first, each with its grade's status."""
    with db.reader() as session:
        [view] = _views(session, lines, [_require_hold(session, hold_id)])
        total = view.counts().of(state)
        page = view.units(state, limit=limit, offset=offset)
        verdicts = verdicts_for_codes(session, lines, [u.code for u in page])
        held = still_held(session, lines, [u.code for u in page])  # by this hold or any other
        names = actor_names(session, {r.created_by for r in view.releases})
        items = []
        for unit in page:
            state_here, release = view.state_of(unit)
            verdict = verdicts.get(unit.code)
            items.append(
                HoldUnitOut(
                    code=unit.code,
                    captured_at=unit.captured_at,
                    state=state_here,
                    reinspected_at=unit.reinspected_at,
                    release=_release_out(release, names) if release is not None else None,
                    status=verdict.status if verdict is not None else None,
                    may_ship=unit.code not in held and verdict is not None and verdict.accepted,
                )
            )
        return HoldUnitPageOut(
            hold_id=hold_id,
            items=items,
            total=min(total, COUNT_CAP),
            total_exact=total <= COUNT_CAP,
            limit=limit,
            offset=offset,
        )


#: How far up the genealogy the containers of a hold's units are followed (box, pallet, shipment).
CONTAINER_DEPTH = 4


def hold_containers(db: Database, lines: LineRegistry, hold_id: int) -> HoldContainersOut:
    """The codes that hold a hold's still-held units, most held units first.

    Genealogy is followed up, every relation: a box they were packed in, a pallet holding that box, a
    module made from them. Suspect units that left the line are not where the line is: these are what to
    pull back and sort.
    """
    with db.reader() as session:
        [view] = _views(session, lines, [_require_hold(session, hold_id)])
        held = [u.code for u in view.units("held")]
        inside: dict[str, set[str]] = {}
        first: dict[str, tuple[str, int]] = {}  # container -> (relation, depth) of the link that found it
        current: dict[str, set[str]] = {code: {code} for code in held}
        for depth in range(1, CONTAINER_DEPTH + 1):
            reached: dict[str, set[str]] = {}
            for link in genealogy_repo.parents_of(session, list(current)):
                reached.setdefault(link.parent_code, set()).update(current[link.child_code])
                first.setdefault(link.parent_code, (link.relation, depth))
            for code, units in reached.items():
                inside.setdefault(code, set()).update(units)
            current = reached
            if not current:
                break
    packed = set[str]().union(*inside.values())
    items = [
        HoldContainerOut(
            code=code,
            relation=first[code][0],
            depth=first[code][1],
            held_units=len(units),
            examples=sorted(units)[:5],
        )
        for code, units in inside.items()
    ]
    items.sort(key=lambda c: (-c.held_units, c.depth, c.code))
    return HoldContainersOut(hold_id=hold_id, held_units=len(held), packed=len(packed), items=items)


def release(
    db: Database, lines: LineRegistry, hold_id: int, body: HoldReleaseIn, key: KeyInfo
) -> HoldReleaseOut:
    """Release a whole hold, or one unit of it (409 naming the field when there is nothing to release)."""
    with db.writer() as session:
        hold = _require_hold(session, hold_id)
        require_line(key, hold.line_id, field="hold.line_id")
        [view] = _views(session, lines, [hold])
        if view.whole is not None:
            raise StateConflictError(
                "hold_id", hold_id, f"was released as a whole at {view.whole.created_at.isoformat()}"
            )
        if body.code is not None:
            if not view.contains(body.code):
                raise StateConflictError(
                    "code",
                    body.code,
                    f"is not in hold {hold_id} (no inspection of it on {hold.line_id} in "
                    f"[{hold.since.isoformat()}, {hold.until.isoformat()}){_of_product(hold)})",
                )
            if body.code in view.by_code:
                raise StateConflictError("code", body.code, f"was already released from hold {hold_id}")
        done = repo.add_release(
            session, hold_id=hold_id, code=body.code, comment=body.comment, actor=key.actor, at=utcnow()
        )
        session.commit()
        return _release_out(done, actor_names(session, [done.created_by]))


def _of_product(hold: Hold) -> str:
    return f" as product {hold.product}" if hold.product is not None else ""


@dataclass(frozen=True, slots=True)
class _CodeInHold:
    hold: Hold
    code: str
    state: HoldUnitState
    #: The releases that concern the code: its own and the whole hold's.
    releases: tuple[HoldRelease, ...]


def _codes_in_holds(session: Session, lines: LineRegistry, codes: Sequence[str]) -> list[_CodeInHold]:
    """Every hold each of ``codes`` is in (challenge parts never), and where the code stands.

    A few queries for any number of codes.
    """
    pairs = [
        (hold, code)
        for hold, code in repo.holds_of_codes(session, codes)
        if code not in _challenge_codes(lines, hold.line_id)
    ]
    releases = repo.releases_of(session, sorted({hold.id for hold, _ in pairs}))
    newest = repo.newest_captures(session, [code for _, code in pairs])
    found = []
    for hold, code in pairs:
        mine = tuple(r for r in releases.get(hold.id, []) if r.code in (None, code))
        state = unit_state(mine[0] if mine else None, newest.get(code), hold.created_at)
        found.append(_CodeInHold(hold=hold, code=code, state=state, releases=mine))
    return found


def held_in(session: Session, lines: LineRegistry, code: str) -> list[HoldFact]:
    """The holds ``code`` is in, with the releases of it (its own and the whole hold's), for EPCIS."""
    found = _codes_in_holds(session, lines, [code])
    names = actor_names(session, {r.created_by for f in found for r in f.releases})
    return [
        HoldFact(
            id=f.hold.id,
            line_id=f.hold.line_id,
            cause=f.hold.cause,
            reason=f.hold.reason,
            since=f.hold.since,
            until=f.hold.until,
            created_by=f.hold.created_by,
            created_at=f.hold.created_at,
            releases=tuple(_release_out(r, names) for r in f.releases),
        )
        for f in found
    ]


def unit_holds(session: Session, lines: LineRegistry, code: str) -> list[UnitHoldOut]:
    """The holds ``code`` is in, oldest first, and where it stands in each."""
    return [
        UnitHoldOut(
            id=f.hold.id,
            cause=f.hold.cause,
            reason=f.hold.reason,
            since=f.hold.since,
            until=f.hold.until,
            state=f.state,
        )
        for f in _codes_in_holds(session, lines, [code])
    ]


#: Who places the holds a missed challenge part places (``verification.auto_hold``).
AUTO_HOLD_ACTOR = "system:verification"


#: Who places the hold of the units made after a miss until the station is verified again.
RESTORED_HOLD_ACTOR = "system:verification-restored"


def auto_hold(
    db: Database, lines: LineRegistry, line_id: str, code: str, inspection_id: str
) -> HoldOut | None:
    """The hold a just-stored inspection of a challenge part places (``auto_hold``), or None.

    * It missed: the units of the line (of the product it is on) from when the station was last known good
      (the verification's ``suspect_since``; when the part never met its expectation, ``every_h`` before
      the miss) up to the missed inspection, less what an earlier open hold of the line already covers.
    * It completed the verification again after a miss: the units made from that miss's hold on, until the
      station was verified again (``verified_at``): they were made while it was not error-proof.
    """
    line = lines.get(line_id)
    config = line.verification if line is not None else None
    if line is None or config is None or not config.auto_hold or code not in config.codes:
        return None
    status = line_verification(db, lines, line_id)
    if status.state == "verified":
        return _hold_until_verified(db, lines, status)
    missed = next((p for p in status.parts if p.code == code and p.inspection_id == inspection_id), None)
    if status.state != "failed" or missed is None or missed.met is not False or missed.captured_at is None:
        return None
    until = missed.captured_at + timedelta(microseconds=1)  # the miss itself, and every unit before it
    since = status.suspect_since or missed.captured_at - timedelta(hours=config.every_h)
    since = max(since, until - MAX_HOLD_PERIOD)
    with db.writer() as session:
        flt = repo.HoldFilter(line_id=line_id, state="open")
        for earlier in repo.list_holds(session, flt, limit=COUNT_CAP, offset=0):
            if earlier.product == status.product and earlier.since <= since < earlier.until:
                since = earlier.until  # held already: hold only what comes after
        if since >= until:
            return None
        expected = "pass" if missed.expect == "pass" else " ".join(["fail", *missed.classes])
        found = ", ".join(missed.found_classes) or "no defect"
        reason = (
            f"challenge part {code} missed (expected {expected}, judged {missed.verdict} with {found}): "
            "automatic hold"
        )
        return _placed(session, lines, status.line_id, status.product, since, until, reason, AUTO_HOLD_ACTOR)


def _hold_until_verified(db: Database, lines: LineRegistry, status: VerificationOut) -> HoldOut | None:
    """After a miss's automatic hold, the units made from its end until the station was verified again."""
    until = status.verified_at
    with db.writer() as session:
        miss = repo.newest_hold(
            session,
            line_id=status.line_id,
            product=status.product,
            actors=(AUTO_HOLD_ACTOR, RESTORED_HOLD_ACTOR),
        )
        if miss is None or miss.created_by != AUTO_HOLD_ACTOR or until is None:
            return None  # no miss since the last one was followed up
        since = max(miss.until, until - MAX_HOLD_PERIOD)
        if since >= until:
            return None
        reason = (
            f"units made after the miss of hold {miss.id}, until the station was verified again at "
            f"{until.isoformat()}: automatic hold"
        )
        return _placed(
            session, lines, status.line_id, status.product, since, until, reason, RESTORED_HOLD_ACTOR
        )


def _placed(
    session: Session,
    lines: LineRegistry,
    line_id: str,
    product: str | None,
    since: datetime,
    until: datetime,
    reason: str,
    actor: str,
) -> HoldOut:
    hold = repo.add_hold(
        session,
        line_id=line_id,
        product=product,
        since=since,
        until=until,
        cause="verification",
        reason=reason,
        actor=actor,
        at=utcnow(),
    )
    session.commit()
    views = _views(session, lines, [hold])
    return views[0].out({})


def still_held(session: Session, lines: LineRegistry, codes: Sequence[str]) -> dict[str, list[int]]:
    """The holds that still hold each of ``codes`` (codes no hold holds are left out)."""
    held: dict[str, list[int]] = {}
    for found in _codes_in_holds(session, lines, codes):
        if found.state == "held":
            held.setdefault(found.code, []).append(found.hold.id)
    return held
