"""``heatmap_ref``: an anomaly defect's heat map is stored with it and served wherever its crop is
(inspection, defect, review queue, trace), on SQLite and PostgreSQL; detector defects keep null."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from api_harness import LINES_DIR
from api_payloads import textile

from linecheck.serving.api.testing import create_key, run_api


@pytest.fixture(scope="module")
def anomaly_lines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped lines, textile-01 answering an anomaly model's class too."""
    folder = tmp_path_factory.mktemp("lines")
    for path in LINES_DIR.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.stem == "textile-01":
            before = "classes: [hole, stain, broken_yarn, knot]"
            assert before in text
            text = text.replace(before, "classes: [hole, stain, broken_yarn, knot, anomaly]")
        (folder / path.name).write_text(text, encoding="utf-8")
    return folder


class Client:
    """The running API with a line key and a viewer key."""

    def __init__(self, base: str, line_key: str, viewer_key: str) -> None:
        self.base = base
        self.line = {"Authorization": f"Bearer {line_key}"}
        self.viewer = {"Authorization": f"Bearer {viewer_key}"}

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(
            self.base + path, headers={**self.line, **kwargs.pop("headers", {})}, timeout=30, **kwargs
        )

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.base + path, headers=self.viewer, params=params, timeout=30)
        assert response.status_code == 200, (path, response.text)
        return (
            response.json() if response.headers["content-type"].startswith("application/json") else response
        )

    def upload(self, image: np.ndarray) -> str:
        ok, data = cv2.imencode(".jpg", image)
        assert ok
        response = self.post("/v1/images", content=data.tobytes(), headers={"Content-Type": "image/jpeg"})
        assert response.status_code in (200, 201), response.text
        return str(response.json()["ref"])


@pytest.fixture
def client(any_db_url: str, anomaly_lines: Path, tmp_path: Path) -> Iterator[Client]:
    with run_api(any_db_url, tmp_path / "api", lines_dir=anomaly_lines) as base:
        yield Client(base, create_key(any_db_url, "line", "textile-01"), create_key(any_db_url, "viewer"))


def _body(client: Client) -> dict[str, Any]:
    crop = np.full((24, 32, 3), 90, np.uint8)
    heat = crop.copy()
    heat[4:20, 4:28] = (40, 200, 250)
    body = textile()
    stain = body["defects"][0]
    body["defects"] = [
        {**stain, "crop_ref": client.upload(crop)},
        {
            **stain,
            "class_name": "anomaly",
            "confidence": 0.97,
            "bbox": [100, 100, 140, 120],
            "crop_ref": client.upload(crop[:, ::-1].copy()),
            "heatmap_ref": client.upload(heat),
        },
    ]
    return body


def test_heatmap_ref_round_trips_wherever_the_defect_is_served(client: Client) -> None:
    body = _body(client)
    sent = body["defects"][1]["heatmap_ref"]
    created = client.post("/v1/inspections", json=body)
    assert created.status_code == 201, created.text

    stored = client.get(f"/v1/inspections/{body['id']}")
    assert [(d["class_name"], d["heatmap_ref"]) for d in stored["defects"]] == [
        ("stain", None),
        ("anomaly", sent),
    ]
    anomaly_id = stored["defects"][1]["id"]
    assert client.get(f"/v1/defects/{anomaly_id}")["heatmap_ref"] == sent
    queue = client.get("/v1/review/queue", line_id="textile-01", state="all", limit=50)["items"]
    assert {i["defect"]["class_name"]: i["defect"]["heatmap_ref"] for i in queue} == {
        "stain": None,
        "anomaly": sent,
    }
    trace = client.get(f"/v1/trace/{body['code']}")
    traced = [d for i in trace["inspections"] for d in i["defects"]]
    assert sorted((d["class_name"], d["heatmap_ref"] or "") for d in traced) == [
        ("anomaly", sent),
        ("stain", ""),
    ]
    image = client.get(f"/v1/images/{sent}")
    assert image.headers["content-type"] == "image/jpeg"


def test_heatmap_ref_is_part_of_the_inspection_for_retries(client: Client) -> None:
    body = _body(client)
    assert client.post("/v1/inspections", json=body).status_code == 201
    explicit_null = {**body, "defects": [{**body["defects"][0], "heatmap_ref": None}, body["defects"][1]]}
    again = client.post("/v1/inspections", json=explicit_null)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")  # null is the same as absent
    other = {**body, "defects": [body["defects"][0], {**body["defects"][1], "heatmap_ref": "f" * 64}]}
    conflict = client.post("/v1/inspections", json=other)
    assert conflict.status_code == 409, conflict.text


@pytest.mark.parametrize("ref", ["../../etc/passwd", "F" * 64, "f" * 63, 7])
def test_a_heatmap_ref_that_is_not_a_sha256_is_refused_by_name(client: Client, ref: Any) -> None:
    body = _body(client)
    body["defects"][1]["heatmap_ref"] = ref
    refused = client.post("/v1/inspections", json=body)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "defects[1].heatmap_ref"
