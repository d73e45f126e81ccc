"""The review pages in headless Chromium against the real API (uvicorn + SQLite, seeded over HTTP).

The tests of this module share one API and one browser and run in file order: decisions made by
keyboard in the queue are then seen in the trace view and the dashboard. Expected values always
come from the API itself, never from constants. Screenshots go to test-artifacts/review-pages/.
"""

from __future__ import annotations

from typing import Any

import pytest
from review_browser import screenshot, severe_console_errors, wait_for
from review_seed import BEARING_CODE, CARTON_CODE, LOT_CODE, PV_CODE, PV_TRIGGER, TEXTILE_CODE, Stack

pytestmark = pytest.mark.browser

KEY_STORAGE = "linecheck.apiKey"


def by() -> Any:
    from selenium.webdriver.common.by import By

    return By


def css(browser: Any, selector: str) -> list[Any]:
    return list(browser.find_elements(by().CSS_SELECTOR, selector))


def one(browser: Any, selector: str) -> Any:
    return browser.find_element(by().CSS_SELECTOR, selector)


def press(browser: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).send_keys(*keys).perform()


def use_key(browser: Any, stack: Stack, who: str) -> None:
    """Store ``who``'s key the way the page does (localStorage of the API's origin)."""
    if not browser.current_url.startswith(stack.base_url):
        browser.get(f"{stack.base_url}/review/static/style.css")
    browser.execute_script("localStorage.setItem(arguments[0], arguments[1])", KEY_STORAGE, stack.keys[who])


def open_page(browser: Any, stack: Stack, path: str, who: str = "reviewer") -> None:
    use_key(browser, stack, who)
    browser.get(f"{stack.base_url}{path}")
    wait_for(browser, lambda b: one(b, "body").get_attribute("data-ready") == "true", f"{path} ready")


def queue_ids(browser: Any) -> list[int]:
    """Defect ids listed, read in one script call (the list may be re-rendered at any time)."""
    ids = browser.execute_script(
        "return Array.from(document.querySelectorAll('#queue-list li'), li => Number(li.dataset.defectId))"
    )
    return [int(i) for i in ids]


def selected_id(browser: Any) -> int | None:
    found = browser.execute_script(
        "const li = document.querySelector(\"#queue-list li[aria-selected='true']\");"
        "return li ? Number(li.dataset.defectId) : null"
    )
    return None if found is None else int(found)


def api_queue(stack: Stack, **filters: Any) -> list[dict[str, Any]]:
    return list(stack.get("/v1/review/queue", "reviewer", limit=50, **filters)["items"])


def banner(browser: Any) -> tuple[str, str]:
    node = one(browser, "#banner")
    return (node.get_attribute("data-kind") or "", node.text) if node.is_displayed() else ("", "")


def no_script_errors(browser: Any, allow: tuple[str, ...] = ()) -> None:
    errors = [e for e in severe_console_errors(browser) if not any(a in e for a in allow)]
    assert errors == [], errors


def test_queue_loads_once_a_key_is_pasted(browser: Any, stack: Stack) -> None:
    browser.get(f"{stack.base_url}/review")
    wait_for(browser, lambda b: "Paste an API key" in banner(b)[1], "the banner asking for a key")
    assert queue_ids(browser) == []
    one(browser, "#api-key").send_keys(stack.keys["reviewer"])
    one(browser, "#key-form button[type='submit']").click()
    expected = [item["defect"]["id"] for item in api_queue(stack)]
    assert len(expected) >= 4
    wait_for(browser, lambda b: queue_ids(b) == expected, f"the queue to list {expected}")
    assert selected_id(browser) == expected[0]
    assert one(browser, "#detail").get_attribute("data-defect-id") == str(expected[0])
    assert (
        browser.execute_script("return localStorage.getItem(arguments[0])", KEY_STORAGE)
        == stack.keys["reviewer"]
    )
    assert banner(browser)[0] == "info"
    no_script_errors(browser)


