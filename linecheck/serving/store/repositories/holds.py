"""Holds (containment) and their releases: both appended, never changed.

A hold's units are the codes with an inspection on its line (of its product, when it names one) captured
in [``since``, ``until``). A unit is re-inspected when the code has an inspection, on any line, captured
after the hold was placed. Every query of a hold's units reads the inspections through
``ix_inspections_line_id_captured_at`` (or the product's index), and a code's holds through its code.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from linecheck.serving.store.models import Hold, HoldRelease, Inspection
from linecheck.serving.store.repositories.base import count_capped

_IN_CHUNK = 900


def add_hold(
    session: Session,
    *,
    line_id: str,
    product: str | None,
    since: datetime,
    until: datetime,
    cause: str,
    reason: str,
    actor: str,
    at: datetime,
) -> Hold:
    """Append a hold."""
    hold = Hold(
        line_id=line_id,
        product=product,
        since=since,
        until=until,
        cause=cause,
        reason=reason,
        created_by=actor,
        created_at=at,
    )
    session.add(hold)
    session.flush()
    return hold


def get_hold(session: Session, hold_id: int) -> Hold | None:
    """The hold with this id."""
    return session.get(Hold, hold_id)


def _whole_release() -> ColumnElement[bool]:
    return exists().where(HoldRelease.hold_id == Hold.id, HoldRelease.code.is_(None))


@dataclass(frozen=True, kw_only=True, slots=True)
class HoldFilter:
    """Which holds: ``state`` ``open`` (not released as a whole), ``released``, or None (both)."""

    line_id: str | None = None
    state: str | None = "open"
    cause: str | None = None


def _filtered(flt: HoldFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if flt.line_id is not None:
        where.append(Hold.line_id == flt.line_id)
    if flt.cause is not None:
        where.append(Hold.cause == flt.cause)
    if flt.state == "open":
        where.append(~_whole_release())
    elif flt.state == "released":
        where.append(_whole_release())
    return where


def list_holds(session: Session, flt: HoldFilter, *, limit: int, offset: int) -> list[Hold]:
    """A page of holds, newest first."""
    query = select(Hold).where(*_filtered(flt)).order_by(Hold.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def newest_hold(
    session: Session, *, line_id: str, product: str | None, actors: Collection[str]
) -> Hold | None:
    """The newest hold of ``line_id`` (of ``product``; None: the line's own) placed by one of ``actors``."""
    query = (
        select(Hold)
        .where(
            Hold.line_id == line_id,
            Hold.product.is_(None) if product is None else Hold.product == product,
            Hold.created_by.in_(list(actors)),
        )
        .order_by(Hold.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def count_holds(session: Session, flt: HoldFilter, *, cap: int) -> int:
    """How many holds ``flt`` selects, counted up to ``cap``."""
    return count_capped(session, select(Hold.id).where(*_filtered(flt)), cap=cap)


def add_release(
    session: Session, *, hold_id: int, code: str | None, comment: str, actor: str, at: datetime
) -> HoldRelease:
    """Append a release of a hold (``code`` None) or of one of its units."""
    release = HoldRelease(hold_id=hold_id, code=code, comment=comment, created_by=actor, created_at=at)
    session.add(release)
    session.flush()
    return release


def releases_of(session: Session, hold_ids: Sequence[int]) -> dict[int, list[HoldRelease]]:
    """The releases of each of these holds, oldest first."""
    found: dict[int, list[HoldRelease]] = {}
    ids = list(dict.fromkeys(hold_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        query = select(HoldRelease).where(HoldRelease.hold_id.in_(ids[start : start + _IN_CHUNK]))
        for release in session.scalars(query.order_by(HoldRelease.id)):
            found.setdefault(release.hold_id, []).append(release)
    return found


def _covers(hold: Hold | type[Hold]) -> list[ColumnElement[bool]]:
    """An inspection lies in a hold's line, product and period: the one rule of a hold's units.

    ``hold`` is one stored hold, or ``Hold`` itself: the hold of the enclosing query.
    """
    where = [
        Inspection.line_id == hold.line_id,
        Inspection.captured_at >= hold.since,
        Inspection.captured_at < hold.until,
    ]
    if not isinstance(hold, Hold):
        where.append(or_(Hold.product.is_(None), Inspection.product == Hold.product))
    elif hold.product is not None:
        where.append(Inspection.product == hold.product)
    return where


#: A unit's state in a hold, as the database decides it (the service's ``unit_state`` for one code).
UnitState = Literal["held", "reinspected", "released"]


@dataclass(frozen=True, kw_only=True, slots=True)
class HeldUnit:
    """A unit of a hold: its newest inspection in the hold's period, and its newest after the hold."""

    code: str
    captured_at: datetime
    reinspected_at: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class HoldCounts:
    """How many units a hold has, and of them how many are released and re-inspected (the rest are held)."""

    units: int
    released: int
    reinspected: int

    @property
    def held(self) -> int:
        """Units neither released nor re-inspected."""
        return self.units - self.released - self.reinspected

    def of(self, state: UnitState | None) -> int:
        """Units in ``state`` (None: every unit)."""
        if state is None:
            return self.units
        return {"held": self.held, "reinspected": self.reinspected, "released": self.released}[state]


class _HoldUnits:
    """A hold's units as a subquery (code, newest capture in the period) and the SQL of their states.

    The rule is the service's ``unit_state``: released (the whole hold, or the unit's own release) before
    re-inspected (an inspection of the code captured after the hold was placed), else held.
    """

    def __init__(self, hold: Hold, *, whole_released: bool, exclude_codes: Collection[str]) -> None:
        self.table = (
            select(Inspection.code.label("code"), func.max(Inspection.captured_at).label("captured_at"))
            .where(*_covers(hold), Inspection.code.is_not(None), Inspection.code.not_in(list(exclude_codes)))
            .group_by(Inspection.code)
            .subquery()
        )
        code = self.table.c.code
        later = aliased(Inspection)
        own_release = exists().where(HoldRelease.hold_id == hold.id, HoldRelease.code == code)
        self.released: ColumnElement[bool] = true() if whole_released else own_release
        self.reinspected = exists().where(later.code == code, later.captured_at > hold.created_at)

    def state_is(self, state: UnitState) -> ColumnElement[bool]:
        """The condition of a unit in ``state``."""
        if state == "released":
            return self.released
        if state == "reinspected":
            return and_(~self.released, self.reinspected)
        return and_(~self.released, ~self.reinspected)


def hold_counts(
    session: Session, hold: Hold, *, whole_released: bool, exclude_codes: Collection[str] = ()
) -> HoldCounts:
    """A hold's units counted by state in the database, without reading them (the list of holds, a tile)."""
    units = _HoldUnits(hold, whole_released=whole_released, exclude_codes=exclude_codes)
    query = select(
        func.count(),
        func.coalesce(func.sum(case((units.state_is("released"), 1), else_=0)), 0),
        func.coalesce(func.sum(case((units.state_is("reinspected"), 1), else_=0)), 0),
    ).select_from(units.table)
    total, released, reinspected = session.execute(query).one()
    return HoldCounts(units=int(total), released=int(released), reinspected=int(reinspected))


def hold_units(
    session: Session,
    hold: Hold,
    *,
    whole_released: bool,
    exclude_codes: Collection[str] = (),
    state: UnitState | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[HeldUnit]:
    """A hold's units (in ``state``; a page of ``limit`` from ``offset``), newest first.

    Only the units returned are read: a page of a month-long hold is one query and its codes' newest
    captures.
    """
    units = _HoldUnits(hold, whole_released=whole_released, exclude_codes=exclude_codes)
    query = select(units.table.c.code, units.table.c.captured_at).order_by(
        units.table.c.captured_at.desc(), units.table.c.code.desc()
    )
    if state is not None:
        query = query.where(units.state_is(state))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    page = [(str(code), at) for code, at in session.execute(query)]
    newest = newest_captures(session, [code for code, _ in page])
    return [
        HeldUnit(
            code=code,
            captured_at=at,
            reinspected_at=newest[code] if newest[code] > hold.created_at else None,
        )
        for code, at in page
    ]


def in_hold(session: Session, hold: Hold, code: str) -> bool:
    """Whether ``code`` has an inspection in the hold's line, product and period."""
    return bool(session.scalar(select(exists().where(*_covers(hold), Inspection.code == code))))


def holds_of_codes(session: Session, codes: Sequence[str]) -> list[tuple[Hold, str]]:
    """(hold, code) for every hold each of ``codes`` is in."""
    found: set[tuple[Hold, str]] = set()
    ids = list(dict.fromkeys(codes))
    for start in range(0, len(ids), _IN_CHUNK):
        query = (
            select(Hold, Inspection.code)
            .join(Inspection, and_(*_covers(Hold)))
            .where(Inspection.code.in_(ids[start : start + _IN_CHUNK]))
            .distinct()
        )
        found.update((hold, code) for hold, code in session.execute(query) if code is not None)
    return sorted(found, key=lambda pair: (pair[0].id, pair[1]))


def newest_captures(session: Session, codes: Sequence[str]) -> dict[str, datetime]:
    """The newest inspection time of each of ``codes`` that has one."""
    found: dict[str, datetime] = {}
    ids = list(dict.fromkeys(codes))
    for start in range(0, len(ids), _IN_CHUNK):
        query = (
            select(Inspection.code, func.max(Inspection.captured_at))
            .where(Inspection.code.in_(ids[start : start + _IN_CHUNK]))
            .group_by(Inspection.code)
        )
        found.update({code: at for code, at in session.execute(query) if code is not None})
    return found
