"""``GET /v1/me``: who the calling key is (the pages offer only what it may do)."""

from __future__ import annotations

from fastapi import APIRouter

from linecheck.serving.api.deps import ReaderKeyDep
from linecheck.serving.api.responses import MeOut

router = APIRouter(prefix="/v1", tags=["keys"])


@router.get("/me", response_model=MeOut)
def get_me(key: ReaderKeyDep) -> MeOut:
    """The calling key's id, role, name and lines (never its secret)."""
    return MeOut(
        id=key.id,
        role=key.role,
        name=key.name,
        lines=list(key.lines),
        actor=key.actor,
        may_review=key.role == "reviewer",
    )