def test_full_frame_is_drawn_with_the_box(browser: Any, stack: Stack) -> None:
    item = api_queue(stack)[0]
    defect = item["defect"]
    canvas = one(browser, "#frame-canvas")
    wait_for(
        browser, lambda b: canvas.get_attribute("data-defect-id") == str(defect["id"]), "the frame drawn"
    )
    scale = float(canvas.get_attribute("data-scale"))
    ox, oy = browser.execute_script("return JSON.parse(arguments[0].dataset.offset)", canvas)
    assert canvas.get_attribute("data-ref") == item["image_ref"]
    # the whole frame fits the pane, centred: one side fills it, the other is inside it
    width, height = int(canvas.get_attribute("width")), int(canvas.get_attribute("height"))
    assert item["image_width"] * scale <= width + 0.5 and item["image_height"] * scale <= height + 0.5
    assert min(ox, oy) == pytest.approx(0, abs=0.5) and ox >= -0.5 and oy >= -0.5
    boxes = browser.execute_script("return JSON.parse(arguments[0].dataset.boxes)", canvas)
    selected = [b for b in boxes if b["selected"]]
    assert len(selected) == 1
    assert len(boxes) == len(stack.get(f"/v1/inspections/{defect['inspection_id']}")["defects"])
    box = selected[0]
    for got, want, off in zip(
        (box["x1"], box["y1"], box["x2"], box["y2"]), defect["bbox"], (ox, oy, ox, oy), strict=True
    ):
        assert got == pytest.approx(want * scale + off, abs=0.01)
    # the stroke is there (the box colour on its top edge) and the inside is the frame, not paint
    edge, inside = browser.execute_script(
        """const [c, b] = arguments; const ctx = c.getContext('2d');
        const px = (x, y) => Array.from(ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data)
            .slice(0, 3);
        return [px((b.x1 + b.x2) / 2, b.y2), px((b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2)];""",
        canvas,
        box,
    )
    colour = [int(box["colour"][i : i + 2], 16) for i in (1, 3, 5)]
    assert edge == pytest.approx(colour, abs=40)
    assert inside != pytest.approx(colour, abs=40)
    crop_origin = one(browser, "#crop-canvas").get_attribute("data-origin")
    assert crop_origin == ("stored" if defect["crop_ref"] else "frame")


def test_confirm_and_reclassify_by_keyboard(browser: Any, stack: Stack) -> None:
    before = api_queue(stack)
    first = selected_id(browser)
    assert first == before[0]["defect"]["id"]
    press(browser, "c")
    wait_for(browser, lambda b: selected_id(b) not in (None, first), "the next defect after confirming")
    assert f"#{first} confirmed" in banner(browser)[1]
    assert first not in queue_ids(browser)
    confirmed = stack.get(f"/v1/defects/{first}")
    assert confirmed["review_state"] == "confirmed"
    assert confirmed["reviews"][-1]["reviewer"] == f"key:{stack.key_id('reviewer')}"

    second = selected_id(browser)
    assert second == before[1]["defect"]["id"]
    item = before[1]
    classes = stack.get(f"/v1/lines/{item['line_id']}")["config"]["classes"]
    new_class = next(c for c in classes if c != item["defect"]["final_class"])
    press(browser, "e")
    wait_for(browser, lambda b: one(b, "#picker").is_displayed(), "the class picker")
    choices = [b.get_attribute("data-class-name") for b in css(browser, "#picker-list button")]
    assert choices == classes
    screenshot(browser, "queue-class-picker")
    press(browser, str(classes.index(new_class) + 1))
    wait_for(browser, lambda b: selected_id(b) not in (None, second), "the next defect after reclassifying")
    reclassified = stack.get(f"/v1/defects/{second}")
    assert (reclassified["review_state"], reclassified["final_class"]) == ("reclassified", new_class)
    assert reclassified["reviews"][-1]["new_class"] == new_class
    assert queue_ids(browser) == [i["defect"]["id"] for i in api_queue(stack)]

    decided = {first: ("confirm", None), second: ("reclassify", new_class)}
    for entry in before[:2]:
        trace = stack.get(f"/v1/trace/{entry['code']}")
        found = [d for i in trace["inspections"] for d in i["defects"] if d["id"] == entry["defect"]["id"]]
        assert len(found) == 1
        last = found[0]["reviews"][-1]
        assert (last["decision"], last["new_class"]) == decided[entry["defect"]["id"]]
    screenshot(browser, "queue-after-decisions")
    no_script_errors(browser)


