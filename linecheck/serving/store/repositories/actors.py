"""Who an actor (``key:<id>``, what writes are recorded under) is: the name given to the key."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from linecheck.serving.store.models import ApiKey

_PREFIX = "key:"


def actor_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """``{actor: key name}`` for the ``key:<id>`` actors whose key has a name (one query)."""
    ids = sorted({a[len(_PREFIX) :] for a in actors if a and a.startswith(_PREFIX)})
    if not ids:
        return {}
    rows = session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(ids), ApiKey.name != ""))
    return {f"{_PREFIX}{row.id}": row.name for row in rows}
