"""The review queue's tools in headless Chromium against the real API (one API, one browser, file order).

A key the API refuses is not kept; a viewer key sees disabled actions; the frame under review fits a
1024x768 panel PC without scrolling and grows on a large screen; labels stay inside the frame and
apart; locations read as words; a class has one colour on every line; zoom, pan, brightness,
contrast; the golden sample side by side; boxes moved, drawn, merged, rejected as duplicates; bulk
decisions and undo; order by confidence, search by code, paging past the last item; ``t`` on a
frame without a code; the unread page assigns a code; the audit trail names the reviewer.
Expected values come from the API.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from page_actions import (
    banner,
    canvas_data,
    css,
    drag,
    frame_drawn,
    js,
    no_script_errors,
    one,
    open_page,
    press,
    queue_ids,
    selected_id,
    use_key,
)
from review_browser import reset_viewport, screenshot, set_viewport, wait_for
from review_seed import (
    BEARING_CODE,
    PV_CODE,
    PV_TRIGGER,
    TEXTILE_CODE,
    Stack,
    _upload,
    bearing_frame,
    pv_frame,
)

pytestmark = pytest.mark.browser

UNREAD_CODE = "PV000000000299"


@pytest.fixture(scope="module")
def tools(stack: Stack) -> dict[str, Any]:
    """The seeded stack plus a PV frame whose code could not be read and a cracked ring."""
    start = stack.times["start"]
    unread = {
        "id": uuid.uuid4().hex,
        "line_id": "pv-01",
        "station": "el",
        "code": None,
        "code_status": "code_unread",
        "captured_at": (start + timedelta(minutes=30)).isoformat(),
        "model_name": "pv",
        "model_version": "3",
        "verdict": "fail",
        "reason": "QR label not readable",
        "image_width": 400,
        "image_height": 240,
        "image_ref": _upload(stack, "pv", pv_frame()),
        "defects": [
            {
                "class_name": "crack",
                "confidence": 0.88,
                "bbox": [85, 45, 115, 75],
                "location": {"row": 1, "col": 2},
            }
        ],
    }
    ring = {
        **unread,
        "id": uuid.uuid4().hex,
        "line_id": "bearing-01",
        "station": "face",
        "code": "BR0000000302",
        "code_status": "read",
        "captured_at": (start + timedelta(minutes=31)).isoformat(),
        "model_name": "bearing",
        "reason": None,
        "image_width": 320,
        "image_height": 320,
        "image_ref": _upload(stack, "bearing", bearing_frame()),
        "defects": [
            {
                "class_name": "crack",
                "confidence": 0.52,
                "bbox": [40, 150, 60, 170],
                "location": {"zone": "face"},
            }
        ],
    }
    for body, who in ((unread, "pv"), (ring, "bearing")):
        response = stack.post("/v1/inspections", who, json=body)
        assert response.status_code == 201, response.text
    return {"unread": unread, "ring": ring}


def api_queue(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    return list(stack.get("/v1/review/queue", "reviewer", limit=50, **params)["items"])


def select_defect(browser: Any, defect_id: int) -> None:
    """Click the defect in the list and wait until its frame is drawn."""
    wait_for(browser, lambda b: defect_id in queue_ids(b), f"defect {defect_id} listed")
    one(browser, f"#queue-list li[data-defect-id='{defect_id}']").click()
    wait_for(browser, lambda b: frame_drawn(b, defect_id), f"the frame of defect {defect_id}")


def test_a_key_the_api_refuses_is_not_kept(browser: Any, stack: Stack, tools: dict[str, Any]) -> None:
    use_key(browser, stack, None)
    browser.get(f"{stack.base_url}/review")
    wait_for(browser, lambda b: "Paste an API key" in banner(b)[1], "the banner asking for a key")
    one(browser, "#api-key").send_keys("lc_000000000000_" + "x" * 43)
    one(browser, "#key-form button[type='submit']").click()
    wait_for(
        browser, lambda b: one(b, "#key-form").get_attribute("data-rejected") == "true", "the key refused"
    )
    assert "not accepted" in banner(browser)[1]
    assert js(browser, "return localStorage.getItem('linecheck.apiKey')") is None
    assert queue_ids(browser) == []
    field = one(browser, "#api-key")
    field.clear()
    field.send_keys(stack.keys["reviewer"])
    one(browser, "#key-form button[type='submit']").click()
    wait_for(browser, lambda b: len(queue_ids(b)) > 0, "the queue with a good key")
    assert js(browser, "return localStorage.getItem('linecheck.apiKey')") == stack.keys["reviewer"]
    assert one(browser, "#key-status").text == "qa reviewer · reviewer"
    no_script_errors(browser, allow=("status of 401",))


def test_a_viewer_key_sees_the_actions_disabled(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review", who="viewer")
    wait_for(browser, lambda b: selected_id(b) is not None, "a selected defect")
    buttons = css(browser, ".needs-review")
    assert len(buttons) >= 10
    assert all(not b.is_enabled() for b in buttons), [
        b.get_attribute("id") for b in buttons if b.is_enabled()
    ]
    assert "reviewer key" in one(browser, "#btn-confirm").get_attribute("title")
    assert one(browser, "#key-status").text == "qa viewer · viewer"
    assert not one(browser, "#btn-next").get_attribute("disabled")  # browsing still works
    open_page(browser, stack, "/review")
    wait_for(browser, lambda b: one(b, "#btn-confirm").is_enabled(), "actions enabled for a reviewer")


def test_the_frame_fits_a_1024x768_panel_and_grows_on_a_large_screen(browser: Any, stack: Stack) -> None:
    try:
        set_viewport(browser, 1024, 768)
        open_page(browser, stack, "/review")
        first = api_queue(stack)[0]
        wait_for(browser, lambda b: frame_drawn(b, first["defect"]["id"]), "the frame drawn")
        rect = js(
            browser,
            "const r = document.getElementById('frame-canvas').getBoundingClientRect();"
            "return [r.left, r.top, r.right, r.bottom, innerWidth, innerHeight, scrollY,"
            " document.documentElement.scrollHeight, document.documentElement.scrollWidth]",
        )
        left, top, right, bottom, width, height, scrolled, page_h, page_w = rect
        assert (width, height) == (1024, 768)
        assert left >= 0 and top >= 0 and right <= width and bottom <= height, rect
        assert scrolled == 0 and page_h <= height and page_w <= width, rect
        drawn = canvas_data(browser)
        ox, oy = drawn["offset"]
        assert ox >= -0.5 and oy >= -0.5  # the whole frame is inside the canvas
        assert first["image_width"] * drawn["scale"] <= drawn["width"] + 0.5
        assert first["image_height"] * drawn["scale"] <= drawn["height"] + 0.5
        assert min(first["image_width"] * drawn["scale"], first["image_height"] * drawn["scale"]) > 300
        screenshot(browser, "queue-1024x768")
        set_viewport(browser, 1920, 1080)
        wait_for(browser, lambda b: canvas_data(b)["height"] > 700, "the canvas grown to the large screen")
        big = canvas_data(browser)
        assert first["image_height"] * big["scale"] > 700  # no longer capped at 460 px
        screenshot(browser, "queue-1920x1080")
    finally:
        reset_viewport(browser)


def test_labels_stay_inside_the_frame_and_apart_and_places_read_as_words(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review?line_id=textile-01")
    roll = stack.get(f"/v1/trace/{TEXTILE_CODE}")["inspections"]
    yarn = next(d for i in roll for d in i["defects"] if d["class_name"] == "broken_yarn")  # at the top edge
    two = next(i for i in roll if len(i["defects"]) == 2)
    for target in (yarn["id"], two["defects"][0]["id"]):
        select_defect(browser, target)
        drawn = canvas_data(browser)
        labels = drawn["labels"]
        assert len(labels) == sum(not b["rejected"] or b["selected"] for b in drawn["boxes"])
        for label in labels:
            assert label["x"] >= 0 and label["y"] >= 0, label
            assert (
                label["x"] + label["w"] <= drawn["width"] + 0.5
                and label["y"] + label["h"] <= drawn["height"] + 0.5
            )
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                apart = (
                    a["x"] + a["w"] <= b["x"]
                    or b["x"] + b["w"] <= a["x"]
                    or a["y"] + a["h"] <= b["y"]
                    or b["y"] + b["h"] <= a["y"]
                )
                assert apart, (a, b)
    location = one(browser, "#detail-location").text
    assert "{" not in location and "along" in location and " m" in location, location
    no_script_errors(browser)


def test_a_class_has_one_colour_on_every_line(browser: Any, stack: Stack, tools: dict[str, Any]) -> None:
    open_page(browser, stack, "/review")
    wait_for(browser, lambda b: len(queue_ids(b)) > 0, "the queue")
    colours = js(
        browser,
        """const found = {};
        for (const li of document.querySelectorAll('#queue-list li')) {
          const chip = li.querySelector('.chip');
          const line = li.querySelector('.queue-text .muted').textContent.split(' · ')[0];
          (found[chip.textContent] ||= {})[line] = getComputedStyle(chip).backgroundColor;
        }
        return found;""",
    )
    assert set(colours["crack"]) == {"pv-01", "bearing-01"}
    assert len(set(colours["crack"].values())) == 1, colours["crack"]
    per_line: dict[str, dict[str, str]] = {}
    for name, lines in colours.items():
        for line, colour in lines.items():
            per_line.setdefault(line, {})[name] = colour
    for line, by_class in per_line.items():  # within a line, classes stay apart
        assert len(set(by_class.values())) == len(by_class), (line, by_class)


def test_t_on_a_frame_without_a_code_points_to_the_unread_page(
    browser: Any, stack: Stack, tools: dict[str, Any]
) -> None:
    unread = stack.get(f"/v1/inspections/{tools['unread']['id']}")
    open_page(browser, stack, "/review?line_id=pv-01")
    select_defect(browser, unread["defects"][0]["id"])
    before = browser.current_url
    press(browser, "t")
    wait_for(browser, lambda b: "has no code" in banner(b)[1], "the message about the missing code")
    assert browser.current_url == before
    link = one(browser, "#detail-code")
    assert "/review/unread" in link.get_attribute("href") and unread["id"] in link.get_attribute("href")
    assert not css(browser, "#detail-trigger")  # a frame sent without a trigger lists none


def test_zoom_pan_brightness_and_contrast(browser: Any, stack: Stack) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin

    open_page(browser, stack, f"/review?line_id=pv-01&code={PV_CODE}")
    target = api_queue(stack, line_id="pv-01", code=PV_CODE)[0]["defect"]
    wait_for(browser, lambda b: frame_drawn(b, target["id"]), "the PV frame")
    # the module was inspected for a PLC job: the facts name it as the PLC's log does
    assert one(browser, "#detail-trigger").text == f"{PV_TRIGGER[0]} @ encoder {PV_TRIGGER[1]}"
    item = api_queue(stack, line_id="pv-01", code=PV_CODE)[0]
    assert (item["trigger_id"], item["encoder_count"]) == PV_TRIGGER
    canvas = one(browser, "#frame-canvas")
    fitted = canvas_data(browser)
    ActionChains(browser).scroll_from_origin(ScrollOrigin.from_element(canvas), 0, -300).perform()
    wait_for(browser, lambda b: canvas_data(b)["zoom"] > 1.2, "zoomed in by the wheel")
    zoomed = canvas_data(browser)
    assert zoomed["scale"] == pytest.approx(fitted["scale"] * zoomed["zoom"])
    press(browser, "+")
    wait_for(browser, lambda b: canvas_data(b)["zoom"] > zoomed["zoom"], "zoomed in by +")
    before = canvas_data(browser)["offset"]
    drag(browser, canvas, (200, 150), (-60, -40))
    after = canvas_data(browser)["offset"]
    assert after[0] == pytest.approx(before[0] - 60, abs=3) and after[1] == pytest.approx(
        before[1] - 40, abs=3
    )
    press(browser, "0")
    wait_for(browser, lambda b: canvas_data(b)["zoom"] == 1, "fitted again")
    pixel = (
        "const c = document.getElementById('frame-canvas'); const b = JSON.parse(c.dataset.boxes)[0];"
        "const at = [Math.round(b.x1) - 12, Math.round(b.y1) - 12];"
        "return Array.from(c.getContext('2d').getImageData(at[0], at[1], 1, 1).data).slice(0, 3)"
    )
    plain = js(browser, pixel)
    js(
        browser,
        "const s = document.getElementById('brightness'); s.value = '1.6';"
        "s.dispatchEvent(new Event('input')); const c = document.getElementById('contrast'); c.value = '1.3';"
        "c.dispatchEvent(new Event('input'))",
    )
    assert canvas_data(browser)["filter"] == "brightness(1.6) contrast(1.3)"
    brighter = js(browser, pixel)
    assert sum(brighter) > sum(plain) + 30, (plain, brighter)
    one(browser, "#filter-reset").click()
    screenshot(browser, "queue-pv-zoom")


def test_the_golden_sample_side_by_side(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review?line_id=textile-01")
    first = api_queue(stack, line_id="textile-01")[0]
    wait_for(browser, lambda b: frame_drawn(b, first["defect"]["id"]), "the textile frame")
    golden = stack.get("/v1/lines/textile-01/golden", station=first["station"])
    assert golden["source"] == "newest_good_frame"
    press(browser, "g")
    wait_for(
        browser, lambda b: canvas_data(b, "golden-canvas")["ref"] == golden["image_ref"], "the golden frame"
    )
    left = one(browser, "#frame-pane").rect
    right = one(browser, "#golden-pane").rect
    assert right["x"] >= left["x"] + left["width"] - 1 and abs(right["y"] - left["y"]) < 2  # side by side
    press(browser, "+")
    wait_for(
        browser,
        lambda b: canvas_data(b, "golden-canvas")["zoom"] == canvas_data(b)["zoom"] > 1,
        "zoom followed",
    )
    assert "newest good frame" in one(browser, "#golden-caption").text
    screenshot(browser, "queue-golden-side-by-side")
    one(browser, "#golden-set").click()
    wait_for(
        browser,
        lambda b: "chosen by qa reviewer" in one(b, "#golden-caption").text,
        "the chosen golden sample",
    )
    chosen = stack.get("/v1/lines/textile-01/golden", station=first["station"])
    assert (chosen["source"], chosen["inspection_id"]) == ("chosen", first["defect"]["inspection_id"])
    press(browser, "0")
    press(browser, "g")
    wait_for(browser, lambda b: not one(b, "#golden-pane").is_displayed(), "the golden pane closed")


def test_a_box_moved_and_saved(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, f"/review?line_id=pv-01&code={PV_CODE}")
    target = api_queue(stack, line_id="pv-01", code=PV_CODE)[0]["defect"]
    wait_for(browser, lambda b: frame_drawn(b, target["id"]), "the PV frame")
    press(browser, "m")
    drawn = canvas_data(browser)
    box = next(b for b in drawn["boxes"] if b["selected"])
    canvas = one(browser, "#frame-canvas")
    drag(browser, canvas, ((box["x1"] + box["x2"]) / 2, (box["y1"] + box["y2"]) / 2), (30, 15))
    wait_for(browser, lambda b: canvas_data(b)["draft"] is not None, "the moved box")
    draft = canvas_data(browser)["draft"]
    scale = drawn["scale"]
    assert draft[0] == pytest.approx(target["bbox"][0] + 30 / scale, abs=1.5)
    assert draft[1] == pytest.approx(target["bbox"][1] + 15 / scale, abs=1.5)
    assert one(browser, "#btn-save-box").is_displayed()
    press(browser, "\ue007")  # Enter
    wait_for(
        browser, lambda b: stack.get(f"/v1/defects/{target['id']}")["final_bbox"] is not None, "the box saved"
    )
    saved = stack.get(f"/v1/defects/{target['id']}")
    assert saved["final_bbox"] == pytest.approx(draft, abs=0.11)
    assert saved["review_state"] == "confirmed" and saved["reviews"][-1]["bbox"] == saved["final_bbox"]


def test_a_missed_defect_drawn(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review?line_id=pv-01&state=all")
    target = api_queue(stack, line_id="pv-01", state="all", code=PV_CODE)[0]["defect"]
    select_defect(browser, target["id"])
    before = stack.get(f"/v1/inspections/{target['inspection_id']}")["defects"]
    press(browser, "d")
    canvas = one(browser, "#frame-canvas")
    drawn = canvas_data(browser)
    ox, oy = drawn["offset"]
    scale = drawn["scale"]
    start = (ox + 300 * scale, oy + 60 * scale)
    drag(browser, canvas, start, (25 * scale, 20 * scale))
    wait_for(browser, lambda b: one(b, "#picker").is_displayed(), "the class picker for the drawn box")
    classes = stack.get("/v1/lines/pv-01")["config"]["classes"]
    press(browser, str(classes.index("finger_interruption") + 1))
    wait_for(
        browser,
        lambda b: len(stack.get(f"/v1/inspections/{target['inspection_id']}")["defects"]) == len(before) + 1,
        "the drawn defect stored",
    )
    added = stack.get(f"/v1/inspections/{target['inspection_id']}")["defects"][-1]
    assert (added["source"], added["final_class"], added["review_state"]) == (
        "reviewer",
        "finger_interruption",
        "confirmed",
    )
    assert added["bbox"][0] == pytest.approx(300, abs=1.5) and added["bbox"][2] == pytest.approx(325, abs=1.5)
    # located by pv-01's grid (grid_box 0.02..0.98 x 0.02..0.79 of the 400 x 240 frame): centre (312, 70)
    assert added["location"] == {"row": 2, "col": 7}
    grade = stack.get(f"/v1/units/{PV_CODE}/grade")
    assert grade["defects_added"] == 1


def test_boxes_merged_and_a_duplicate_rejected(browser: Any, stack: Stack, tools: dict[str, Any]) -> None:
    open_page(browser, stack, f"/review?code={BEARING_CODE}")
    defects = stack.get(f"/v1/trace/{BEARING_CODE}")["inspections"][0]["defects"]
    keep, other = defects
    select_defect(browser, keep["id"])
    drawn = canvas_data(browser)
    box = next(b for b in drawn["boxes"] if b["id"] == other["id"])
    drag(
        browser,
        one(browser, "#frame-canvas"),
        ((box["x1"] + box["x2"]) / 2, (box["y1"] + box["y2"]) / 2),
        (0, 0),
        shift=True,
    )
    wait_for(browser, lambda b: one(b, "#btn-merge").is_enabled(), "merge enabled")
    assert one(browser, "#btn-merge").text == "merge 2"
    one(browser, "#btn-merge").click()
    wait_for(
        browser, lambda b: stack.get(f"/v1/defects/{other['id']}")["review_state"] == "rejected", "the merge"
    )
    kept = stack.get(f"/v1/defects/{keep['id']}")
    union = [min(keep["bbox"][0], other["bbox"][0]), min(keep["bbox"][1], other["bbox"][1]),
             max(keep["bbox"][2], other["bbox"][2]), max(keep["bbox"][3], other["bbox"][3])]  # fmt: skip
    assert kept["final_bbox"] == union and kept["review_state"] == "confirmed"
    crack = stack.get(f"/v1/inspections/{tools['ring']['id']}")["defects"][0]
    open_page(browser, stack, "/review?code=BR0000000302")
    select_defect(browser, crack["id"])
    press(browser, "\ue017")  # Delete
    wait_for(
        browser,
        lambda b: stack.get(f"/v1/defects/{crack['id']}")["review_state"] == "rejected",
        "the duplicate",
    )
    assert stack.get(f"/v1/defects/{crack['id']}")["reviews"][-1]["comment"] == "duplicate"


def test_bulk_decision_then_undo(browser: Any, stack: Stack) -> None:
    open_page(browser, stack, "/review?line_id=textile-01")
    wait_for(browser, lambda b: len(queue_ids(b)) >= 2, "two textile defects")
    picked = queue_ids(browser)[:2]
    for defect_id in picked:
        one(browser, f"#queue-list li[data-defect-id='{defect_id}'] .pick").click()
    wait_for(browser, lambda b: one(b, "#bulk-bar").is_displayed(), "the bulk bar")
    assert one(browser, "#bulk-count").text == "2 selected"
    one(browser, "#bulk-confirm").click()
    wait_for(
        browser,
        lambda b: all(stack.get(f"/v1/defects/{i}")["review_state"] == "confirmed" for i in picked),
        "both confirmed",
    )
    wait_for(browser, lambda b: not set(picked) & set(queue_ids(b)), "both gone from the pending queue")
    press(browser, "u")
    wait_for(
        browser,
        lambda b: all(stack.get(f"/v1/defects/{i}")["review_state"] == "pending" for i in picked),
        "both undone",
    )
    for defect_id in picked:
        decisions = [r["decision"] for r in stack.get(f"/v1/defects/{defect_id}")["reviews"]]
        assert decisions[-2:] == ["confirm", "undo"]
    wait_for(browser, lambda b: selected_id(b) in picked, "the undone defect selected again")
    history = one(browser, "#detail-history").text
    assert "undone by qa reviewer (key:" in history, history


def test_confirm_everything_on_a_frame(browser: Any, stack: Stack) -> None:
    roll = stack.get(f"/v1/trace/{TEXTILE_CODE}")["inspections"]
    frame = next(i for i in roll if len(i["defects"]) == 2)
    pending = [d["id"] for d in frame["defects"] if d["review_state"] == "pending"]
    assert pending
    open_page(browser, stack, "/review?line_id=textile-01")
    select_defect(browser, pending[0])
    assert one(browser, "#btn-confirm-frame").get_attribute("data-pending") == str(len(pending))
    press(browser, "a")
    wait_for(
        browser,
        lambda b: all(stack.get(f"/v1/defects/{i}")["review_state"] == "confirmed" for i in pending),
        "the frame confirmed",
    )


def test_order_by_confidence_and_search_by_code(browser: Any, stack: Stack) -> None:
    from selenium.webdriver.support.ui import Select

    open_page(browser, stack, "/review?state=all")
    Select(one(browser, "#sort")).select_by_value("confidence")
    expected = [i["defect"]["id"] for i in api_queue(stack, state="all", sort="confidence")]
    wait_for(browser, lambda b: queue_ids(b) == expected, f"lowest confidence first {expected}")
    assert "sort=confidence" in browser.current_url
    box = one(browser, "#code-search")
    box.send_keys(PV_CODE + "\n")
    expected = [i["defect"]["id"] for i in api_queue(stack, state="all", sort="confidence", code=PV_CODE)]
    wait_for(browser, lambda b: queue_ids(b) == expected, f"the defects of {PV_CODE}")
    assert f"code={PV_CODE}" in browser.current_url


def test_the_queue_moves_on_to_the_next_page(browser: Any, stack: Stack) -> None:
    everything = [i["defect"]["id"] for i in api_queue(stack, state="all")]
    assert len(everything) >= 5
    open_page(browser, stack, "/review?state=all&limit=2")
    wait_for(browser, lambda b: queue_ids(b) == everything[:2], "the first page of two")
    press(browser, "j")
    press(browser, "j")  # past the last item of the page
    wait_for(browser, lambda b: queue_ids(b) == everything[2:4], "the second page")
    assert selected_id(browser) == everything[2]
    press(browser, "j")
    target = selected_id(browser)
    assert target == everything[3]
    press(browser, "c")  # deciding the last item of a page moves on as well
    wait_for(browser, lambda b: queue_ids(b) == everything[4:6], "the third page after the decision")
    assert stack.get(f"/v1/defects/{target}")["review_state"] == "confirmed"
    press(browser, "k")
    wait_for(browser, lambda b: selected_id(b) == everything[3], "back to the previous page's last item")


def test_the_unread_page_assigns_a_code(browser: Any, stack: Stack, tools: dict[str, Any]) -> None:
    frame_id = tools["unread"]["id"]
    open_page(browser, stack, "/review/unread")
    wait_for(
        browser,
        lambda b: one(b, "#unread-detail").get_attribute("data-inspection-id") == frame_id,
        "the unread frame",
    )
    waiting = stack.get("/v1/inspections", code_status="code_unread")["items"]
    assert [li.get_attribute("data-inspection-id") for li in css(browser, "#unread-list li")] == [
        i["id"] for i in waiting
    ]
    assert canvas_data(browser, "unread-canvas")["ref"] == tools["unread"]["image_ref"]
    screenshot(browser, "unread")
    one(browser, "#assign-code").send_keys(UNREAD_CODE + "\n")
    wait_for(
        browser,
        lambda b: one(b, "#unread").get_attribute("data-last-assigned") == f"{frame_id}:{UNREAD_CODE}",
        "assigned",
    )
    done = stack.get(f"/v1/inspections/{frame_id}")
    assert done["code"] == UNREAD_CODE and done["code_assigned_by"] == f"key:{stack.key_id('reviewer')}"
    assert frame_id not in [li.get_attribute("data-inspection-id") for li in css(browser, "#unread-list li")]
    assert stack.get(f"/v1/units/{UNREAD_CODE}")["line_id"] == "pv-01"
    no_script_errors(browser)


def test_the_audit_trail_names_the_reviewer(browser: Any, stack: Stack) -> None:
    reviewed = next(i for i in api_queue(stack, state="confirmed"))
    open_page(browser, stack, f"/review?state=confirmed&code={reviewed['code']}")
    select_defect(browser, reviewed["defect"]["id"])
    reviewers = [r.text for r in css(browser, "#detail-history .reviewer")]
    assert reviewers and all(f"qa reviewer (key:{stack.key_id('reviewer')})" in r for r in reviewers)
    open_page(browser, stack, f"/review/trace?code={reviewed['code']}")
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == reviewed["code"], "the trace")
    assert (
        "by qa reviewer (key:"
        in one(browser, f".defect-list li[data-defect-id='{reviewed['defect']['id']}']").text
    )
