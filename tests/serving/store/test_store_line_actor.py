"""Line configs synced from a checkout with a long path: the actor fits its column on both databases."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from linecheck.serving.api.services.lines import sync_lines
from linecheck.serving.store.db import Database, upgrade_head
from linecheck.serving.store.models import Line
from linecheck.serving.store.repositories.lines import fit_actor

ROOT = Path(__file__).resolve().parents[3]


def test_lines_sync_from_a_deep_checkout_keeps_the_file_name(db: Database, tmp_path: Path) -> None:
    deep = tmp_path / ("checkout-" + "x" * 80) / "configs" / "lines"
    shutil.copytree(ROOT / "configs" / "lines", deep)
    upgrade_head(db.engine)
    synced = sync_lines(db, deep)  # PostgreSQL refused the 100-character actor before
    assert sorted(synced) == ["bearing-01", "pv-01", "textile-01"]
    with db.engine.connect() as conn:
        actors = dict(conn.execute(select(Line.id, Line.updated_by)).all())
    for line_id, actor in actors.items():
        assert len(actor) <= 64
        assert actor.startswith("config:…") and actor.endswith(f"/configs/lines/{line_id}.yaml")


def test_a_short_actor_is_kept_whole() -> None:
    assert fit_actor("config:/srv/lines/a.yaml") == "config:/srv/lines/a.yaml"
    assert len(fit_actor("x" * 200)) == 64
