"""``/v1/shipping/{code}``: whether a unit, or a box or pallet and every unit inside it, may ship."""

from __future__ import annotations

from fastapi import APIRouter

from linecheck.serving.api.deps import ContextDep, ReaderKeyDep
from linecheck.serving.api.responses import ShippingOut
from linecheck.serving.api.schemas import CodePath
from linecheck.serving.api.services.shipping import shipping_check

router = APIRouter(prefix="/v1/shipping", tags=["shipping"])


@router.get("/{code}", response_model=ShippingOut)
def get_shipping(code: CodePath, _key: ReaderKeyDep, context: ContextDep) -> ShippingOut:
    """May this code ship: the unit itself, or every inspected unit inside it (genealogy down, 4 levels).

    Each unit must be accepted by its grade after review (or released by review) and held by no hold.
    `blockers` lists what is not (up to 200; `blocked` counts them all): `failed`, `not_inspected`, or
    `held` with the holds. 404 when no inspected unit is the code or inside it.
    """
    return shipping_check(context.db, context.lines, code)
