"""SQL of the image retention: the records whose images are still stored, who holds a ref, expiry marks.

An image is *live* while its record has not expired it (``inspections.image_expired_at``,
``defects.crop_expired_at`` / ``heatmap_expired_at`` null). Pages walk the partial indexes of
migration 0011 in ``(time, key)`` order, a bounded page at a time; the rules deciding what expires
live in :mod:`linecheck.serving.api.services.retention`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, case, exists, func, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from linecheck.serving.store.models import (
    EXPIRED_FILE_LEFT,
    LIVE_CROP,
    LIVE_DEFECT_IMAGES,
    LIVE_FRAME,
    LIVE_HEATMAP,
    LIVE_OTHER_FRAME,
    LIVE_PASS_FRAME,
    Audit,
    Defect,
    GoldenSample,
    Image,
    Inspection,
)
from linecheck.serving.store.repositories.base import insert_for, table_of

_IN_CHUNK = 900
#: ``created_by`` of the record written for an expired ref that had none (its upload was never recorded).
RETENTION_ACTOR = "retention"
#: Where a page starts: after this ``(time, key)``; None: from the oldest.
After = tuple[datetime, Any] | None


@dataclass(frozen=True, kw_only=True, slots=True)
class RefHolders:
    """What the live records holding one image ref say about it, and its own record.

    ``newest_pass_frame``: capture time of the newest pass frame holding it (None: none holds it);
    ``newest_other``: the same over every other frame, defect crop and heat map.
    """

    ref: str
    newest_pass_frame: datetime | None = None
    newest_other: datetime | None = None
    awaiting_review: bool = False
    awaiting_code: bool = False
    awaiting_audit: bool = False
    golden: bool = False
    records: int = 0
    stored_at: datetime | None = None
    size_bytes: int = 0

    @property
    def held(self) -> bool:
        """Whether any live record (or a golden sample) holds the ref."""
        return self.golden or self.newest_pass_frame is not None or self.newest_other is not None


def _live(predicate: str) -> Any:
    """One of the models' partial-index predicates as a condition (parenthesised: it may hold an OR)."""
    return text(f"({predicate})")


def _chunks(values: Iterable[str]) -> list[list[str]]:
    ordered = sorted(set(values))
    return [ordered[i : i + _IN_CHUNK] for i in range(0, len(ordered), _IN_CHUNK)]


def _after(time_col: Any, key_col: Any, after: After) -> list[Any]:
    """The keyset condition of a page that starts after ``after`` (the time bound lets an index seek)."""
    if after is None:
        return []
    return [time_col >= after[0], tuple_(time_col, key_col) > tuple_(after[0], after[1])]


def frames_page(
    session: Session, *, pass_frames: bool, before: datetime, after: After, limit: int
) -> list[Row[Any]]:
    """Live frames (``captured_at``, ``id``, ``image_ref``) captured before ``before``, oldest first.

    ``pass_frames``: frames judged pass with no defect; else every other frame.
    """
    t = table_of(Inspection)
    query = (
        select(t.c.captured_at, t.c.id, t.c.image_ref)
        .where(_live(LIVE_PASS_FRAME if pass_frames else LIVE_OTHER_FRAME), t.c.captured_at < before)
        .where(*_after(t.c.captured_at, t.c.id, after))
        .order_by(t.c.captured_at, t.c.id)
        .limit(limit)
    )
    return list(session.execute(query))


def defects_page(session: Session, *, before: datetime, after: After, limit: int) -> list[Row[Any]]:
    """Defects with a live crop or heat map captured before ``before``, oldest first.

    Rows are (``captured_at``, ``id``, ``crop_ref``, ``heatmap_ref``), each ref null once expired.
    """
    t = table_of(Defect)
    crop = case((t.c.crop_expired_at.is_(None), t.c.crop_ref), else_=None)
    heatmap = case((t.c.heatmap_expired_at.is_(None), t.c.heatmap_ref), else_=None)
    query = (
        select(t.c.captured_at, t.c.id, crop.label("crop_ref"), heatmap.label("heatmap_ref"))
        .where(_live(LIVE_DEFECT_IMAGES), t.c.captured_at < before)
        .where(*_after(t.c.captured_at, t.c.id, after))
        .order_by(t.c.captured_at, t.c.id)
        .limit(limit)
    )
    return list(session.execute(query))


