"""The API under a reverse proxy's path (``LINECHECK_API_ROOT_PATH=/linecheck``), as a plant's nginx puts it.

The proxy (``path_proxy``) forwards only ``/linecheck/...`` and strips the prefix, so a page, a docs
file or an API call that forgets the prefix gets the proxy's 404 here as it would on the plant's
network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from path_proxy import path_proxy
from pydantic import ValidationError
from review_seed import TEXTILE_CODE, Stack, inspection_body, running_stack

from linecheck.serving.api.pages.router import PAGES
from linecheck.serving.api.settings import ApiSettings

PREFIX = "/linecheck"


@pytest.mark.parametrize("value", ["linecheck", "/linecheck/", "/line check", "/a?b=1", "http://x/linecheck"])
def test_a_root_path_that_is_not_a_path_prefix_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValidationError, match=r"root_path\n.*expected '' or a path"):
        ApiSettings(root_path=value)
    assert ApiSettings(root_path="/plant-3/linecheck").root_path == "/plant-3/linecheck"


@pytest.fixture(scope="module")
def behind(
    pages_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, str]]:
    """The seeded API with root_path /linecheck, and the proxy's base URL."""
    directory = tmp_path_factory.mktemp("root-path-api")
    with (
        running_stack(pages_sqlite_template, directory, settings={"root_path": PREFIX}) as stack,
        path_proxy(stack.base_url, PREFIX) as proxy,
    ):
        yield stack, proxy


def _local_urls(html: str) -> list[str]:
    return [u for u in re.findall(r'(?:href|src)="([^"]+)"', html) if not u.startswith(("data:", "#"))]


@pytest.mark.parametrize("route", sorted(PAGES))
def test_every_page_and_its_files_load_through_the_proxy(behind: tuple[Stack, str], route: str) -> None:
    _, proxy = behind
    page = httpx.get(proxy + PREFIX + route, timeout=10)
    assert page.status_code == 200, page.text[:300]
    assert f'<meta name="linecheck-root" content="{PREFIX}">' in page.text
    urls = _local_urls(page.text)
    assert urls and all(u.startswith(PREFIX + "/") for u in urls), urls
    for url in urls:
        if "/static/" in url:
            assert httpx.get(proxy + url, timeout=10).status_code == 200, url


def test_the_api_and_its_docs_answer_through_the_proxy(behind: tuple[Stack, str]) -> None:
    stack, proxy = behind
    assert httpx.get(f"{proxy}/healthz", timeout=10).status_code == 404  # the proxy's own: not forwarded
    assert httpx.get(f"{proxy}{PREFIX}/healthz", timeout=10).json()["status"] == "ok"
    me = httpx.get(f"{proxy}{PREFIX}/v1/me", headers=stack.headers("viewer"), timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "viewer"
    spec = httpx.get(f"{proxy}{PREFIX}/openapi.json", timeout=10).json()
    assert spec["servers"] == [{"url": PREFIX}]  # Swagger UI's "Try it out" calls go through the prefix
    for page in ("docs", "redoc"):
        html = httpx.get(f"{proxy}{PREFIX}/{page}", timeout=10).text
        assert f"{PREFIX}/openapi.json" in html
        files = re.findall(r"['\"](/[^'\"]+\.(?:js|css|png))['\"]", html)
        assert files and all(f.startswith(f"{PREFIX}/docs/static/") for f in files), files
        for file in files:
            assert httpx.get(proxy + file, timeout=10).status_code == 200, file
    # Straight to the API (no proxy), the prefix is optional: a proxy that keeps it works as well.
    assert httpx.get(f"{stack.base_url}{PREFIX}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{stack.base_url}/healthz", timeout=10).status_code == 200


@pytest.mark.browser
def test_the_trace_page_works_behind_the_proxy(behind: tuple[Stack, str], browser: Any) -> None:
    from page_actions import KEY_STORAGE, js, one
    from review_browser import wait_for

    stack, proxy = behind
    browser.get(f"{proxy}{PREFIX}/review/static/style.css")  # the key lives in the proxy origin's storage
    js(browser, "localStorage.setItem(arguments[0], arguments[1])", KEY_STORAGE, stack.keys["viewer"])
    browser.get(f"{proxy}{PREFIX}/review/trace?code={TEXTILE_CODE}")
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == TEXTILE_CODE, "the trace")
    links = js(
        browser, "return Array.from(document.querySelectorAll('a[href]'), a => a.getAttribute('href'))"
    )
    inside = [link for link in links if link.startswith("/")]
    assert inside and all(link.startswith(PREFIX + "/") for link in inside), inside
    assert one(browser, "#banner").is_displayed() is False  # no API call failed


def test_the_inspector_sends_through_the_proxy(behind: tuple[Stack, str]) -> None:
    """A line's `LINECHECK_INSPECTOR_API_URL=http://plant-host/linecheck`: images and inspections arrive."""
    from datetime import UTC, datetime

    import cv2
    import numpy as np

    from linecheck.inspect.api_client import ApiClient

    stack, proxy = behind
    client = ApiClient(proxy + PREFIX, stack.keys["textile"])
    _, png = cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))
    ref = client.upload_image(png.tobytes(), "image/png")
    assert isinstance(ref, str), ref
    body = inspection_body(
        "textile-01", "cam1", "RL0000000977", datetime.now(UTC), "textile",
        verdict="pass", image_ref=ref, image_width=16, image_height=16, defects=[],
    )  # fmt: skip
    outcome = client.post_inspection(body)
    assert outcome.status == "created", outcome.error
    assert stack.get(f"/v1/inspections/{body['id']}")["image_ref"] == ref
