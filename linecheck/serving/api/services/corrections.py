"""Review decisions beyond one click: corrected boxes, undo, bulk decisions, missed defects, merges.

Every change is a new review row (the history is append-only); the defect row only carries the
current state, which is the history replayed by
:func:`linecheck.serving.store.review_state.replay` (the rules are listed there). A corrected
box's location on the product is worked out again by the line's kind (so the grade and the
training labels follow the corrected box), with the product's geometry found in the frame when
the inspection brought one (``geometry_mode: auto``), else with the line YAML's; in both cases as
the product the inspection was judged as changes the line (``products:``, :mod:`.products`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from linecheck.config import LineConfig
from linecheck.contract import bbox_problem
from linecheck.errors import ConflictError, InvalidFieldError, NotFoundError
from linecheck.kinds import FrameView, finds_geometry, get_kind
from linecheck.serving.api.auth import require_line
from linecheck.serving.api.responses import DefectOut
from linecheck.serving.api.schemas import AddDefectIn, BulkReviewIn, MergeIn, UndoIn
from linecheck.serving.api.services.lines import LineRegistry
from linecheck.serving.api.services.products import config_for
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo
from linecheck.serving.store.models import Defect, Inspection, utcnow
from linecheck.serving.store.repositories import inspections as inspection_repo
from linecheck.serving.store.repositories import reviews as review_repo
from linecheck.serving.store.repositories.actors import actor_names
from linecheck.serving.store.review_state import replay

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """A review about to be appended."""

    decision: str
    new_class: str | None = None
    bbox: Sequence[float] | None = None


def found_geometry(line: LineConfig, inspection: Inspection) -> object | None:
    """The product's geometry found in the inspection's frame, read by the line's kind (None: none stored).

    A stored geometry the line no longer reads (its YAML changed the PV grid since) is logged and
    left out: the line YAML's geometry places the box then, as for a frame that showed none.
    """
    if inspection.geometry is None:
        return None
    try:
        return get_kind(line.kind).geometry_from_json(
            inspection.geometry, line.options, width=inspection.image_width, height=inspection.image_height
        )
    except InvalidFieldError as exc:
        log.warning("inspection %s: stored %s; the line YAML's geometry is used", inspection.id, exc)
        return None


def frame_view(line: LineConfig, inspection: Inspection) -> FrameView:
    """The frame as the line's kind sees it (camera position across the web, roll offset, found geometry)."""
    cameras = {camera.station: i for i, camera in enumerate(line.cameras)}
    return FrameView(
        width=inspection.image_width,
        height=inspection.image_height,
        camera_index=cameras.get(inspection.station, 0),
        along_m=inspection.roll_offset_m,
        geometry=found_geometry(line, inspection),
    )


def locate(line: LineConfig, inspection: Inspection, box: Sequence[float]) -> dict[str, Any] | None:
    """Where ``box`` is on the product, by the line's kind (None when the kind does not locate).

    As the inspector's locations do, it says ``"geometry": "found"`` when placed with the frame's
    found geometry, and ``"fixed"`` on a ``geometry_mode: auto`` line when the YAML's placed it.
    """
    spec = get_kind(line.kind)
    view = frame_view(line, inspection)
    try:
        location = spec.locate(box, view, line.options)
    except NotImplementedError:
        return None
    if view.geometry is not None:
        location = {**location, "geometry": "found"}
    elif finds_geometry(line.options):
        location = {**location, "geometry": "fixed"}
    return spec.location_model.model_validate(location).model_dump(mode="json", exclude_none=True)


def _check_box(box: Sequence[float], inspection: Inspection, field: str) -> None:
    problem = bbox_problem(box, inspection.image_width, inspection.image_height)
    if problem is not None:
        raise InvalidFieldError(field, list(box), problem)


def _check_class(line: LineConfig, name: str, field: str) -> None:
    if name not in line.classes:
        raise InvalidFieldError(field, name, f"not a class of line {line.id}: {line.classes}")


def append_review(
    session: Session,
    line: LineConfig,
    defect: Defect,
    inspection: Inspection,
    step: Step,
    *,
    comment: str | None,
    key: KeyInfo,
    at: datetime,
) -> None:
    """Append ``step`` to the defect's history and move the defect to the state it leads to."""
    history = review_repo.reviews_for_defects(session, [defect.id]).get(defect.id, [])
    if step.decision == "undo" and replay(defect.class_name, defect.source, history).decisions == 0:
        raise ConflictError(f"defect id={defect.id} has no decision left to undo")
    current = replay(defect.class_name, defect.source, [*history, step])
    final_location = locate(line, inspection, current.final_bbox) if current.final_bbox is not None else None
    review_repo.add_review(
        session,
        defect,
        decision=step.decision,
        new_class=step.new_class,
        reviewer=key.actor,
        at=at,
        comment=comment,
        bbox=step.bbox,
        outcome=review_repo.DefectOutcome(
            state=current.state,
            final_class=current.final_class,
            final_bbox=list(current.final_bbox) if current.final_bbox is not None else None,
            final_location=final_location,
        ),
    )


def _load(
    session: Session, lines: LineRegistry, defect_id: int, key: KeyInfo
) -> tuple[Defect, Inspection, LineConfig]:
    defect = review_repo.get_defect(session, defect_id)
    if defect is None:
        raise NotFoundError(f"defect id={defect_id} does not exist")
    require_line(key, defect.line_id, field="defect.line_id")
    inspection = inspection_repo.get_inspection(session, defect.inspection_id)
    assert inspection is not None  # a defect's inspection is a foreign key
    return defect, inspection, config_for(lines.require(defect.line_id), inspection.product)


