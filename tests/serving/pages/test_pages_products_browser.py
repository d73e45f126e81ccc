"""The trace page shows the product each inspection was judged as, and the trace and the certificate draw
the module with that product's grid (Chromium, the API under uvicorn on SQLite, pv-01 making a 6x10 and a
6x12 module)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from page_actions import css, no_script_errors, one, open_page
from review_browser import wait_for
from review_seed import Stack, running_stack

from linecheck.serving.api.testing import DEFAULT_LINES_DIR as LINES_DIR

pytestmark = pytest.mark.browser
WIDE, PLAIN = "PV000000000601", "PV000000000602"
#: The 6x12 module's defect: in its twelfth column, a cell a 6x10 grid does not have.
WIDE_CELL = (2, 11)


def _body(code: str, n: int, product: str | None, cell: tuple[int, int]) -> dict[str, Any]:
    body = {
        "id": f"products-page-{n:02d}", "line_id": "pv-01", "station": "el", "code": code,
        "code_status": "read", "captured_at": (datetime.now(UTC) - timedelta(minutes=n)).isoformat(),
        "model_name": "pv", "model_version": "1", "verdict": "fail", "image_width": 640, "image_height": 640,
        "defects": [{"class_name": "crack", "confidence": 0.8, "bbox": [10, 10, 30, 30],
                     "location": {"row": cell[0], "col": cell[1]}}],
    }  # fmt: skip
    if product is not None:
        body["product"] = product
    return body


@pytest.fixture(scope="module")
def products(pages_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API with a 6x12 module (judged as PV-6x12) and a module judged with the line's own 6x10 grid."""
    lines = tmp_path_factory.mktemp("product-lines")
    for path in LINES_DIR.glob("*.yaml"):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        if config["id"] == "pv-01":
            config["products"] = [{"id": "PV-6x10"}, {"id": "PV-6x12", "pv": {"cols": 12}}]
        (lines / path.name).write_text(yaml.safe_dump(config), encoding="utf-8")
    folder = tmp_path_factory.mktemp("products-api")
    with running_stack(pages_sqlite_template, folder, seed_data=False, lines_dir=lines) as stack:
        for body in (_body(WIDE, 1, "PV-6x12", WIDE_CELL), _body(PLAIN, 2, None, (1, 1))):
            posted = stack.post("/v1/inspections", "pv", json=body)
            assert posted.status_code == 201, posted.text
        yield stack


def _cells(browser: Any, map_id: str = "defect-map") -> tuple[int, set[tuple[int, int]]]:
    """How many cells the module map draws, and those with a defect."""
    cells = css(browser, f"#{map_id} .cell")
    hit = {
        (int(c.get_attribute("data-row")), int(c.get_attribute("data-col")))
        for c in cells
        if int(c.get_attribute("data-defects")) > 0
    }
    return len(cells), hit


@pytest.mark.parametrize(
    ("code", "product", "cells", "hit"),
    [(WIDE, "PV-6x12", 6 * 12, WIDE_CELL), (PLAIN, None, 6 * 10, (1, 1))],
    ids=["product", "line-own"],
)
def test_the_trace_shows_the_product_and_draws_its_grid(
    browser: Any, products: Stack, code: str, product: str | None, cells: int, hit: tuple[int, int]
) -> None:
    open_page(browser, products, f"/review/trace?code={code}")
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == code, f"the trace of {code}")
    shown = css(browser, ".timeline-inspection .product")
    if product is None:
        assert shown == []  # nothing to say for a line's own config
    else:
        [label] = shown
        assert (label.get_attribute("data-product"), label.text) == (product, f"product {product}")
    assert _cells(browser) == (cells, {hit})
    no_script_errors(browser)


def test_the_certificate_names_the_product_and_draws_its_grid(browser: Any, products: Stack) -> None:
    open_page(browser, products, f"/review/certificate?code={WIDE}")
    wait_for(browser, lambda b: one(b, "#certificate").get_attribute("data-code") == WIDE, "the certificate")
    assert "PV-6x12" in one(browser, "#cert-unit").text
    assert _cells(browser, "cert-map") == (6 * 12, {WIDE_CELL})
    no_script_errors(browser)
