"""Images (content-addressed, never overwritten), OpenAPI docs, /metrics, /healthz, line listing."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from api_harness import Api, make_settings
from api_payloads import textile
from fastapi.testclient import TestClient

from linecheck.serving.api.app import create_app
from linecheck.serving.store.keys import create_key


def _encoded(ext: str, value: int = 0) -> bytes:
    image = np.full((8, 8, 3), value, np.uint8)
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def _upload(api: Api, data: bytes, content_type: str = "image/png", who: str = "textile") -> Any:
    return api.client.post(
        "/v1/images", content=data, headers={**api.headers(who), "content-type": content_type}
    )


@pytest.mark.parametrize(("ext", "content_type"), [(".png", "image/png"), (".jpg", "image/jpeg")])
def test_image_round_trip_is_idempotent(api: Api, ext: str, content_type: str) -> None:
    data = _encoded(ext, 7)
    first = _upload(api, data, content_type)
    assert first.status_code == 201, first.text
    ref = first.json()["ref"]
    assert ref == hashlib.sha256(data).hexdigest()
    path = Path(api.context.settings.resolved_images_dir()) / ref[:2] / ref[2:4] / ref
    stamp = path.stat().st_mtime_ns
    again = _upload(api, data, content_type)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert path.stat().st_mtime_ns == stamp  # never rewritten
    got = api.get(f"/v1/images/{ref}")
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == content_type


@pytest.mark.parametrize(
    ("data", "content_type", "status", "field"),
    [
        (b"GIF89a....", "image/gif", 422, "body"),
        (b"", "image/png", 422, "body"),
        (_encoded(".png"), "image/jpeg", 422, "content-type"),
        (b"\x89PNG\r\n\x1a\n" + b"0" * 300, "image/png", 413, None),
    ],
)
def test_bad_uploads(
    db_url: str, tmp_path: Path, data: bytes, content_type: str, status: int, field: Any
) -> None:
    app = create_app(make_settings(db_url, tmp_path, max_image_bytes=200))
    with TestClient(app) as client:
        key = create_key(app.state.context.db, "line", "textile-01")
        headers = {"Authorization": f"Bearer {key}", "content-type": content_type}
        response = client.post("/v1/images", content=data, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("ref", "status"),
    [
        ("0" * 64, 404),
        ("ABC" + "0" * 61, 422),  # upper case is not a ref
        ("..%2F..%2Fetc%2Fpasswd", 404),  # a slash never reaches the route
        ("etc-passwd", 422),
        ("0" * 63, 422),
    ],
)
def test_image_refs_are_validated(api: Api, ref: str, status: int) -> None:
    response = api.get(f"/v1/images/{ref}")
    assert response.status_code == status


def test_viewer_cannot_upload(api: Api) -> None:
    assert _upload(api, _encoded(".png"), who="viewer").status_code == 403


def test_openapi_documents_every_route_and_the_ingest_body(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200
    spec = api.client.get("/openapi.json").json()
    for path in [
        "/v1/inspections",
        "/v1/images",
        "/v1/trace/{code}",
        "/v1/trace/{code}/epcis",
        "/v1/review/queue",
        "/v1/defects/{defect_id}/review",
        "/v1/units/{code}/grade",
        "/v1/units/{code}/events",
        "/v1/lines/{line_id}/stats",
        "/v1/genealogy",
    ]:
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert {"IngestBody", "InspectionPayload", "DefectPayload", "Verdict", "CodeStatus"} <= set(schemas)

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    missing = {r for r in refs(spec) if r.split("/")[-1] not in schemas}
    assert missing == set()


def test_metrics_and_health(api: Api) -> None:
    body = textile()
    api.post("/v1/inspections", "textile", json=body)
    api.post("/v1/inspections", "textile", json=body)
    health = api.client.get("/healthz")
    assert health.json() == {"status": "ok", "database": "sqlite"}
    text = api.client.get("/metrics").text
    assert 'linecheck_http_requests_total{method="POST",route="/v1/inspections",status="201"} 1.0' in text
    assert 'linecheck_http_requests_total{method="POST",route="/v1/inspections",status="200"} 1.0' in text
    assert 'linecheck_inspections_ingested_total{line="textile-01",outcome="duplicate"} 1.0' in text
    assert 'linecheck_defects_ingested_total{class_name="stain",line="textile-01"} 1.0' in text


def test_lines_are_synced_with_their_config(api: Api) -> None:
    line = api.get("/v1/lines/textile-01").json()
    assert line["kind"] == "textile"
    assert line["config"]["textile"]["roll_width_m"] == 1.6
    assert line["stations"] == ["cam1"]
    assert line["updated_by"].startswith("config:")
    assert api.get("/v1/lines/nope").status_code == 404