def images_page(session: Session, *, before: datetime, after: After, limit: int) -> list[Row[Any]]:
    """Image records not expired, stored before ``before`` (``created_at``, ``ref``), oldest first."""
    t = table_of(Image)
    query = (
        select(t.c.created_at, t.c.ref)
        .where(_live("expired_at IS NULL"), t.c.created_at < before)
        .where(*_after(t.c.created_at, t.c.ref, after))
        .order_by(t.c.created_at, t.c.ref)
        .limit(limit)
    )
    return list(session.execute(query))


def oldest_live_frame(session: Session, *, pass_frames: bool, since: datetime | None) -> datetime | None:
    """Capture time of the oldest live frame of the class captured at or after ``since`` (None: any)."""
    t = table_of(Inspection)
    query = select(t.c.captured_at).where(_live(LIVE_PASS_FRAME if pass_frames else LIVE_OTHER_FRAME))
    if since is not None:
        query = query.where(t.c.captured_at >= since)
    return session.scalar(query.order_by(t.c.captured_at).limit(1))


def oldest_live_defect(session: Session, *, since: datetime | None) -> datetime | None:
    """Capture time of the oldest defect with a live crop or heat map, at or after ``since``."""
    t = table_of(Defect)
    query = select(t.c.captured_at).where(_live(LIVE_DEFECT_IMAGES))
    if since is not None:
        query = query.where(t.c.captured_at >= since)
    return session.scalar(query.order_by(t.c.captured_at).limit(1))


def holders(session: Session, refs: Iterable[str], *, lock: bool) -> dict[str, RefHolders]:
    """What holds each of ``refs`` (one entry each): live frames by class, crops, heat maps, golden samples.

    A few grouped queries per 900 refs, over the partial ref indexes. ``lock`` locks the refs'
    image records first (PostgreSQL ``FOR UPDATE``; SQLite's writer holds the database): a writer
    that refers to one of them waits (see :func:`~.images.expired_among`), so what is read here
    still holds when the refs are expired in the same transaction.
    """
    facts: dict[str, dict[str, Any]] = {}

    def fact(ref: str) -> dict[str, Any]:
        return facts.setdefault(ref, {"ref": ref})

    def newest(ref: str, name: str, at: datetime | None) -> None:
        found = fact(ref)
        if at is not None and (found.get(name) is None or at > found[name]):
            found[name] = at

    i, d, g, im = table_of(Inspection), table_of(Defect), table_of(GoldenSample), table_of(Image)
    a = table_of(Audit)
    pass_class = case((and_(i.c.verdict == "pass", i.c.defect_count == 0), 1), else_=0)
    # the frame's few defects by inspection_id; the state is wrapped so that no planner walks every
    # pending defect of the store through the review-state indexes instead
    pending = exists().where(d.c.inspection_id == i.c.id, func.coalesce(d.c.review_state, "") == "pending")
    unread = and_(i.c.code_status == "code_unread", i.c.code.is_(None))
    # a frame kept for audit (a pass-audit sample or a near miss) no person has audited yet: the frame is
    # what the audit looks at
    kept_for_audit = or_(i.c.audit_sample.is_(True), i.c.audit_borderline.is_(True))
    unaudited = and_(kept_for_audit, ~exists().where(a.c.inspection_id == i.c.id))
    for chunk in _chunks(refs):
        for ref in chunk:
            fact(ref)["records"] = 0
        # locked in ref order, as writers share-lock them (expired_among), so the two cannot deadlock
        records = (
            select(im.c.ref, im.c.created_at, im.c.size_bytes).where(im.c.ref.in_(chunk)).order_by(im.c.ref)
        )
        if lock:
            records = records.with_for_update()
        for row in session.execute(records):
            fact(row.ref).update(stored_at=row.created_at, size_bytes=row.size_bytes)
        frames = (
            select(
                i.c.image_ref,
                pass_class.label("pass_class"),
                func.max(i.c.captured_at).label("newest"),
                func.max(case((pending, 1), else_=0)).label("pending"),
                func.max(case((unread, 1), else_=0)).label("unread"),
                func.max(case((unaudited, 1), else_=0)).label("unaudited"),
                func.count().label("records"),
            )
            .where(i.c.image_ref.in_(chunk), _live(LIVE_FRAME))
            .group_by(i.c.image_ref, pass_class)
        )
        for row in session.execute(frames):
            newest(row.image_ref, "newest_pass_frame" if row.pass_class else "newest_other", row.newest)
            found = fact(row.image_ref)
            found["awaiting_review"] = found.get("awaiting_review", False) or bool(row.pending)
            found["awaiting_code"] = found.get("awaiting_code", False) or bool(row.unread)
            found["awaiting_audit"] = found.get("awaiting_audit", False) or bool(row.unaudited)
            found["records"] += row.records
        for column, live in ((d.c.crop_ref, LIVE_CROP), (d.c.heatmap_ref, LIVE_HEATMAP)):
            held = (
                select(
                    column.label("ref"),
                    func.max(d.c.captured_at).label("newest"),
                    func.max(case((d.c.review_state == "pending", 1), else_=0)).label("pending"),
                    func.count().label("records"),
                )
                .where(column.in_(chunk), _live(live))
                .group_by(column)
            )
            for row in session.execute(held):
                newest(row.ref, "newest_other", row.newest)
                found = fact(row.ref)
                found["awaiting_review"] = found.get("awaiting_review", False) or bool(row.pending)
                found["records"] += row.records
        for ref in session.scalars(select(g.c.image_ref).where(g.c.image_ref.in_(chunk)).distinct()):
            fact(ref)["golden"] = True
            fact(ref)["records"] += 1
    return {ref: RefHolders(**values) for ref, values in facts.items()}


