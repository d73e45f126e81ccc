"""Where :func:`linecheck.datasets.from_reviews.export_reviews` reads reviewed frames from.

* :class:`ApiReviewSource`: the traceability API over HTTP (any key may read): the review queue
  per decision finds the frames, the audit queue (``/v1/review/audit?state=audited``) the audited
  frames kept for audit (samples and near misses), ``/v1/inspections/{id}`` gives all of a frame's
  defects and its audit, and ``/v1/images/{ref}`` the stored full frame.
* :class:`StoreReviewSource`: the store itself (SQLite or PostgreSQL URL plus the image folder),
  through the API's repositories, for exports next to the database without a running API; it leaves
  out the line's challenge parts, as the API's review and audit queues do.

Both read a live store page by page: a review made during an export may or may not be in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from linecheck.datasets.from_reviews import REVIEW_STATES, LineClasses, ReviewedDefect, ReviewedFrame
from linecheck.errors import (
    AuthenticationError,
    ConfigError,
    GoneError,
    InvalidFieldError,
    NotFoundError,
    PermissionDeniedError,
    ServerUnavailableError,
    StoreError,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from linecheck.serving.store.models import Inspection

PAGE = 500


def _defect(raw: dict[str, Any]) -> ReviewedDefect:
    corrected = raw.get("final_bbox") is not None
    x1, y1, x2, y2 = (float(v) for v in (raw["final_bbox"] if corrected else raw["bbox"]))
    return ReviewedDefect(
        id=int(raw["id"]),
        class_name=str(raw["class_name"]),
        final_class=str(raw["final_class"]),
        review_state=str(raw["review_state"]),
        bbox=(x1, y1, x2, y2),
        source=str(raw.get("source") or "model"),
        corrected=corrected and raw.get("source", "model") == "model",
    )


class ApiReviewSource:
    """Reviewed frames from the API at ``base_url`` with API key ``key`` (role viewer suffices)."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidFieldError("api", base_url, "expected an http:// or https:// URL")
        if not key:
            raise InvalidFieldError("key", key, "expected an API key (lc_...)")
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout_s,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = self._client.get(path, params=params)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(f"API at {self._client.base_url} not reachable: {exc}") from exc
        if response.status_code == 200:
            return response
        try:
            message = str(response.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        where = f"GET {path}: {response.status_code} {message}"
        if response.status_code == 401:
            raise AuthenticationError(where)
        if response.status_code == 403:
            raise PermissionDeniedError(where)
        if response.status_code == 404:
            raise NotFoundError(where)
        if response.status_code == 410:  # an image the retention deleted
            raise GoneError(where)
        if response.status_code == 422:
            raise InvalidFieldError(path, params, message)
        raise StoreError(where)

    def line_classes(self, line_id: str) -> LineClasses:
        """Kind and classes of ``line_id`` from ``GET /v1/lines/{id}``."""
        body = self._get(f"/v1/lines/{line_id}").json()
        return LineClasses(line_id=line_id, kind=body["kind"], classes=tuple(body["config"]["classes"]))

    def _reviewed_inspection_ids(
        self, line_id: str, since: datetime | None, until: datetime | None
    ) -> dict[str, None]:
        found: dict[str, None] = {}
        for state in REVIEW_STATES:
            offset = 0
            while True:
                params: dict[str, Any] = {"line_id": line_id, "state": state, "limit": PAGE, "offset": offset}
                if since is not None:
                    params["since"] = since.isoformat()
                if until is not None:
                    params["until"] = until.isoformat()
                items = self._get("/v1/review/queue", params).json()["items"]
                found.update((item["defect"]["inspection_id"], None) for item in items)
                if len(items) < PAGE:
                    break
                offset += PAGE
        return found

    def _audited_inspection_ids(
        self, line_id: str, since: datetime | None, until: datetime | None
    ) -> dict[str, None]:
        found: dict[str, None] = {}
        offset = 0
        while True:
            params: dict[str, Any] = {"line_id": line_id, "state": "audited", "limit": PAGE, "offset": offset}
            if since is not None:
                params["since"] = since.isoformat()
            if until is not None:
                params["until"] = until.isoformat()
            items = self._get("/v1/review/audit", params).json()["items"]
            found.update((item["inspection_id"], None) for item in items)
            if len(items) < PAGE:
                return found
            offset += PAGE

    def _frame(self, inspection_id: str) -> ReviewedFrame:
        body = self._get(f"/v1/inspections/{inspection_id}").json()
        latest = body.get("latest_audit")
        return ReviewedFrame(
            inspection_id=body["id"],
            line_id=body["line_id"],
            code=body["code"],
            captured_at=datetime.fromisoformat(body["captured_at"]),
            image_ref=body["image_ref"],
            image_width=int(body["image_width"]),
            image_height=int(body["image_height"]),
            defects=tuple(_defect(d) for d in body["defects"]),
            audit_sample=bool(body.get("audit_sample")),
            audit_borderline=bool(body.get("audit_borderline")),
            audit=str(latest["outcome"]) if latest else None,
        )

    def reviewed_frames(
        self, line_id: str, *, since: datetime | None, until: datetime | None
    ) -> Iterator[ReviewedFrame]:
        """Frames with a reviewed defect, each with all of its defects (one request per frame)."""
        for inspection_id in self._reviewed_inspection_ids(line_id, since, until):
            yield self._frame(inspection_id)

    def audited_frames(
        self, line_id: str, *, since: datetime | None, until: datetime | None
    ) -> Iterator[ReviewedFrame]:
        """Audited samples and near misses, each with all of its defects (one request per frame)."""
        for inspection_id in self._audited_inspection_ids(line_id, since, until):
            yield self._frame(inspection_id)

    def image(self, ref: str) -> bytes:
        """The stored image ``ref``."""
        return self._get(f"/v1/images/{ref}").content


class StoreReviewSource:
    """Reviewed frames read from the store at ``database_url`` and images under ``images_dir``."""

    def __init__(self, database_url: str, images_dir: Path) -> None:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        from linecheck.serving.store.db import Database, current_revision
        from linecheck.serving.store.images import FileImageStore

        try:
            url = make_url(database_url)
        except ArgumentError as exc:
            raise ConfigError(f"database_url={database_url!r}: not a valid SQLAlchemy URL ({exc})") from exc
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            raise ConfigError(f"database_url={database_url!r}: no SQLite file at {url.database!r}")
        self._db = Database.from_url(database_url)
        try:
            revision = current_revision(self._db.engine)
        except SQLAlchemyError as exc:
            self._db.dispose()
            raise StoreError(f"database_url={url.render_as_string()!r}: cannot be read: {exc}") from exc
        if revision is None:
            self._db.dispose()
            raise StoreError(
                f"database_url={url.render_as_string()!r}: no linecheck schema in it "
                "(`linecheck serve api` creates it)"
            )
        self._images = FileImageStore(images_dir)
        self._images_dir = images_dir

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the database connections."""
        self._db.dispose()

    def line_classes(self, line_id: str) -> LineClasses:
        """Kind and classes of ``line_id`` as synced into the store."""
        from linecheck.serving.store.repositories import lines as line_repo

        with self._db.reader() as session:
            row = line_repo.get_line(session, line_id)
            if row is None:
                raise NotFoundError(f"line_id={line_id!r} is not a registered line of the store")
            return LineClasses(line_id=line_id, kind=row.kind, classes=tuple(row.config["classes"]))

    @staticmethod
    def _frames(session: Session, inspections: list[Inspection]) -> list[ReviewedFrame]:
        """``inspections`` with all of their defects and their newest audits (two queries)."""
        from linecheck.serving.store.repositories import audits as audit_repo
        from linecheck.serving.store.repositories import inspections as inspection_repo

        defects = inspection_repo.defects_for_inspections(session, [i.id for i in inspections])
        audits = audit_repo.latest_audits(session, [i.id for i in inspections if i.kept_for_audit])
        by_inspection: dict[str, list[ReviewedDefect]] = {}
        for d in defects:
            x1, y1, x2, y2 = d.final_bbox or (d.x1, d.y1, d.x2, d.y2)
            by_inspection.setdefault(d.inspection_id, []).append(
                ReviewedDefect(
                    id=d.id,
                    class_name=d.class_name,
                    final_class=d.final_class,
                    review_state=d.review_state,
                    bbox=(x1, y1, x2, y2),
                    source=d.source,
                    corrected=d.final_bbox is not None and d.source == "model",
                )
            )
        return [
            ReviewedFrame(
                inspection_id=inspection.id,
                line_id=inspection.line_id,
                code=inspection.code,
                captured_at=inspection.captured_at,
                image_ref=inspection.image_ref,
                image_width=inspection.image_width,
                image_height=inspection.image_height,
                defects=tuple(by_inspection.get(inspection.id, ())),
                audit_sample=inspection.audit_sample,
                audit_borderline=inspection.audit_borderline,
                audit=str(audits[inspection.id].outcome) if inspection.id in audits else None,
            )
            for inspection in inspections
        ]

    def _challenge_units(self, line_id: str) -> tuple[tuple[str, str], ...]:
        """The line's challenge parts (its ``verification:``), left out as the API's queues leave them out."""
        from linecheck.config import LineConfig
        from linecheck.serving.store.repositories import lines as line_repo

        with self._db.reader() as session:
            row = line_repo.get_line(session, line_id)
        verification = LineConfig.from_stored(row.config).verification if row is not None else None
        return tuple((line_id, code) for code in (verification.codes if verification else []))

    def reviewed_frames(
        self, line_id: str, *, since: datetime | None, until: datetime | None
    ) -> Iterator[ReviewedFrame]:
        """Frames with a reviewed defect (challenge parts left out), each with all of its defects."""
        from linecheck.serving.store.repositories import reviews as review_repo

        challenge = self._challenge_units(line_id)
        for state in REVIEW_STATES:
            offset = 0
            flt = review_repo.QueueFilter(
                state=state, line_id=line_id, since=since, until=until, exclude_units=challenge
            )
            while True:
                with self._db.reader() as session:
                    rows = review_repo.review_queue(session, flt, limit=PAGE, offset=offset)
                    inspections = {inspection.id: inspection for _, inspection in rows}
                    frames = self._frames(session, list(inspections.values()))
                yield from frames
                if len(rows) < PAGE:
                    break
                offset += PAGE

    def audited_frames(
        self, line_id: str, *, since: datetime | None, until: datetime | None
    ) -> Iterator[ReviewedFrame]:
        """Audited samples and near misses (the line's challenge parts left out), a page at a time."""
        from linecheck.serving.store.repositories import audits as audit_repo

        flt = audit_repo.AuditFilter(
            state="audited",
            line_id=line_id,
            since=since,
            until=until,
            exclude_units=self._challenge_units(line_id),
        )
        offset = 0
        while True:
            with self._db.reader() as session:
                rows = audit_repo.audit_queue(session, flt, limit=PAGE, offset=offset)
                frames = self._frames(session, rows)
            yield from frames
            if len(rows) < PAGE:
                return
            offset += PAGE

    def image(self, ref: str) -> bytes:
        """The stored image ``ref`` from the image folder."""
        if not self._images_dir.is_dir():
            raise NotFoundError(f"images_dir={str(self._images_dir)!r} does not exist")
        return self._images.get(ref).data
