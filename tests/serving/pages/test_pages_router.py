"""The page router on its own: what it serves, with which headers, and what it refuses (no browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linecheck.errors import ConfigError
from linecheck.serving.api.app import create_app
from linecheck.serving.api.errors import install_error_handlers
from linecheck.serving.api.pages.router import (
    PAGE_FIELDS,
    PAGES,
    SHELL,
    STATIC_DIR,
    assets,
    compose_page,
    page_under,
    pages,
    router,
)
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


@pytest.mark.parametrize(("path", "file_name"), sorted(PAGES.items()))
def test_every_page_is_its_own_part_inside_the_one_shell(
    client: TestClient, path: str, file_name: str
) -> None:
    html = client.get(path).text
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</body>\n</html>")
    for shared in [
        "<nav>",
        '<header class="top">',
        'id="key-form"',
        'id="help-button"',
        'id="banner"',
        "<title>",
    ]:
        assert html.count(shared) == 1, f"{path}: {shared} {html.count(shared)} times"
    script = file_name.removesuffix(".html") + ".js"
    assert re.findall(r'<script type="module" src="([^"]+)"', html) == [f"/review/static/{script}"]
    assert "{{" not in html and "router.py" not in html  # every placeholder filled, no file's comment served
    nav = html[html.index("<nav>") : html.index("</nav>")]
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', html)
    assert current == ([path] if f'href="{path}"' in nav else []), "only the page's own nav link is current"
    page_file = (STATIC_DIR / file_name).read_text(encoding="utf-8")
    assert '<header class="top">' not in page_file and "<head>" not in page_file  # the shell holds them
    assert client.get(path).content == page_under(path, "")
    assert '<meta name="linecheck-root" content="">' in html  # at the top of its host: no prefix


_PAGE_FILE = (
    "<!-- a QA page\ntitle: linecheck · test\nscript: review.js\ndata-page: test\n-->\n  <main>own</main>\n"
)


def test_a_page_file_is_composed_into_the_shell(tmp_path: Path) -> None:
    page = tmp_path / "test.html"
    page.write_text(_PAGE_FILE, encoding="utf-8")
    html = compose_page(page, "/review/trace")
    assert "<title>linecheck · test</title>" in html and '<body data-page="test">' in html
    current = '<a href="/review/trace" aria-current="page"><span data-i18n="shell.trace">Trace</span></a>'
    assert current in html
    assert "\n  <main>own</main>\n</body>" in html


@pytest.mark.parametrize(
    ("page_text", "expected"),
    [
        (_PAGE_FILE.replace("title: linecheck · test\n", ""), "no value for ['title']"),
        (_PAGE_FILE.replace("data-page: test", "data-page:"), "no value for ['data-page']"),
        (
            _PAGE_FILE.replace("script: review.js\n", "").replace("title: linecheck · test\n", ""),
            "['title', 'script']",
        ),
        (_PAGE_FILE.replace("script: review.js", "script: missing.js"), "script='missing.js'"),
        (_PAGE_FILE.replace("script: review.js", "script: style.css"), "script='style.css'"),
        (_PAGE_FILE.replace("data-page: test", "data-page: test\nicon: x"), "unknown field 'icon'"),
        (_PAGE_FILE.replace("data-page: test", "data-page: test\ntitle: again"), "'title' is given twice"),
        (_PAGE_FILE.replace("data-page: test", "data-page = test"), "is not 'name: value'"),
        (_PAGE_FILE.split("-->\n")[0] + "-->\n\n", "nothing follows"),
        ("  <main>own</main>\n", "must open with a comment of its fields"),
    ],
)
def test_a_page_file_without_its_fields_fails_loudly(tmp_path: Path, page_text: str, expected: str) -> None:
    page = tmp_path / "broken.html"
    page.write_text(page_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.html") as caught:
        compose_page(page, "/review")
    assert expected in str(caught.value)


def test_a_shell_without_a_placeholder_fails_loudly(tmp_path: Path) -> None:
    page = tmp_path / "test.html"
    page.write_text(_PAGE_FILE, encoding="utf-8")
    shell = tmp_path / "shell.html"
    shell.write_text(SHELL.read_text(encoding="utf-8").replace("{{script}}", "review.js"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"shell\.html: its placeholders"):
        compose_page(page, "/review", shell)
    assert all(f"{{{{{field}}}}}" in SHELL.read_text(encoding="utf-8") for field in PAGE_FIELDS)


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
    [
        "review.html",
        "shell.html",
        "missing.js",
        "..%2Frouter.py",
        "%2e%2e%2f%2e%2e%2ferrors.py",
        "style.css.map",
        "Api.js",
    ],
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


@pytest.fixture
def fresh_pages() -> Iterator[None]:
    pages.cache_clear()
    page_under.cache_clear()
    yield
    pages.cache_clear()
    page_under.cache_clear()


def test_the_api_composes_every_page_at_start_up(tmp_path: Path, fresh_pages: None) -> None:
    app = create_app(ApiSettings(database_url=sqlite_url(tmp_path / "l.db"), data_dir=tmp_path))
    with TestClient(app):
        assert pages.cache_info().currsize == 1  # composed before the first request


def test_a_broken_page_file_stops_the_api_at_start_up(
    tmp_path: Path, fresh_pages: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!--\ntitle: Broken\n-->\n<main></main>\n", encoding="utf-8")
    monkeypatch.setitem(PAGES, "/review/broken", str(broken))  # an absolute name replaces STATIC_DIR
    app = create_app(ApiSettings(database_url=sqlite_url(tmp_path / "l.db"), data_dir=tmp_path))
    with pytest.raises(ConfigError, match=r"broken\.html"), TestClient(app):
        pass


def _texts() -> dict[str, set[str]]:
    """The keys of each language in i18n.js's TEXTS."""
    source = (STATIC_DIR / "i18n.js").read_text(encoding="utf-8")
    body = source[source.index("export const TEXTS = {") :]
    out: dict[str, set[str]] = {}
    for lang, block in re.findall(r"^  (\w+): \{\n(.*?)^  \},", body, flags=re.MULTILINE | re.DOTALL):
        out[lang] = set(re.findall(r'^\s+"([\w.]+)": "', block, flags=re.MULTILINE))
    return out


def test_every_text_a_page_uses_is_there_in_english_and_chinese() -> None:
    texts = _texts()
    assert set(texts) == {"en", "zh"} and texts["en"] == texts["zh"], set(texts["en"]) ^ set(texts["zh"])
    used: set[str] = set()
    for path in STATIC_DIR.iterdir():
        if path.name == "i18n.js":
            continue
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'data-i18n="([\w.]+)"', text)) | set(re.findall(r'\bt\("([\w.]+)"', text))
        if "statusText(" in text:  # statuses by name: every status the API gives
            used |= {f"status.{s}" for s in ("accepted", "released", "failed", "not_inspected")}
    assert used, "no page uses the translations"
    assert used - texts["en"] == set(), "keys used by a page but missing from i18n.js"
    assert texts["en"] - used == set(), "keys in i18n.js no page uses"
