"""The Audit page and the dashboard's escape-rate tile in headless Chromium, against the real API.

A reviewer goes through the passed frames kept for audit: ``x`` before drawing is refused on the page, ``o``
records ok and shows the next frame, ``d`` draws the missed defect and ``x`` records the escape. A near miss
carries its badge in the list and the frame's facts, and the list filters by why a frame was kept. A viewer
key sees the frames but cannot decide. The dashboard shows the rate, its 95 % interval and the API's counts,
and the near misses' audits apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from page_actions import banner, by, canvas_data, drag, js, no_script_errors, one, open_page, press
from review_browser import screenshot, wait_for
from review_seed import Stack, _upload, pv_frame, running_stack

from linecheck.serving.store.testing import migrated_sqlite_template

pytestmark = pytest.mark.browser

LINES_DIR = Path(__file__).resolve().parents[3] / "configs" / "lines"


@pytest.fixture(scope="module")
def audit_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real API whose pv-01 keeps 2 % of its passed modules and its near misses for audit: three samples
    and, older, one near miss."""
    lines = tmp_path_factory.mktemp("lines")
    for path in LINES_DIR.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        (lines / path.name).write_text(
            text + ("\naudit: {pass_sample: 0.02, borderline: 0.1}\n" if path.stem == "pv-01" else "")
        )
    template = migrated_sqlite_template(tmp_path_factory.mktemp("template"))
    with running_stack(template, tmp_path_factory.mktemp("api"), seed_data=False, lines_dir=lines) as stack:
        now = datetime.now(UTC).replace(microsecond=0)
        for n in (-10, 0, 1, 2):  # the near miss (n < 0) is the oldest
            body = {
                "id": uuid.uuid4().hex,
                "line_id": "pv-01",
                "station": "el",
                "code": f"PV000000000{700 + n}",
                "code_status": "read",
                "captured_at": (now - timedelta(minutes=30 - n)).isoformat(),
                "model_name": "pv",
                "model_version": "3",
                "verdict": "pass",
                "image_width": 400,
                "image_height": 240,
                "image_ref": _upload(stack, "pv", pv_frame()),
                **({"audit_borderline": True} if n < 0 else {"audit_sample": True}),
            }
            response = stack.post("/v1/inspections", "pv", json=body)
            assert response.status_code == 201, response.text
        yield stack


def api_queue(stack: Stack, state: str = "pending") -> list[dict[str, Any]]:
    return list(stack.get("/v1/review/audit", "viewer", line_id="pv-01", state=state)["items"])


def listed(browser: Any) -> list[str]:
    return list(
        js(
            browser,
            "return Array.from(document.querySelectorAll('#audit-list li'), li => li.dataset.inspectionId)",
        )
    )


def shown(browser: Any) -> str | None:
    """The inspection whose frame is drawn (the selected item's)."""
    found = js(
        browser,
        "const li = document.querySelector(\"#audit-list li[aria-selected='true']\");"
        "const c = document.getElementById('audit-canvas');"
        "return li && c.dataset.inspectionId === li.dataset.inspectionId ? li.dataset.inspectionId : null",
    )
    return None if found is None else str(found)


def latest(stack: Stack, inspection_id: str) -> dict[str, Any]:
    return dict(stack.get(f"/v1/inspections/{inspection_id}"))


