"""A real API (uvicorn) over a real store for the image retention tests, and what they check on it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
from api_payloads import pv, textile
from sqlalchemy import select

from linecheck.serving.api.services.retention import PruneReport, RetentionPolicy, prune_images
from linecheck.serving.api.testing import create_key, run_api
from linecheck.serving.store.db import Database
from linecheck.serving.store.images import FileImageStore
from linecheck.serving.store.models import Defect, Image, Inspection

POLICY = RetentionPolicy(pass_days=30, defect_days=90)


@dataclass
class Plant:
    """The running API, its store (database and image files) and one key per role."""

    base: str
    db: Database
    images: FileImageStore
    keys: dict[str, str]
    _seed: list[int] = field(default_factory=lambda: [0])

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def get(self, path: str, who: str = "viewer", **params: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.headers(who), params=params, timeout=30)

    def post(self, path: str, who: str, body: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", headers=self.headers(who), json=body, timeout=30)

    def image(self) -> bytes:
        """A new PNG, different from every other one of this plant."""
        self._seed[0] += 1
        rng = np.random.default_rng(self._seed[0])
        return cv2.imencode(".png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))[1].tobytes()

    def upload(self, data: bytes | None = None, who: str = "textile") -> str:
        answer = httpx.post(
            f"{self.base}/v1/images",
            content=data or self.image(),
            headers={**self.headers(who), "Content-Type": "image/png"},
            timeout=30,
        )
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["ref"])

    def inspect(self, body: dict[str, Any]) -> str:
        who = {"textile-01": "textile", "pv-01": "pv"}[body["line_id"]]
        answer = self.post("/v1/inspections", who, body)
        assert answer.status_code == 201, answer.text
        return str(body["id"])

    def pass_frame(self, at: datetime, ref: str | None = None, **overrides: Any) -> tuple[str, str]:
        """A PV module judged pass with no defect: (inspection id, its frame's ref)."""
        ref = ref or self.upload(who="pv")
        code = overrides.pop("code", f"PV{self._seed[0]:012d}")
        return self.inspect(pv(code, captured_at=at.isoformat(), image_ref=ref, **overrides)), ref

    def fail_frame(
        self, at: datetime, frame: str | None = None, crop: str | None = None
    ) -> tuple[str, str, str]:
        """A textile frame with one stain: (inspection id, frame ref, crop ref); its defect is pending."""
        frame, crop = frame or self.upload(), crop or self.upload()
        body = textile(at=at, image_ref=frame)
        body["defects"][0]["crop_ref"] = crop
        return self.inspect(body), frame, crop

    def defect_of(self, inspection_id: str) -> dict[str, Any]:
        return dict(self.get(f"/v1/inspections/{inspection_id}").json()["defects"][0])

    def review(self, inspection_id: str, decision: str = "confirm") -> None:
        defect = self.defect_of(inspection_id)
        answer = self.post(f"/v1/defects/{defect['id']}/review", "reviewer", {"decision": decision})
        assert answer.status_code == 201, answer.text

    def prune(self, now: datetime, *, dry_run: bool = False, batch: int = 2) -> PruneReport:
        return prune_images(self.db, self.images, POLICY, now=now, dry_run=dry_run, batch=batch)

    def status(self, ref: str) -> int:
        return self.get(f"/v1/images/{ref}").status_code

    def stored(self, ref: str) -> bool:
        return self.images.path(ref).is_file()


@contextmanager
def running_plant(db_url: str, data_dir: Path, settings: dict[str, Any] | None = None) -> Iterator[Plant]:
    """The API on ``db_url`` with its images under ``data_dir``; keys for two lines, a reviewer, a viewer."""
    with run_api(db_url, data_dir, settings=settings) as base:
        keys = {
            "textile": create_key(db_url, "line", "textile-01"),
            "pv": create_key(db_url, "line", "pv-01"),
            "reviewer": create_key(db_url, "reviewer"),
            "viewer": create_key(db_url, "viewer"),
        }
        db = Database.from_url(db_url)
        try:
            yield Plant(base=base, db=db, images=FileImageStore(data_dir / "images"), keys=keys)
        finally:
            db.dispose()


def inconsistencies(db: Database, images: FileImageStore) -> list[str]:
    """Every record that points at a deleted file without saying so, and every file a record says is gone."""
    found: list[str] = []
    with db.reader() as session:
        for row in session.execute(select(Inspection.id, Inspection.image_ref, Inspection.image_expired_at)):
            if row.image_ref and row.image_expired_at is None and not images.exists(row.image_ref):
                found.append(f"inspection {row.id}: frame {row.image_ref} is gone, not said expired")
        columns = (
            Defect.id,
            Defect.crop_ref,
            Defect.crop_expired_at,
            Defect.heatmap_ref,
            Defect.heatmap_expired_at,
        )
        for row in session.execute(select(*columns)):
            for ref, expired in (
                (row.crop_ref, row.crop_expired_at),
                (row.heatmap_ref, row.heatmap_expired_at),
            ):
                if ref and expired is None and not images.exists(ref):
                    found.append(f"defect {row.id}: {ref} is gone, not said expired")
        for image in session.scalars(select(Image)):
            if image.expired_at is None and not images.exists(image.ref):
                found.append(f"image {image.ref}: not expired, but its file is gone")
            if image.file_deleted_at is not None and images.exists(image.ref):
                found.append(f"image {image.ref}: its file is said deleted, but is there")
    return found


def days_ago(days: float) -> datetime:
    """The current time less ``days`` (for runs that use the real clock: the API's, the command's)."""
    return datetime.now(UTC) - timedelta(days=days)
