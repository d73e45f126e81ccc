"""The page router on its own: what it serves, with which headers, and what it refuses (no browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linecheck.serving.api.app import create_app
from linecheck.serving.api.errors import install_error_handlers
from linecheck.serving.api.pages.router import PAGES, STATIC_DIR, assets, router
from linecheck.serving.api.settings import ApiSettings
from linecheck.serving.store.db import sqlite_url


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_are_html_with_a_strict_policy(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r'<script type="module" src="([^"]+)"', response.text)
    assert scripts, "every page loads its module"
    for src in scripts + re.findall(r'<link rel="stylesheet" href="([^"]+)"', response.text):
        asset = client.get(src)
        assert asset.status_code == 200, src


@pytest.mark.parametrize(
    ("name", "media_type"), [(n, "text/javascript") for n in sorted(assets()) if n.endswith(".js")]
)
def test_scripts_are_served_as_javascript_modules(client: TestClient, name: str, media_type: str) -> None:
    response = client.get(f"/review/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.content == (STATIC_DIR / name).read_bytes()


def test_every_import_between_modules_resolves() -> None:
    names = set(assets())
    for name in names:
        if name.endswith(".js"):
            for target in re.findall(r'from "\./([^"]+)"', (STATIC_DIR / name).read_text(encoding="utf-8")):
                assert target in names, f"{name} imports ./{target}, which is not served"


def test_nothing_is_loaded_from_another_origin() -> None:
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        external = [u for u in re.findall(r"https?://[^\s\"')]+", text) if "www.w3.org/2000/svg" not in u]
        assert external == [], f"{path.name} refers to {external}: the pages must work offline"


@pytest.mark.parametrize(
    "name",
    ["review.html", "missing.js", "..%2Frouter.py", "%2e%2e%2f%2e%2e%2ferrors.py", "style.css.map", "Api.js"],
)
def test_only_shipped_scripts_and_styles_are_served(client: TestClient, name: str) -> None:
    response = client.get(f"/review/static/{name}")
    assert response.status_code == 404
    assert b"import" not in response.content  # no source file leaks out
    if "%2f" not in name.lower():  # a name with a slash never reaches the route: the framework's 404
        assert response.json()["error"]["type"] == "not_found"
        assert name in response.json()["error"]["message"]


def test_the_api_app_serves_the_pages(tmp_path: Path) -> None:
    app = create_app(ApiSettings(database_url=sqlite_url(tmp_path / "l.db"), data_dir=tmp_path))
    client = TestClient(app)  # no start-up: the pages need no database
    for path in [*PAGES, "/review/static/style.css"]:
        assert client.get(path).status_code == 200, path
    assert not any(path.startswith("/review") for path in app.openapi()["paths"])  # not part of the API
