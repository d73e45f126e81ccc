"""The dashboard shows a line's error-proofing verification: verified until when, or FAILED."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lc_challenge import MASTER, RABBIT, challenge_lines, part_inspection
from page_actions import css, no_script_errors, one, open_page
from review_browser import screenshot, wait_for
from review_seed import Stack, running_stack

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(pages_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    lines = challenge_lines(tmp_path_factory.mktemp("lines"))
    directory = tmp_path_factory.mktemp("verification-api")
    with running_stack(pages_sqlite_template, directory, seed_data=False, lines_dir=lines) as running:
        yield running


def _inspect(stack: Stack, code: str, minutes_ago: float, scratch: bool) -> None:
    response = stack.post(
        "/v1/inspections", "bearing", json=part_inspection(code, minutes_ago=minutes_ago, scratch=scratch)
    )
    assert response.status_code == 201, response.text


def _tile(browser: Any, stack: Stack, line: str) -> Any:
    open_page(browser, stack, f"/review/dashboard?line={line}")
    board = one(browser, "#dashboard")
    wait_for(
        browser, lambda b: board.get_attribute("aria-busy") == "false" and css(b, "#tiles .tile"), "the tiles"
    )
    found = css(browser, "#kpi-verification")
    return found[0] if found else None


def test_the_dashboard_shows_the_verification_and_a_missed_red_rabbit(browser: Any, stack: Stack) -> None:
    _inspect(stack, RABBIT, 30, scratch=True)
    _inspect(stack, MASTER, 20, scratch=False)
    tile = _tile(browser, stack, "bearing-01")
    assert tile.get_attribute("data-state") == "verified"
    assert tile.find_element("css selector", ".tile-value").text == "verified"
    due = stack.get("/v1/lines/bearing-01/verification")["due_at"]
    assert "until" in tile.text and "(every 8 h)" in tile.text and due
    screenshot(browser, "dashboard-verified")

    _inspect(stack, RABBIT, 5, scratch=False)  # the red rabbit passed
    tile = _tile(browser, stack, "bearing-01")
    assert tile.get_attribute("data-state") == "failed" and "tile-failed" in tile.get_attribute("class")
    assert tile.find_element("css selector", ".tile-value").text == "FAILED"
    assert f"challenge part {RABBIT} was judged pass, expected fail with scratch" in tile.text
    assert one(browser, "#kpi-units .tile-value").text == "0"  # challenge parts are not production
    msa = one(browser, "#kpi-msa")  # the parts as a gauge study: 3 decisions, 2 right, 1 miss in 2
    verdict = stack.get("/v1/lines/bearing-01/msa")["verdict"]
    assert msa.get_attribute("data-verdict") == verdict == "insufficient"  # the master part ran once
    assert msa.find_element("css selector", ".tile-value").text == "66.7 %"
    assert "1 miss in 2" in msa.text and "0 false alarms in 1" in msa.text
    screenshot(browser, "dashboard-verification-failed")
    assert _tile(browser, stack, "pv-01") is None  # a line without challenge parts has no such tile
    no_script_errors(browser)
