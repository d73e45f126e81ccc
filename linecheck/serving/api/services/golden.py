"""Golden samples: the reference good image of a station, shown beside the frame under review."""

from __future__ import annotations

from linecheck.errors import InvalidFieldError, NotFoundError
from linecheck.serving.api.auth import require_line
from linecheck.serving.api.responses import GoldenOut
from linecheck.serving.api.schemas import GoldenIn
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import utcnow
from linecheck.serving.store.repositories import golden as repo
from linecheck.serving.store.repositories import images as image_repo
from linecheck.serving.store.repositories import inspections as inspection_repo
from linecheck.serving.store.repositories.actors import actor_names


def golden_sample(db: Database, lines: LineRegistry, line_id: str, station: str) -> GoldenOut:
    """The station's chosen golden sample, else its newest good frame (404 when it has neither)."""
    lines.require(line_id)
    with db.reader() as session:
        chosen = repo.chosen_golden(session, line_id, station)
        if chosen is not None:
            frame = (
                inspection_repo.get_inspection(session, chosen.inspection_id)
                if chosen.inspection_id
                else None
            )
            return GoldenOut(
                line_id=line_id,
                station=station,
                image_ref=chosen.image_ref,
                inspection_id=chosen.inspection_id,
                source="chosen",
                image_width=frame.image_width if frame else None,
                image_height=frame.image_height if frame else None,
                note=chosen.note,
                chosen_by=chosen.created_by,
                chosen_by_name=actor_names(session, [chosen.created_by]).get(chosen.created_by),
                chosen_at=chosen.created_at,
            )
        good = repo.newest_good_frame(session, line_id, station)
        if good is None or good.image_ref is None:
            raise NotFoundError(
                f"line {line_id} station {station!r} has no golden sample and no stored frame judged pass"
            )
        return GoldenOut(
            line_id=line_id,
            station=station,
            image_ref=good.image_ref,
            inspection_id=good.id,
            source="newest_good_frame",
            image_width=good.image_width,
            image_height=good.image_height,
        )


def choose_golden(db: Database, lines: LineRegistry, line_id: str, body: GoldenIn, key: KeyInfo) -> GoldenOut:
    """Make an inspection's stored frame the golden sample of its station (the history is kept)."""
    lines.require(line_id)
    require_line(key, line_id)
    with db.writer() as session:
        frame = inspection_repo.get_inspection(session, body.inspection_id)
        if frame is None:
            raise NotFoundError(f"inspection id={body.inspection_id!r} does not exist")
        if frame.line_id != line_id:
            raise InvalidFieldError(
                "inspection_id", body.inspection_id, f"is a frame of {frame.line_id}, not {line_id}"
            )
        if frame.image_ref is None:
            raise InvalidFieldError("inspection_id", body.inspection_id, "has no stored frame image")
        # share-locked: once chosen, the image is a golden sample the retention keeps
        if frame.image_expired_at is not None or image_repo.expired_among(
            session, [frame.image_ref], lock=True
        ):
            raise InvalidFieldError(
                "inspection_id", body.inspection_id, "its frame image was deleted by the image retention"
            )
        station = body.station or frame.station
        repo.add_golden(
            session,
            line_id=line_id,
            station=station,
            image_ref=frame.image_ref,
            inspection_id=frame.id,
            note=body.note,
            actor=key.actor,
            at=utcnow(),
        )
        session.commit()
    return golden_sample(db, lines, line_id, station)