def defects_out(session: Session, defect_ids: Sequence[int]) -> list[DefectOut]:
    """The defects with their review history and reviewer names, in the order asked."""
    history = review_repo.reviews_for_defects(session, list(defect_ids))
    names = actor_names(session, {r.reviewer for rows in history.values() for r in rows})
    out = []
    for defect_id in defect_ids:
        defect = review_repo.get_defect(session, defect_id)
        assert defect is not None
        out.append(DefectOut.of(defect, history.get(defect_id), names))
    return out


def decide(
    db: Database,
    lines: LineRegistry,
    defect_id: int,
    step: Step,
    *,
    comment: str | None,
    key: KeyInfo,
) -> DefectOut:
    """One decision (confirm / reject / reclassify, optionally with a corrected box) on one defect."""
    with db.writer() as session:
        defect, inspection, line = _load(session, lines, defect_id, key)
        if step.new_class is not None:
            _check_class(line, step.new_class, "new_class")
        if step.bbox is not None:
            _check_box(step.bbox, inspection, "bbox")
        append_review(session, line, defect, inspection, step, comment=comment, key=key, at=utcnow())
        session.commit()
        return defects_out(session, [defect_id])[0]


def undo(db: Database, lines: LineRegistry, defect_id: int, body: UndoIn, key: KeyInfo) -> DefectOut:
    """Take back the newest decision on a defect (409 when there is none left)."""
    with db.writer() as session:
        defect, inspection, line = _load(session, lines, defect_id, key)
        step = Step(decision="undo")
        append_review(session, line, defect, inspection, step, comment=body.comment, key=key, at=utcnow())
        session.commit()
        return defects_out(session, [defect_id])[0]


def bulk(db: Database, lines: LineRegistry, body: BulkReviewIn, key: KeyInfo) -> list[DefectOut]:
    """The same decision on every listed defect, in one transaction (any refusal stores nothing)."""
    ids = list(dict.fromkeys(body.defect_ids))
    at = utcnow()
    with db.writer() as session:
        for i, defect_id in enumerate(ids):
            try:
                defect, inspection, line = _load(session, lines, defect_id, key)
            except NotFoundError:
                raise InvalidFieldError(f"defect_ids[{i}]", defect_id, "no such defect") from None
            if body.new_class is not None:
                _check_class(line, body.new_class, "new_class")
            step = Step(decision=body.decision, new_class=body.new_class)
            append_review(session, line, defect, inspection, step, comment=body.comment, key=key, at=at)
        session.commit()
        return defects_out(session, ids)


def add_defect(
    db: Database, lines: LineRegistry, inspection_id: str, body: AddDefectIn, key: KeyInfo
) -> DefectOut:
    """Record a defect the model missed, drawn by a reviewer; it counts as confirmed."""
    with db.writer() as session:
        inspection = inspection_repo.get_inspection(session, inspection_id)
        if inspection is None:
            raise NotFoundError(f"inspection id={inspection_id!r} does not exist")
        require_line(key, inspection.line_id, field="inspection.line_id")
        line = config_for(lines.require(inspection.line_id), inspection.product)
        _check_class(line, body.class_name, "class_name")
        _check_box(body.bbox, inspection, "bbox")
        location = locate(line, inspection, body.bbox)
        columns = get_kind(line.kind).location_columns(location) if location else {}
        x1, y1, x2, y2 = body.bbox
        defect = inspection_repo.add_reviewer_defect(
            session,
            inspection,
            class_name=body.class_name,
            box=(x1, y1, x2, y2),
            location=location,
            columns=columns,
            actor=key.actor,
        )
        step = Step(decision="add", new_class=body.class_name, bbox=body.bbox)
        append_review(session, line, defect, inspection, step, comment=body.comment, key=key, at=utcnow())
        session.commit()
        return defects_out(session, [defect.id])[0]


def merge(
    db: Database, lines: LineRegistry, inspection_id: str, body: MergeIn, key: KeyInfo
) -> list[DefectOut]:
    """Merge defects of one frame into the first: the union box is kept, the others are rejected."""
    ids = list(dict.fromkeys(body.defect_ids))
    if len(ids) < 2:
        raise InvalidFieldError("defect_ids", body.defect_ids, "expected two different defects")
    at = utcnow()
    with db.writer() as session:
        loaded = []
        for i, defect_id in enumerate(ids):
            try:
                defect, inspection, line = _load(session, lines, defect_id, key)
            except NotFoundError:
                raise InvalidFieldError(f"defect_ids[{i}]", defect_id, "no such defect") from None
            if defect.inspection_id != inspection_id:
                where = f"belongs to inspection {defect.inspection_id}, not {inspection_id}"
                raise InvalidFieldError(f"defect_ids[{i}]", defect_id, where)
            loaded.append((defect, inspection, line))
        boxes = [d.final_bbox or [d.x1, d.y1, d.x2, d.y2] for d, _, _ in loaded]
        union = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        keep, inspection, line = loaded[0]
        new_class = body.class_name if body.class_name and body.class_name != keep.final_class else None
        if new_class is not None:
            _check_class(line, new_class, "class_name")
        step = Step(decision="reclassify" if new_class else "confirm", new_class=new_class, bbox=union)
        note = body.comment or f"merged with {', '.join(f'#{d.id}' for d, _, _ in loaded[1:])}"
        append_review(session, line, keep, inspection, step, comment=note, key=key, at=at)
        for other, _, _ in loaded[1:]:
            append_review(
                session,
                line,
                other,
                inspection,
                Step(decision="reject"),
                comment=body.comment or f"merged into #{keep.id}",
                key=key,
                at=at,
            )
        session.commit()
        return defects_out(session, ids)