def expire(session: Session, rules: Mapping[str, str], *, at: datetime) -> None:
    """Expire the images of ``rules`` (ref -> the setting that expired it) and every live record holding them.

    The image records (one written for a ref that had none, so that its GET answers 410 too), the
    frames, crops and heat maps all get ``at``; the caller commits before any file is deleted.
    """
    images = table_of(Image)
    by_rule: dict[str, list[str]] = {}
    for ref, rule in rules.items():
        by_rule.setdefault(rule, []).append(ref)
    for rule, refs in by_rule.items():
        for chunk in _chunks(refs):
            session.execute(
                update(images)
                .where(images.c.ref.in_(chunk), images.c.expired_at.is_(None))
                .values(expired_at=at, expired_by=rule)
            )
            session.execute(
                insert_for(session, images).on_conflict_do_nothing(),
                [
                    {
                        "ref": ref, "content_type": "application/octet-stream", "size_bytes": 0,
                        "created_at": at, "created_by": RETENTION_ACTOR, "expired_at": at, "expired_by": rule,
                    }
                    for ref in chunk
                ],
            )  # fmt: skip
    i, d = table_of(Inspection), table_of(Defect)
    for chunk in _chunks(rules):
        session.execute(
            update(i).where(i.c.image_ref.in_(chunk), _live(LIVE_FRAME)).values(image_expired_at=at)
        )
        session.execute(update(d).where(d.c.crop_ref.in_(chunk), _live(LIVE_CROP)).values(crop_expired_at=at))
        session.execute(
            update(d).where(d.c.heatmap_ref.in_(chunk), _live(LIVE_HEATMAP)).values(heatmap_expired_at=at)
        )


def claim_file_deletions(session: Session, refs: Sequence[str], *, at: datetime) -> list[str]:
    """Mark the files of those ``refs`` that expired and still have one as deleted; return them.

    The records are locked until the caller commits, which it does once the files are gone: an
    upload of the same bytes meanwhile (it revives the record) waits, then stores the file again.
    """
    images = table_of(Image)
    claimed: list[str] = []
    for chunk in _chunks(refs):
        stmt = (
            update(images)
            .where(images.c.ref.in_(chunk), _live(EXPIRED_FILE_LEFT))
            .values(file_deleted_at=at)
            .returning(images.c.ref)
        )
        claimed.extend(session.scalars(stmt))
    return sorted(claimed)


def expired_files_left(session: Session, *, limit: int) -> list[str]:
    """Refs that expired but whose file was not deleted yet (a run that stopped half-way)."""
    images = table_of(Image)
    query = select(images.c.ref).where(_live(EXPIRED_FILE_LEFT)).order_by(images.c.ref).limit(limit)
    return list(session.scalars(query))
