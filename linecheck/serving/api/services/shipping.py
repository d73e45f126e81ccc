"""May this code ship? A unit, or a box, pallet or shipment and every unit inside it (genealogy down).

The question a shipping dock or the ERP asks when it scans a code: each unit in it must be accepted by its
grade after review (or released by review) and held by no hold (:mod:`.holds`). The answer lists what blocks
it: units that failed, could not be inspected, or are held, with the holds.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from linecheck.errors import NotFoundError
from linecheck.serving.api.responses import ShippingBlockerOut, ShippingOut
from linecheck.serving.api.services.holds import CONTAINER_DEPTH, still_held
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.verdicts import verdicts_for_codes
from linecheck.serving.store.db import Database
from linecheck.serving.store.repositories import genealogy as genealogy_repo

#: The most units one answer checks (a shipment of 50 pallets of 200 boxes is more: ask per pallet).
MAX_UNITS = 20_000
#: The most blockers one answer lists (they are all counted).
MAX_LISTED = 200


def _contents(session: Session, code: str) -> tuple[list[str], int]:
    """``code`` and every code inside it, up to :data:`CONTAINER_DEPTH` levels down; and how many levels."""
    found = [code]
    seen = {code}
    frontier = [code]
    depth = 0
    while frontier and depth < CONTAINER_DEPTH and len(found) <= MAX_UNITS:
        depth += 1
        reached: list[str] = []
        for link in genealogy_repo.children_of(session, frontier):
            if link.child_code not in seen:
                seen.add(link.child_code)
                reached.append(link.child_code)
        found += reached
        frontier = reached
    return found, depth


def shipping_check(db: Database, lines: LineRegistry, code: str) -> ShippingOut:
    """Whether ``code`` (a unit, or a container of units) may ship, and what blocks it."""
    with db.reader() as session:
        codes, _depth = _contents(session, code)
        if len(codes) > MAX_UNITS:
            raise NotFoundError(
                f"code={code!r} holds more than {MAX_UNITS} codes: ask for each pallet or box in it"
            )
        verdicts = verdicts_for_codes(session, lines, codes)
        held = still_held(session, lines, list(verdicts))
    if not verdicts:
        raise NotFoundError(f"code={code!r}: no inspected unit is it or inside it (genealogy)")
    blockers: list[ShippingBlockerOut] = []
    for unit in sorted(verdicts):
        verdict = verdicts[unit]
        if not verdict.accepted:
            reason = "not_inspected" if verdict.status == "not_inspected" else "failed"
            blockers.append(ShippingBlockerOut(code=unit, reason=reason, status=verdict.status))
        elif unit in held:
            blockers.append(
                ShippingBlockerOut(code=unit, reason="held", status=verdict.status, hold_ids=held[unit])
            )
    return ShippingOut(
        code=code,
        may_ship=not blockers,
        units=len(verdicts),
        containers=len(codes) - len(verdicts),
        blocked=len(blockers),
        blockers=blockers[:MAX_LISTED],
    )
