"""The numbers agree: grade, trace, dashboard, kiosk and certificate on demo-like data after reviews.

One real API (uvicorn + SQLite) gets three lines of demo-like units (see :mod:`demo_like`), then
reviews; the API's answers are compared with each other, then the pages with the API, in one
headless Chromium that records every network request (no page may ask another origin; /docs and
/redoc render offline). Screenshots of the main pages go to test-artifacts/review-pages/.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo_like import FRAME_S, FRAMES_PER_ROLL, ROLLS, DemoLike, seed_demo_like
from page_actions import by, css, js, no_script_errors, one, open_page, use_key
from review_browser import requested_urls, require_browser, screenshot, set_viewport, start_chrome, wait_for
from review_seed import Stack, running_stack

pytestmark = pytest.mark.browser

LINES = ("textile-01", "pv-01", "bearing-01")


@pytest.fixture(scope="module")
def demo(
    pages_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, DemoLike]]:
    with running_stack(
        pages_sqlite_template, tmp_path_factory.mktemp("numbers-api"), seed_data=False
    ) as stack:
        yield stack, seed_demo_like(stack)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_browser()
    driver = start_chrome(tmp_path_factory.mktemp("chromium-numbers"), network_log=True)
    try:
        set_viewport(driver, 1280, 860)
        yield driver
    finally:
        driver.quit()


def codes_of(demo: DemoLike, line_id: str) -> list[str]:
    return {"textile-01": demo.rolls, "pv-01": demo.modules, "bearing-01": demo.rings}[line_id]


def test_grade_trace_statistics_and_kiosk_agree_after_reviews(demo: tuple[Stack, DemoLike]) -> None:
    stack, data = demo
    expected = {
        "textile-01": {"accepted": 6, "released": 1, "failed": 1, "not_inspected": 0},
        "pv-01": {"accepted": 2, "released": 1, "failed": 2, "not_inspected": 1},
        "bearing-01": {"accepted": 2, "released": 1, "failed": 1, "not_inspected": 0},
    }
    for line_id in LINES:
        codes = codes_of(data, line_id)
        grades = {code: stack.get(f"/v1/units/{code}/grade") for code in codes}
        for code in codes:
            assert stack.get(f"/v1/trace/{code}")["grade"] == grades[code], code
        kiosk = {u["code"]: u for u in stack.get(f"/v1/lines/{line_id}/units", limit=50)["items"]}
        assert set(kiosk) == set(codes)
        for code, unit in kiosk.items():
            grade = grades[code]
            assert (unit["status"], unit["grade"], unit["accepted"]) == (
                grade["status"],
                grade["grade"],
                grade["accepted"],
            )
        totals = stack.get(f"/v1/lines/{line_id}/stats")["totals"]
        by_status = Counter(g["status"] for g in grades.values())
        assert (
            totals["units_by_status"]
            == expected[line_id]
            == {k: by_status.get(k, 0) for k in expected[line_id]}
        )
        failed = sum(not g["accepted"] for g in grades.values())
        assert (totals["units"], totals["failed_units"]) == (len(codes), failed)
        assert totals["fail_rate"] == pytest.approx(failed / len(codes))
        assert grades[data.released[line_id]]["status"] == "released"
    # the old count (a unit fails when any frame failed) said 7 of 8 rolls; their grades fail one
    rolls = [stack.get(f"/v1/trace/{code}")["inspections"] for code in data.rolls]
    assert sum(any(i["verdict"] == "fail" for i in frames) for frames in rolls) == 7
    # throughput is per hour of running time: 160 frames 0.25 s apart, not per hour of the period
    textile = stack.get("/v1/lines/textile-01/stats")["totals"]
    running = (ROLLS * FRAMES_PER_ROLL - 1) * FRAME_S
    assert textile["running_s"] == pytest.approx(running, abs=2 * FRAME_S)
    assert textile["frames_per_hour"] == pytest.approx(ROLLS * FRAMES_PER_ROLL * 3600 / running, rel=0.02)


def test_the_dashboard_shows_the_same_numbers(browser: Any, demo: tuple[Stack, DemoLike]) -> None:
    stack, _ = demo
    open_page(browser, stack, "/review/dashboard?line=textile-01")
    board = one(browser, "#dashboard")
    wait_for(
        browser, lambda b: board.get_attribute("aria-busy") == "false" and css(b, "#tiles .tile"), "the tiles"
    )
    stats = stack.get(
        "/v1/lines/textile-01/stats",
        since=board.get_attribute("data-since"),
        until=board.get_attribute("data-until"),
    )
    totals = stats["totals"]
    assert one(browser, "#kpi-fail-rate .tile-value").text == f"{100 * totals['fail_rate']:.1f} %" == "12.5 %"
    assert "6 accepted · 1 released by review · 1 failed" in one(browser, "#kpi-units").text
    assert float(one(browser, "#kpi-throughput").get_attribute("data-frames-per-hour")) == pytest.approx(
        totals["frames_per_hour"]
    )
    assert "frames/h" in one(browser, "#kpi-throughput .tile-value").text
    with_units = [s for s in stats["shifts"] if s["units"]]
    assert int(one(browser, "#pchart").get_attribute("data-points")) == len(with_units)
    failed = sum(s["failed_units"] for s in with_units)
    assert float(one(browser, "#pchart").get_attribute("data-pbar")) == pytest.approx(
        failed / sum(s["units"] for s in with_units)
    )
    bars = [b.get_attribute("data-class-name") for b in css(browser, "#pareto .pareto-bar")]
    assert bars == sorted(totals["defects_by_class"], key=lambda c: (-totals["defects_by_class"][c], c))
    assert int(one(browser, "#stations").get_attribute("data-stations")) == 1
    reviewers = stack.get(
        "/v1/review/stats", since=board.get_attribute("data-since"), until=board.get_attribute("data-until")
    )
    assert len(css(browser, "#reviewer-rows tr")) == len(reviewers["reviewers"]) == 2
    assert (
        float(one(browser, "#agreement").get_attribute("data-agreement"))
        == pytest.approx(reviewers["agreement"])
        == 0.5
    )
    assert "second shift (key:" in one(browser, "#reviewer-rows").text
    screenshot(browser, "dashboard-numbers")
    set_viewport(browser, 1280, int(js(browser, "return document.documentElement.scrollHeight")))
    screenshot(browser, "dashboard-full")  # the whole page: SPC charts and reviewers too
    set_viewport(browser, 1280, 860)
    one(browser, "#export-csv").click()
    wait_for(browser, lambda b: one(b, "#export-csv").get_attribute("data-downloaded"), "the CSV export")
    name, size = one(browser, "#export-csv").get_attribute("data-downloaded").rsplit(":", 1)
    import httpx

    csv = httpx.get(
        f"{stack.base_url}/v1/lines/textile-01/defects.csv",
        headers=stack.headers("viewer"),
        params={"since": board.get_attribute("data-since"), "until": board.get_attribute("data-until")},
    )
    assert name.startswith("defects-textile-01-") and int(size) == len(csv.content)
    assert len(csv.text.strip().splitlines()) == 1 + 5 + 2 + 3  # header, 5 stains, the holes of rolls 5 and 6
    from selenium.webdriver.support.ui import Select

    Select(one(browser, "#subgroup")).select_by_value("hour")
    wait_for(
        browser,
        lambda b: (
            board.get_attribute("data-subgroup") == "hour" and board.get_attribute("aria-busy") == "false"
        ),
        "hourly",
    )
    hourly = stack.get("/v1/lines/textile-01/stats", since=board.get_attribute("data-since"),
                       until=board.get_attribute("data-until"), bucket="hour")  # fmt: skip
    assert int(one(browser, "#pchart").get_attribute("data-points")) == sum(
        s["units"] > 0 for s in hourly["shifts"]
    )
    no_script_errors(browser)


def test_trace_and_certificate_of_a_unit_released_by_review(
    browser: Any, demo: tuple[Stack, DemoLike]
) -> None:
    stack, data = demo
    code = data.released["textile-01"]
    grade = stack.get(f"/v1/units/{code}/grade")
    open_page(browser, stack, f"/review/trace?code={code}")
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == code, "the trace")
    assert one(browser, "#grade-status").text == "released by review"
    assert (one(browser, "#grade-value").text, grade["grade"]) == ("accepted", "accepted")
    failing = [i["id"] for i in stack.get(f"/v1/trace/{code}")["inspections"] if i["verdict"] == "fail"]
    released = [
        li.get_attribute("data-inspection-id")
        for li in css(browser, ".timeline-inspection[data-released='true']")
    ]
    assert sorted(released) == sorted(failing) and failing
    screenshot(browser, "trace-released-roll")
    open_page(browser, stack, f"/review/certificate?code={code}")
    wait_for(browser, lambda b: one(b, "#certificate").get_attribute("data-code") == code, "the certificate")
    rows = [
        [td.text for td in tr.find_elements("css selector", "td")]
        for tr in css(browser, "#grade-table tbody tr")
    ]
    assert rows == grade["table"]["rows"] and len(rows) == 1  # the hole left after review: 4 points
    assert one(browser, "#cert-grade").text == grade["grade"]
    assert one(browser, "#cert-status-badge").text == "released by review"
    assert int(one(browser, "#cert-map").get_attribute("data-drawn")) == 2  # both holes, one of them rejected
    rules = "[...s.cssRules].some(r => r.media?.mediaText === 'print')"
    printable = f"return [...document.styleSheets].some(s => {rules})"
    assert js(browser, printable)
    screenshot(browser, "certificate-roll")
    no_script_errors(browser)


def test_the_kiosk_refreshes_by_itself(browser: Any, demo: tuple[Stack, DemoLike]) -> None:
    import uuid
    from datetime import UTC, datetime

    stack, _ = demo
    open_page(browser, stack, "/review/kiosk?line=pv-01&refresh=2", who="viewer")
    units = stack.get("/v1/lines/pv-01/units", limit=12)["items"]
    shown = [
        (li.get_attribute("data-code"), li.get_attribute("data-status"))
        for li in css(browser, "#kiosk-units-list li")
    ]
    assert shown == [(u["code"], u["status"]) for u in units]
    assert one(browser, "#kiosk-code").text == units[0]["code"]
    screenshot(browser, "kiosk-pv")
    dark = {
        "class_name": "dark_cell",
        "confidence": 0.9,
        "bbox": [1, 1, 30, 30],
        "location": {"row": 0, "col": 0},
    }
    new = {
        "id": uuid.uuid4().hex,
        "line_id": "pv-01",
        "station": "el",
        "code": "PV000000002001",
        "code_status": "read",
        "captured_at": datetime.now(UTC).isoformat(),
        "model_name": "pv",
        "model_version": "2",
        "verdict": "fail",
        "image_width": 640,
        "image_height": 640,
        "defects": [dark],
    }
    assert stack.post("/v1/inspections", "pv", json=new).status_code == 201
    wait_for(
        browser,
        lambda b: one(b, "#kiosk").get_attribute("data-last-code") == "PV000000002001",
        "the new unit",
        timeout=8,
    )
    assert one(browser, "#kiosk-verdict").get_attribute("data-status") == "failed"
    no_script_errors(browser)


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/review", "body[data-ready='true']"),
        ("/review/unread", "body[data-ready='true']"),
        ("/review/audit?line_id=pv-01", "body[data-ready='true']"),
        ("/review/holds", "body[data-ready='true']"),
        ("/review/trace?code=RL0000001005", "body[data-ready='true']"),
        ("/review/dashboard?line=pv-01", "body[data-ready='true']"),
        ("/review/kiosk?line=bearing-01", "body[data-ready='true']"),
        ("/review/certificate?code=PV000000001004", "body[data-ready='true']"),
        ("/docs", ".swagger-ui .opblock"),
        ("/redoc", "[data-section-id^='tag/review']"),
    ],
)
def test_no_page_asks_another_origin(
    browser: Any, demo: tuple[Stack, DemoLike], path: str, ready: str
) -> None:
    stack, _ = demo
    use_key(browser, stack, "reviewer")
    requested_urls(browser)  # drop earlier requests
    browser.get(f"{stack.base_url}{path}")
    wait_for(browser, lambda b: css(b, ready), f"{path} rendered", timeout=20)
    js(browser, "return new Promise(r => setTimeout(r, 300))")
    urls = requested_urls(browser)
    assert urls, "the network log is on"
    foreign = [u for u in urls if not u.startswith((stack.base_url, "blob:", "data:"))]
    assert foreign == [], foreign
    refused = [e["message"] for e in browser.get_log("browser") if "Refused to" in e["message"]]
    assert refused == [], refused
    if path in ("/docs", "/redoc"):
        assert "linecheck traceability API" in one(browser, "body").text
        screenshot(browser, f"api-{path.strip('/')}")


def test_the_kiosk_speaks_chinese_when_asked_and_remembers_it(
    browser: Any, demo: tuple[Stack, DemoLike]
) -> None:
    """?lang=zh: operators read the kiosk in Chinese; the browser keeps the choice until ?lang=en."""
    stack, _ = demo
    zh = {"accepted": "合格", "released": "复检放行", "failed": "不合格", "not_inspected": "未检测"}
    try:
        open_page(browser, stack, "/review/kiosk?line=pv-01&refresh=30&lang=zh", who="viewer")
        units = stack.get("/v1/lines/pv-01/units", limit=12)["items"]
        assert js(browser, "return document.documentElement.lang") == "zh-CN"
        assert one(browser, "#kiosk h2").text == "最近单元"
        assert one(browser, "nav a[href='/review/trace']").text == "追溯"  # the shell too
        assert one(browser, "#kiosk-verdict").text == zh[units[0]["status"]]
        rows = [
            li.find_element(by().CSS_SELECTOR, "strong").text for li in css(browser, "#kiosk-units-list li")
        ]
        assert rows == [zh[u["status"]] for u in units]
        assert "&lang=zh" in browser.current_url  # the address a kiosk PC bookmarks keeps the language
        screenshot(browser, "kiosk-pv-zh")
        open_page(browser, stack, "/review/kiosk?line=pv-01&refresh=30", who="viewer")  # remembered
        assert one(browser, "#kiosk h2").text == "最近单元"
        no_script_errors(browser)
    finally:
        open_page(browser, stack, "/review/kiosk?line=pv-01&refresh=30&lang=en", who="viewer")
    assert one(browser, "#kiosk h2").text == "Latest units"