def test_reject_with_a_comment_from_a_filtered_url(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review?line_id=textile-01")
    expected = [i["defect"]["id"] for i in api_queue(stack, line_id="textile-01")]
    wait_for(browser, lambda b: queue_ids(b) == expected, f"the textile queue {expected}")
    assert one(browser, "#filters").find_element(by().NAME, "line_id").get_attribute("value") == "textile-01"
    target = selected_id(browser)
    comment = one(browser, "#comment")
    text = "shadow of the loom, not a stain"
    comment.send_keys(text)
    press(browser, "r")  # typed into the comment field: a letter, not a decision
    assert comment.get_attribute("value") == text + "r"
    assert stack.get(f"/v1/defects/{target}")["review_state"] == "pending"
    comment.send_keys("\ue003")  # Backspace
    browser.execute_script("document.activeElement.blur()")
    press(browser, "r")
    wait_for(browser, lambda b: selected_id(b) not in (None, target), "the next defect after rejecting")
    rejected = stack.get(f"/v1/defects/{target}")
    assert rejected["review_state"] == "rejected"
    assert rejected["reviews"][-1]["comment"] == text
    assert comment.get_attribute("value") == ""
    no_script_errors(browser)


def test_filters_ask_the_api_for_the_same_page(browser: Any, stack: Stack) -> None:
    from selenium.webdriver.support.ui import Select

    form = one(browser, "#filters")
    Select(form.find_element(by().NAME, "line_id")).select_by_value("pv-01")
    form.find_element(by().NAME, "min_confidence").send_keys("0.75")
    one(browser, "#filters-apply").click()
    expected = [i["defect"]["id"] for i in api_queue(stack, line_id="pv-01", min_confidence=0.75)]
    assert expected, "the seed has a PV defect above 0.75"
    wait_for(browser, lambda b: queue_ids(b) == expected, f"the filtered queue {expected}")
    assert "line_id=pv-01" in browser.current_url and "min_confidence=0.75" in browser.current_url
    Select(form.find_element(by().NAME, "state")).select_by_value("all")
    Select(form.find_element(by().NAME, "class_name")).select_by_value("crack")
    one(browser, "#filters-apply").click()
    expected = [
        i["defect"]["id"]
        for i in api_queue(stack, line_id="pv-01", min_confidence=0.75, class_name="crack", state="all")
    ]
    wait_for(browser, lambda b: queue_ids(b) == expected, f"the queue of every crack {expected}")
    form.find_element(by().NAME, "min_confidence").clear()
    form.find_element(by().NAME, "min_confidence").send_keys("2")
    one(browser, "#filters-apply").click()
    wait_for(browser, lambda b: "min_confidence=2" in banner(b)[1], "the bad confidence named")
    one(browser, "#filters-reset").click()
    expected = [i["defect"]["id"] for i in api_queue(stack)]
    wait_for(browser, lambda b: queue_ids(b) == expected, "the unfiltered queue again")


def test_a_viewer_key_browses_but_cannot_review(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review", who="viewer")
    try:
        wait_for(browser, lambda b: selected_id(b) is not None, "a selected defect")
        target = selected_id(browser)
        press(browser, "r")
        wait_for(browser, lambda b: banner(b)[0] == "forbidden", "the forbidden banner")
        text = banner(browser)[1]
        assert "role 'viewer'" in text and "reviewer" in text
        assert one(browser, "#detail").get_attribute("data-last-error") == text.rstrip("×").strip()
        assert stack.get(f"/v1/defects/{target}")["review_state"] == "pending"
        assert selected_id(browser) == target
        screenshot(browser, "queue-viewer-forbidden")
        no_script_errors(browser, allow=("status of 403",))
    finally:
        use_key(browser, stack, "reviewer")


def test_help_lists_the_shortcuts(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review")
    help_box = one(browser, "#help")
    assert not help_box.is_displayed()
    press(browser, "?")
    wait_for(browser, lambda b: help_box.is_displayed(), "the help overlay")
    for shortcut in ("confirm", "reject", "reclassify", "next defect", "previous defect"):
        assert shortcut in help_box.text
    press(browser, "\ue00c")  # Escape
    wait_for(browser, lambda b: not help_box.is_displayed(), "the help overlay to close")


def _wait_trace(browser: Any, code: str) -> None:
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == code, f"the trace of {code}")


def test_trace_view_by_typing_a_code(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review/trace")
    box = one(browser, "#code")
    box.send_keys(TEXTILE_CODE + "\n")
    _wait_trace(browser, TEXTILE_CODE)
    trace = stack.get(f"/v1/trace/{TEXTILE_CODE}")
    grade = stack.get(f"/v1/units/{TEXTILE_CODE}/grade")
    assert one(browser, "#grade-value").text == grade["grade"]
    defects = [d for i in trace["inspections"] for d in i["defects"]]
    markers = css(browser, "#defect-map .defect")
    assert len(markers) == len(defects) == int(one(browser, "#defect-map").get_attribute("data-drawn"))
    assert sorted(int(m.get_attribute("data-defect-id")) for m in markers) == sorted(d["id"] for d in defects)
    states = {int(m.get_attribute("data-defect-id")): m.get_attribute("data-state") for m in markers}
    assert states == {d["id"]: d["review_state"] for d in defects}
    rejected = [d["id"] for d in defects if d["review_state"] == "rejected"]
    assert rejected, "an earlier test rejected a defect of this roll"
    drawn_rejected = css(browser, "#defect-map .defect-rejected")
    assert sorted(int(m.get_attribute("data-defect-id")) for m in drawn_rejected) == sorted(rejected)
    assert int(one(browser, "#grade-card").text.split("rejected by review")[1].split()[0]) == len(rejected)
    assert len(css(browser, ".timeline-inspection")) == len(trace["inspections"])
    assert len(css(browser, ".timeline-event")) == len(trace["events"])
    reviewed = [d for d in defects if d["reviews"]]
    for d in reviewed:
        assert (
            d["reviews"][-1]["reviewer"] in one(browser, f".defect-list li[data-defect-id='{d['id']}']").text
        )
    parents = [a.get_attribute("data-code") for a in css(browser, "#parents .code-link")]
    assert parents == [link["parent"] for link in trace["genealogy"]["parents"]] == [CARTON_CODE]
    screenshot(browser, "trace-textile-roll")
    one(browser, f"#children .code-link[data-code='{LOT_CODE}']").click()
    _wait_trace(browser, LOT_CODE)
    assert f"code={LOT_CODE}" in browser.current_url
    assert "not an inspected unit" in one(browser, "#unit-card").text
    assert not one(browser, "#map-section").is_displayed()
    lot = stack.get(f"/v1/trace/{LOT_CODE}")["genealogy"]["parents"]
    assert [a.get_attribute("data-code") for a in css(browser, "#parents .code-link")] == [
        link["parent"] for link in lot
    ]
    assert TEXTILE_CODE in [link["parent"] for link in lot]
    browser.back()
    _wait_trace(browser, TEXTILE_CODE)
    box = one(browser, "#code")
    box.clear()
    box.send_keys("RL9999999999\n")
    wait_for(
        browser, lambda b: "Nothing is known about RL9999999999" in banner(b)[1], "the unknown code named"
    )
    no_script_errors(browser, allow=("status of 404",))


def test_a_unit_is_found_by_its_plc_trigger_from_a_link_or_the_form(browser: Any, stack: Stack) -> None:
    line_id, (meas_id, _encoder) = "pv-01", PV_TRIGGER
    open_page(browser, stack, f"/review/trace?line_id={line_id}&trigger_id={meas_id}")  # an HMI's link
    _wait_trace(browser, PV_CODE)
    assert f"code={PV_CODE}" in browser.current_url
    assert one(browser, "#trigger-line").get_attribute("value") == line_id
    box = one(browser, "#trigger-id")
    box.clear()
    box.send_keys("M-0000-0000\n")  # no unit was triggered so
    wait_for(
        browser, lambda b: "No inspection of pv-01 was triggered as M-0000-0000" in banner(b)[1], "the banner"
    )
    assert banner(browser)[0] == "error" and one(browser, "#result").get_attribute("data-code") == PV_CODE
    no_script_errors(browser)


@pytest.mark.parametrize("code", [PV_CODE, BEARING_CODE])
def test_defect_maps_of_modules_and_rings(browser: Any, stack: Stack, code: str) -> None:
    open_page(browser, stack, f"/review/trace?code={code}")
    _wait_trace(browser, code)
    trace = stack.get(f"/v1/trace/{code}")
    live = [d for i in trace["inspections"] for d in i["defects"] if d["review_state"] != "rejected"]
    assert live
    if code == PV_CODE:
        line = stack.get("/v1/lines/pv-01")["config"]
        cells = css(browser, "#defect-map .cell")
        assert len(cells) == line["pv"]["rows"] * line["pv"]["cols"]
        hit = {
            (int(c.get_attribute("data-row")), int(c.get_attribute("data-col"))): c.get_attribute(
                "data-severity"
            )
            for c in cells
            if int(c.get_attribute("data-defects")) > 0
        }
        assert set(hit) == {(d["location"]["row"], d["location"]["col"]) for d in live}
        for d in live:
            cell = (d["location"]["row"], d["location"]["col"])
            if d["final_class"] in line["pv"]["c_grade_classes"]:
                assert hit[cell] == "c"
        # the unit as the PLC named it: its MeasId and encoder count, next to the inspection
        [trigger] = css(browser, ".timeline-inspection .trigger")
        assert trigger.get_attribute("data-trigger") == PV_TRIGGER[0]
        assert trigger.text == f"trigger {PV_TRIGGER[0]} @ encoder {PV_TRIGGER[1]}"
    else:
        assert not css(browser, ".timeline-inspection .trigger")  # a ring inspected without a trigger
        zones = {z.get_attribute("data-zone") for z in css(browser, "#defect-map .zone-hit")}
        assert zones == {d["location"]["zone"] for d in live}
        assert len(css(browser, "#defect-map .defect")) == len(live)
    assert one(browser, "#grade-value").text == stack.get(f"/v1/units/{code}/grade")["grade"]
    screenshot(browser, f"trace-{code}")
    no_script_errors(browser)


def test_dashboard_shows_the_line_statistics(browser: Any, stack: Stack) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(browser, stack, "/review/dashboard?line=textile-01")
    board = one(browser, "#dashboard")
    for period in ("24h", "7d"):
        if period != "24h":
            old = board.get_attribute("data-since")
            Select(one(browser, "#period")).select_by_value(period)
            wait_for(browser, lambda b, old=old: board.get_attribute("data-since") != old, "the new period")
        wait_for(browser, lambda b: board.get_attribute("aria-busy") == "false", "the statistics")
        stats = stack.get(
            "/v1/lines/textile-01/stats",
            since=board.get_attribute("data-since"),
            until=board.get_attribute("data-until"),
        )
        inspections = sum(s["inspections"] for s in stats["shifts"])
        assert inspections > 0
        assert one(browser, "#kpi-inspections .tile-value").text == str(inspections)
        totals = stats["totals"]  # every unit once over the period, by its grade after review
        assert one(browser, "#kpi-fail-rate .tile-value").text == f"{100 * totals['fail_rate']:.1f} %"
        assert totals["failed_units"] == sum(
            not stack.get(f"/v1/units/{code}/grade")["accepted"] for code in (TEXTILE_CODE,)
        )
        bars = css(browser, "#chart .bar")
        pairs = {
            (s["shift_start"], c): n for s in stats["shifts"] for c, n in s["defects_by_class"].items() if n
        }
        assert len(bars) == len(pairs)
        assert sum(int(b.get_attribute("data-count")) for b in bars) == sum(pairs.values())
        points = css(browser, "#chart .rate-point")
        assert len(points) == sum(s["fail_rate"] is not None for s in stats["shifts"])
    newest = stack.get("/v1/inspections", line_id="textile-01", limit=1)["items"][0]
    assert one(browser, "#kpi-model").get_attribute("data-version") == newest["model_version"]
    assert f"v{newest['model_version']}" in one(browser, "#kpi-model").text
    screenshot(browser, "dashboard-textile")
    no_script_errors(browser)