def test_a_reviewer_audits_ok_then_draws_and_records_an_escape(browser: Any, audit_stack: Stack) -> None:
    stack = audit_stack
    first, second, third, near = (item["inspection_id"] for item in api_queue(stack))
    open_page(browser, stack, "/review/audit?line_id=pv-01")
    wait_for(browser, lambda b: listed(b) == [first, second, third, near], "the four frames, newest first")
    wait_for(browser, lambda b: shown(b) == first, "the newest frame shown")
    assert "Audit" in one(browser, "nav a[aria-current='page']").text

    press(browser, "x")  # nothing drawn yet: the page says what to do, nothing is recorded
    wait_for(browser, lambda b: "Draw the missed defect first" in banner(b)[1], "the hint to draw first")
    assert latest(stack, first)["latest_audit"] is None

    one(browser, "#a-brightness").click()  # a focused slider keeps its arrows, not the page's letters
    press(browser, "o")
    wait_for(browser, lambda b: listed(b) == [second, third, near], "the audited frame leaves the list")
    wait_for(browser, lambda b: shown(b) == second, "the next frame shown")
    audit = latest(stack, first)["latest_audit"]
    assert audit["outcome"] == "ok" and audit["actor_name"] == "qa reviewer"

    press(browser, "d")
    drawn = canvas_data(browser, "audit-canvas")
    assert drawn["mode"] == "draw"
    ox, oy = drawn["offset"]
    scale = drawn["scale"]
    drag(browser, one(browser, "#audit-canvas"), (ox + 85 * scale, oy + 45 * scale), (30 * scale, 30 * scale))
    wait_for(browser, lambda b: one(b, "#picker").is_displayed(), "the class picker")
    classes = stack.get("/v1/lines/pv-01")["config"]["classes"]
    press(browser, str(classes.index("crack") + 1))
    wait_for(
        browser, lambda b: one(b, "#audit-detail").get_attribute("data-drawn") == "1", "the drawn defect"
    )
    [added] = latest(stack, second)["defects"]
    assert (added["source"], added["final_class"]) == ("reviewer", "crack")
    assert added["bbox"][0] == pytest.approx(85, abs=1.5) and added["bbox"][2] == pytest.approx(115, abs=1.5)
    assert one(browser, "#btn-ok").get_attribute("disabled") is not None  # ok contradicts the drawn defect

    press(browser, "x")
    wait_for(browser, lambda b: listed(b) == [third, near], "the escape leaves the list")
    assert latest(stack, second)["latest_audit"]["outcome"] == "escape"
    wait_for(browser, lambda b: shown(b) == third, "the last frame shown")
    screenshot(browser, "audit")
    no_script_errors(browser)


def near_badges(browser: Any) -> dict[str, list[str]]:
    """The near-miss badges next to each listed frame's name."""
    return dict(
        js(
            browser,
            "return Object.fromEntries(Array.from(document.querySelectorAll('#audit-list li'), li => ["
            "li.dataset.inspectionId,"
            "Array.from(li.querySelectorAll('strong .badge-near'), x => x.textContent)]))",
        )
    )


def test_a_near_miss_is_marked_and_the_list_filters_by_why_a_frame_was_kept(
    browser: Any, audit_stack: Stack
) -> None:
    from selenium.webdriver.support.ui import Select

    stack = audit_stack
    third, near = (item["inspection_id"] for item in api_queue(stack))
    assert [i["audit_borderline"] for i in api_queue(stack)] == [False, True]
    open_page(browser, stack, "/review/audit?line_id=pv-01")
    wait_for(browser, lambda b: listed(b) == [third, near], "the sample and the near miss")
    assert near_badges(browser) == {third: [], near: ["near miss"]}
    assert not one(browser, "#audit-facts").find_elements(by().CSS_SELECTOR, ".badge-near")  # the sample's

    Select(one(browser, "#audit-reason")).select_by_value("sample")
    wait_for(browser, lambda b: listed(b) == [third], "the samples only")
    assert "reason=sample" in browser.current_url
    Select(one(browser, "#audit-reason")).select_by_value("borderline")
    wait_for(browser, lambda b: listed(b) == [near], "the near misses only")
    wait_for(browser, lambda b: shown(b) == near, "the near miss shown")
    assert one(browser, "#audit-facts .badge-near").text == "near miss"

    # the dropdown gives the keyboard back once changed: a near miss is audited like a sample, by its key
    assert js(browser, "return document.activeElement.id") != "audit-reason"
    press(browser, "o")
    wait_for(browser, lambda b: listed(b) == [], "the audited near miss leaves the list")
    assert latest(stack, near)["latest_audit"]["outcome"] == "ok"
    open_page(browser, stack, "/review/audit?line_id=pv-01&state=audited&reason=borderline")
    wait_for(browser, lambda b: listed(b) == [near], "the audited near misses, from the address")
    assert one(browser, "#audit-reason").get_attribute("value") == "borderline"
    screenshot(browser, "audit-near-miss")
    no_script_errors(browser)


