"""Lines and stations."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from linecheck.config import LineConfig
from linecheck.serving.store.models import Line, Station, utcnow
from linecheck.serving.store.repositories.base import insert_for


def fit_actor(actor: str) -> str:
    """``actor`` cut to the ``updated_by`` column, keeping its end (a config file's name).

    Line configs are synced with the file they came from as the actor; the path can be longer
    than the column wherever the checkout lives (PostgreSQL refuses what SQLite would keep).
    """
    limit = getattr(Line.__table__.c.updated_by.type, "length", None) or len(actor)
    if len(actor) <= limit:
        return actor
    head = actor.split(":", 1)[0] + ":…" if ":" in actor else "…"
    return head + actor[len(head) - limit :]


def upsert_line(session: Session, line: LineConfig, *, actor: str) -> None:
    """Insert or update a line and its full config, and register its cameras as stations."""
    now = utcnow()
    actor = fit_actor(actor)
    config = line.model_dump(mode="json")
    stmt = insert_for(session, Line).values(
        id=line.id,
        kind=line.kind,
        name=line.name,
        config=config,
        created_at=now,
        updated_at=now,
        updated_by=actor,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[Line.id],
        set_={
            "kind": line.kind,
            "name": line.name,
            "config": config,
            "updated_at": now,
            "updated_by": actor,
        },
    )
    session.execute(stmt)
    ensure_stations(session, [(line.id, camera.station) for camera in line.cameras])


def ensure_stations(session: Session, pairs: Iterable[tuple[str, str]]) -> None:
    """Register (line id, station name) pairs that are not yet known."""
    rows = [{"line_id": line_id, "name": name, "created_at": utcnow()} for line_id, name in set(pairs)]
    if rows:
        session.execute(insert_for(session, Station).on_conflict_do_nothing(), rows)


def list_lines(session: Session) -> list[Line]:
    """Every registered line, by id."""
    return list(session.scalars(select(Line).order_by(Line.id)))


def get_line(session: Session, line_id: str) -> Line | None:
    """One line, or None."""
    return session.get(Line, line_id)


def list_stations(session: Session, line_id: str) -> list[str]:
    """Station names of a line."""
    return list(
        session.scalars(select(Station.name).where(Station.line_id == line_id).order_by(Station.name))
    )
