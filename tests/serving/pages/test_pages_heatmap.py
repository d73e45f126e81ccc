"""The review page's heat map toggle, checked through the real API without a browser.

The API (uvicorn on SQLite) stores an inspection with an anomaly defect (crop and heat map) and a
stain (crop only). The page it serves has the toggle next to the crop, and the script that decides
what the crop pane shows, fetched from the API, is run by Node on the defects the review queue
answers: the heat map for the anomaly defect when toggled on, the crop otherwise, never a heat map
for the stain.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from linecheck.serving.api.testing import create_key, run_api
from linecheck.serving.store.testing import copy_sqlite

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def queue(
    pages_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list, dict]]:
    """(base URL of the running API, its review queue, a viewer's headers) after posting one inspection."""
    folder = tmp_path_factory.mktemp("heatmap-page")
    lines = folder / "lines"
    lines.mkdir()
    for path in (ROOT / "configs" / "lines").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.stem == "textile-01":
            text = text.replace(
                "classes: [hole, stain, broken_yarn, knot]", "classes: [hole, stain, anomaly]"
            )
        (lines / path.name).write_text(text, encoding="utf-8")
    db_url = copy_sqlite(pages_sqlite_template, folder / "linecheck.db")
    line = {"Authorization": f"Bearer {create_key(db_url, 'line', 'textile-01')}"}
    viewer = {"Authorization": f"Bearer {create_key(db_url, 'viewer')}"}
    with run_api(db_url, folder, lines_dir=lines) as base:

        def upload(image: np.ndarray) -> str:
            data = cv2.imencode(".jpg", image)[1].tobytes()
            answer = httpx.post(
                f"{base}/v1/images", content=data, headers={**line, "Content-Type": "image/jpeg"}
            )
            assert answer.status_code in (200, 201), answer.text
            return str(answer.json()["ref"])

        crop = np.full((30, 40, 3), 120, np.uint8)
        heat = crop.copy()
        heat[8:22, 8:32] = (30, 220, 240)
        location = {"along_m": 1.0, "across_m": 0.2, "length_m": 0.02, "width_m": 0.02}
        body = {
            "id": "heatmap0page0001",
            "line_id": "textile-01",
            "station": "cam1",
            "code": "RL0000000555",
            "code_status": "trigger",
            "captured_at": "2026-12-05T10:00:00+00:00",
            "model_name": "textile",
            "model_version": "1",
            "verdict": "fail",
            "image_width": 640,
            "image_height": 640,
            "defects": [
                {"class_name": "stain", "confidence": 0.8, "bbox": [10, 10, 30, 30], "location": location,
                 "crop_ref": upload(crop)},
                {"class_name": "anomaly", "confidence": 0.9, "bbox": [100, 100, 124, 114],
                 "location": location, "crop_ref": upload(crop[::-1].copy()), "heatmap_ref": upload(heat)},
            ],
        }  # fmt: skip
        posted = httpx.post(f"{base}/v1/inspections", json=body, headers=line)
        assert posted.status_code == 201, posted.text
        items = httpx.get(f"{base}/v1/review/queue", params={"state": "all"}, headers=viewer).json()["items"]
        yield base, items, viewer


class _Figure(HTMLParser):
    """Tags inside ``<figure class="crop">`` of the page, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.inside: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "figure" and found.get("class") == "crop":
            self.depth = 1
        elif self.depth:
            self.inside.append((tag, found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self.depth = 0


def test_the_page_has_a_heat_map_toggle_next_to_the_crop(queue: tuple[str, list, dict]) -> None:
    base, _, _ = queue
    page = _Figure()
    page.feed(httpx.get(f"{base}/review").text)
    tags = {found.get("id"): (tag, found) for tag, found in page.inside}
    assert tags["crop-canvas"][0] == "canvas"
    tag, toggle = tags["heatmap-toggle"]
    assert tag == "button" and "hidden" in toggle and toggle["aria-pressed"] == "false"  # shown per defect
    script = httpx.get(f"{base}/review/static/review.js").text
    assert re.search(r'import \{[^}]*\bheatmapView\b[^}]*\} from "\./heatmap_view\.js"', script)
    assert "heatmapRef: heat.heatmapRef" in script and '"heatmap-toggle"' in script


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but node is not installed: the review-page script check cannot run")
        pytest.skip(
            "node is not installed (apt-get install -y nodejs): the review-page script check is skipped"
        )
    return node


def _run_view(base: str, defects: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    """``heatmapView`` and ``cropCaption`` of the served script, run by Node on ``defects``."""
    module = tmp_path / "heatmap_view.mjs"
    module.write_text(httpx.get(f"{base}/review/static/heatmap_view.js").text, encoding="utf-8")
    script = (
        'import { cropCaption, heatmapView } from "./heatmap_view.mjs";\n'
        'import { readFileSync } from "node:fs";\n'
        'const defects = JSON.parse(readFileSync(0, "utf-8"));\n'
        "const out = defects.map((d) => ({ off: heatmapView(d, false), on: heatmapView(d, true),\n"
        "  caption: cropCaption(heatmapView(d, true).shown ? 'heatmap' : 'stored') }));\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    (tmp_path / "run.mjs").write_text(script, encoding="utf-8")
    done = subprocess.run(
        [_node(), "run.mjs"],
        cwd=tmp_path,
        input=json.dumps(defects),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_the_crop_pane_shows_the_heat_map_of_an_anomaly_defect_only_when_toggled(
    queue: tuple[str, list, dict], tmp_path: Path
) -> None:
    base, items, viewer = queue
    defects = {i["defect"]["class_name"]: i["defect"] for i in items}
    assert defects["anomaly"]["heatmap_ref"] and defects["stain"]["heatmap_ref"] is None
    anomaly, stain = _run_view(base, [defects["anomaly"], defects["stain"]], tmp_path)
    ref = defects["anomaly"]["heatmap_ref"]
    assert anomaly["on"] == {"available": True, "shown": True, "heatmapRef": ref}
    assert anomaly["off"] == {"available": True, "shown": False, "heatmapRef": None}
    assert stain["on"] == stain["off"] == {"available": False, "shown": False, "heatmapRef": None}
    assert "heat map" in anomaly["caption"] and stain["caption"] == "stored crop"
    image = httpx.get(f"{base}/v1/images/{ref}", headers=viewer)  # what the page then loads
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