def test_a_viewer_sees_the_frames_but_cannot_decide(browser: Any, audit_stack: Stack) -> None:
    [pending] = [item["inspection_id"] for item in api_queue(audit_stack)]
    open_page(browser, audit_stack, "/review/audit?line_id=pv-01", who="viewer")
    wait_for(browser, lambda b: shown(b) == pending, "the pending frame shown")
    for button in ("#btn-ok", "#btn-draw", "#btn-escape"):
        assert one(browser, button).get_attribute("disabled") is not None, button
    press(browser, "o")
    wait_for(browser, lambda b: banner(b)[0] == "forbidden", "the API's 403 explained")
    assert latest(audit_stack, pending)["latest_audit"] is None
    no_script_errors(browser, allow=("403",))


def test_the_dashboard_shows_the_escape_rate_with_its_interval(browser: Any, audit_stack: Stack) -> None:
    rate = audit_stack.get("/v1/lines/pv-01/audit")
    assert (rate["audited"], rate["escapes"], rate["pending"]) == (2, 1, 1)
    open_page(browser, audit_stack, "/review/dashboard?line=pv-01", who="viewer")
    tile = wait_for(browser, lambda b: b.find_elements("id", "kpi-escape-rate"), "the escape-rate tile")[0]
    assert tile.find_element("class name", "tile-value").text == "50.0 %"
    low, high = (f"{100 * rate[k]:.1f}" for k in ("low", "high"))
    assert tile.find_element("class name", "tile-note").text == (
        f"95 %: {low}–{high} % · 1 escape in 2 audited · 1 pending"
    )
    assert tile.get_attribute("data-rate") == "0.5"
    assert rate["borderline"] == {"kept": 1, "audited": 1, "escapes": 0, "pending": 0}
    assert one(browser, "#kpi-near-misses").text == "near misses: 1 audited, 0 escapes (not in the rate)"
    assert (
        tile.find_element("tag name", "a")
        .get_attribute("href")
        .endswith("/review/audit?line_id=pv-01&reason=sample")
    )  # the pending samples the count is of
    screenshot(browser, "dashboard-escape-rate")
    no_script_errors(browser)


def test_the_last_escape_offers_a_hold_since_the_last_clean_audit(browser: Any, audit_stack: Stack) -> None:
    from selenium.webdriver.support.ui import Select

    last = audit_stack.get("/v1/lines/pv-01/audit")["last_escape"]
    assert last is not None and last["suspect_since"] is not None
    open_page(browser, audit_stack, "/review/dashboard?line=pv-01")
    link = wait_for(browser, lambda b: b.find_elements("id", "hold-since-clean"), "the hold link")[0]
    assert last["code"] in one(browser, "#kpi-last-escape").text
    link.click()
    form = wait_for(
        browser, lambda b: [f for f in b.find_elements("id", "new-hold") if f.is_displayed()], "form"
    )[0]
    wait_for(browser, lambda b: form.get_attribute("data-prefilled") == "true", "the form filled in")
    assert Select(one(browser, "#new-line")).first_selected_option.get_attribute("value") == "pv-01"
    assert Select(one(browser, "#new-cause")).first_selected_option.get_attribute("value") == "escape"
    assert one(browser, "#new-since").get_attribute("data-exact") == last["suspect_since"]
    assert last["code"] in one(browser, "#new-reason").get_attribute("value")
    before = audit_stack.get("/v1/holds", state="all")["total"]
    one(browser, "#btn-place").click()
    wait_for(
        browser, lambda b: audit_stack.get("/v1/holds", state="all")["total"] == before + 1, "the hold placed"
    )
    [hold] = audit_stack.get("/v1/holds", line_id="pv-01")["items"][:1]
    assert (hold["cause"], hold["since"]) == ("escape", last["suspect_since"])
    no_script_errors(browser)
