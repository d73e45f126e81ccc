"""The Holds page and the trace's ON HOLD in headless Chromium, against the real API.

bearing-01 missed its red rabbit: the form to place a hold says so and fills in since when the line is
suspect (the verification's ``suspect_since``) and the cause; an empty reason is refused by the API and the
banner names the field. The hold's units are listed as held, one is released with a comment, then the whole
hold. A held unit's trace says ON HOLD (cause, reason, a link to the hold) and that it may not ship; a unit of
another product is not held. A viewer key sees a hold, its buttons disabled, and an attempt to release it is
the API's 403, explained.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lc_challenge import MASTER, RABBIT, part_inspection, qa_lines_in
from page_actions import banner, by, css, js, no_script_errors, one, open_page, press
from review_browser import screenshot, wait_for
from review_seed import Stack, running_stack

pytestmark = pytest.mark.browser

#: bearing-01's units made after its last good verification, minutes ago; one made before it.
SUSPECT = {"BR0000000501": 240, "BR0000000502": 180, "BR0000000503": 120, "BR0000000504": 60}
BEFORE = "BR0000000500"
#: pv-01's modules: one judged as PV-6x12, one as PV-6x10.
WIDE, PLAIN = "PV000000000801", "PV000000000802"


def _pv(code: str, product: str, minutes_ago: float) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "id": f"holds-page-{code.lower()}", "line_id": "pv-01", "station": "el", "code": code,
        "code_status": "read", "captured_at": at.isoformat(),
        "model_name": "pv", "model_version": "1", "verdict": "pass", "image_width": 640, "image_height": 640,
        "defects": [], "product": product,
    }  # fmt: skip


@pytest.fixture(scope="module")
def holds_stack(pages_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The real API: bearing-01 with a red rabbit caught 300 min ago, four units since, the rabbit missed
    30 min ago (its verification failed); pv-01 making two products, a module of each."""
    lines = qa_lines_in(tmp_path_factory.mktemp("hold-lines"))
    directory = tmp_path_factory.mktemp("holds-api")
    with running_stack(pages_sqlite_template, directory, seed_data=False, lines_dir=lines) as stack:
        bearings = [
            part_inspection(BEFORE, minutes_ago=400, scratch=False),
            part_inspection(RABBIT, minutes_ago=300, scratch=True),  # caught: the line is known good
            part_inspection(MASTER, minutes_ago=299, scratch=False),
            *(part_inspection(code, minutes_ago=m, scratch=False) for code, m in SUSPECT.items()),
            part_inspection(RABBIT, minutes_ago=30, scratch=False),  # missed: the station is not error-proof
        ]
        for body in bearings:
            response = stack.post("/v1/inspections", "bearing", json=body)
            assert response.status_code == 201, response.text
        for body in (_pv(WIDE, "PV-6x12", 50), _pv(PLAIN, "PV-6x10", 40)):
            response = stack.post("/v1/inspections", "pv", json=body)
            assert response.status_code == 201, response.text
        yield stack


def place(stack: Stack, **body: Any) -> dict[str, Any]:
    response = stack.post("/v1/holds", "reviewer", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def api_units(stack: Stack, hold_id: int) -> dict[str, str]:
    return {u["code"]: u["state"] for u in stack.get(f"/v1/holds/{hold_id}/units")["items"]}


def rows(browser: Any) -> dict[str, tuple[str, str, str]]:
    """The units listed: code -> (state in the hold, status, may ship), read in one script call."""
    found = js(
        browser,
        "return Object.fromEntries(Array.from(document.querySelectorAll('#unit-rows tr'), tr => ["
        "tr.dataset.code, [tr.dataset.state, tr.dataset.status, tr.dataset.mayShip]]))",
    )
    return {code: (state, status, ship) for code, (state, status, ship) in found.items()}


def listed(browser: Any) -> list[int]:
    ids = js(
        browser, "return Array.from(document.querySelectorAll('#hold-list li'), li => li.dataset.holdId)"
    )
    return [int(i) for i in ids]


def shown(browser: Any) -> tuple[int, str] | None:
    """The hold whose facts and units are shown, and its state (open or released), once its units loaded."""
    detail = one(browser, "#hold-detail")
    hold_id = detail.get_attribute("data-hold-id")
    if not detail.is_displayed() or not hold_id or detail.get_attribute("aria-busy") != "false":
        return None
    return int(hold_id), str(detail.get_attribute("data-state"))


def fact(browser: Any, name: str) -> str:
    return str(one(browser, f"#hold-facts dd[data-fact='{name}']").text)


def test_a_reviewer_places_a_hold_from_the_failed_verification_and_releases_it(
    browser: Any, holds_stack: Stack
) -> None:
    from selenium.webdriver.support.ui import Select

    stack = holds_stack
    verification = stack.get("/v1/lines/bearing-01/verification")
    assert verification["state"] == "failed" and verification["suspect_since"]
    before = stack.get("/v1/holds", state="all")["total"]
    open_page(browser, stack, "/review/holds")
    assert "Holds" in one(browser, "nav a[aria-current='page']").text
    press(browser, "n")
    form = one(browser, "#new-hold")
    wait_for(browser, lambda b: form.is_displayed(), "the form placing a hold")
    Select(one(browser, "#new-line")).select_by_value("pv-01")
    Select(one(browser, "#new-line")).select_by_value("bearing-01")
    wait_for(
        browser, lambda b: form.get_attribute("data-suspect-of") == "bearing-01", "the failed verification"
    )
    note = one(browser, "#new-suspect").text
    assert "bearing-01's verification FAILED" in note and RABBIT in note and "last known good" in note
    since = one(browser, "#new-since")
    assert since.get_attribute("data-exact") == verification["suspect_since"]
    assert since.get_attribute("value") == js(
        browser,
        "const d = new Date(arguments[0]); const p = n => String(n).padStart(2, '0');"
        "return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:"
        "${p(d.getMinutes())}:${p(d.getSeconds())}`",
        verification["suspect_since"],
    )  # shown in this computer's time
    assert one(browser, "#new-cause").get_attribute("value") == "verification"
    assert [o.get_attribute("value") for o in css(browser, "#new-product option")] == [""]  # one product
    screenshot(browser, "holds-new-from-verification")

    one(browser, "#btn-place").click()  # no reason: the API refuses it, naming the field
    wait_for(browser, lambda b: banner(b)[0] == "error", "the refusal")
    assert "Rejected by the API" in banner(browser)[1] and "reason=''" in banner(browser)[1]
    assert stack.get("/v1/holds", state="all")["total"] == before

    one(browser, "#new-reason").send_keys(f"red rabbit {RABBIT} passed at the face station")
    one(browser, "#btn-place").click()
    wait_for(browser, lambda b: form.get_attribute("data-last-placed"), "the hold placed")
    hold_id = int(form.get_attribute("data-last-placed"))
    assert f"Hold #{hold_id} placed on bearing-01: 4 unit(s) held" in banner(browser)[1]
    hold = stack.get(f"/v1/holds/{hold_id}")
    assert (hold["line_id"], hold["cause"], hold["product"]) == ("bearing-01", "verification", None)
    assert datetime.fromisoformat(hold["since"]) == datetime.fromisoformat(verification["suspect_since"])
    assert (hold["units"], hold["held"], hold["created_by_name"]) == (4, 4, "qa reviewer")
    assert not form.is_displayed()
    wait_for(browser, lambda b: shown(b) == (hold_id, "open"), "the new hold shown")
    assert hold_id in listed(browser)
    wait_for(browser, lambda b: set(rows(b)) == set(SUSPECT), "its units (not the one made before)")
    assert rows(browser) == {code: ("held", "accepted", "false") for code in SUSPECT}
    assert "4 held" in fact(browser, "units") and "red rabbit" in fact(browser, "reason")
    link = one(browser, "#unit-rows tr[data-code='BR0000000501'] a.trace-link").get_attribute("href")
    assert link.endswith("/review/trace?code=BR0000000501")

    one(browser, "#unit-rows tr[data-code='BR0000000502'] .unit-release-button").click()
    wait_for(browser, lambda b: one(b, "#unit-release").is_displayed(), "the unit's release form")
    assert one(browser, "#unit-release-code").text == "BR0000000502"
    one(browser, "#btn-release-unit").click()  # no comment: the page asks for one, nothing is released
    wait_for(browser, lambda b: "Say why BR0000000502 may ship" in banner(b)[1], "the hint to say why")
    assert api_units(stack, hold_id)["BR0000000502"] == "held"
    one(browser, "#unit-comment").send_keys("x-ray: no crack")
    one(browser, "#btn-release-unit").click()
    wait_for(browser, lambda b: rows(b).get("BR0000000502", ("",))[0] == "released", "the unit released")
    assert rows(browser)["BR0000000502"] == ("released", "accepted", "true")
    assert rows(browser)["BR0000000501"] == ("held", "accepted", "false")
    note = one(browser, "#unit-rows tr[data-code='BR0000000502'] .unit-note").text
    assert "x-ray: no crack" in note and "qa reviewer" in note
    assert not css(browser, "#unit-rows tr[data-code='BR0000000502'] .unit-release-button")
    assert api_units(stack, hold_id) == {
        code: "released" if code == "BR0000000502" else "held" for code in SUSPECT
    }
    assert "3 held" in fact(browser, "units") and not one(browser, "#unit-release").is_displayed()

    Select(one(browser, "#unit-state")).select_by_value("released")
    wait_for(browser, lambda b: list(rows(b)) == ["BR0000000502"], "the released units only")
    Select(one(browser, "#unit-state")).select_by_value("held")
    wait_for(browser, lambda b: set(rows(b)) == set(SUSPECT) - {"BR0000000502"}, "the held units only")

    comment = one(browser, "#hold-comment")
    comment.send_keys("rabbit re-run, all sorted")
    comment.send_keys("\ue007")  # Enter releases the whole hold
    wait_for(browser, lambda b: shown(b) == (hold_id, "released"), "the hold released")
    assert stack.get(f"/v1/holds/{hold_id}")["released"]["comment"] == "rabbit re-run, all sorted"
    assert hold_id not in listed(browser)  # no longer open; still shown
    assert "rabbit re-run, all sorted" in fact(browser, "released")
    assert not one(browser, "#hold-release").is_displayed()
    Select(one(browser, "#unit-state")).select_by_value("")
    wait_for(browser, lambda b: set(rows(b)) == set(SUSPECT), "every unit again")
    assert {code: row[0] for code, row in rows(browser).items()} == {code: "released" for code in SUSPECT}
    assert all(row[2] == "true" for row in rows(browser).values())
    assert not css(browser, ".unit-release-button")
    screenshot(browser, "holds-released")
    no_script_errors(browser, allow=("status of 422",))


def test_the_trace_of_a_held_unit_says_on_hold_and_links_the_hold(browser: Any, holds_stack: Stack) -> None:
    from selenium.webdriver.support.ui import Select

    stack = holds_stack
    since = (datetime.now(UTC) - timedelta(minutes=60)).isoformat()
    reason = "customer found a cracked 6x12 module"
    hold = place(stack, line_id="pv-01", product="PV-6x12", since=since, cause="complaint", reason=reason)
    assert api_units(stack, hold["id"]) == {WIDE: "held"}

    open_page(browser, stack, f"/review/trace?code={WIDE}", who="viewer")
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == WIDE, "the trace")
    alert = one(browser, "#hold-alert")
    assert alert.is_displayed() and alert.text.startswith("ON HOLD")
    assert "complaint" in alert.text and reason in alert.text
    assert alert.get_attribute("data-holds") == str(hold["id"])
    href = one(browser, "#hold-alert a.hold-link").get_attribute("href")
    assert href.endswith(f"/review/holds?hold={hold['id']}")
    ship = one(browser, "#may-ship")
    assert (ship.get_attribute("data-may-ship"), ship.text) == ("false", "may NOT ship")
    assert one(browser, "#grade-card").get_attribute("data-status") == "accepted"  # its grade passes it
    [item] = css(browser, "#grade-holds li")
    assert (item.get_attribute("data-hold-id"), item.get_attribute("data-state")) == (str(hold["id"]), "held")
    screenshot(browser, "trace-on-hold")

    open_page(browser, stack, f"/review/trace?code={PLAIN}", who="viewer")  # the other product: not held
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == PLAIN, "the other trace")
    assert not one(browser, "#hold-alert").is_displayed() and not css(browser, "#grade-holds")
    assert one(browser, "#may-ship").get_attribute("data-may-ship") == "true"

    response = stack.post(
        f"/v1/holds/{hold['id']}/release", "reviewer", json={"code": WIDE, "comment": "EL re-test: good"}
    )
    assert response.status_code == 201, response.text
    open_page(browser, stack, f"/review/trace?code={WIDE}", who="viewer")
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == WIDE, "the trace again")
    assert not one(browser, "#hold-alert").is_displayed()  # released: in the hold, no longer held
    assert one(browser, "#grade-holds li").get_attribute("data-state") == "released"
    assert one(browser, "#may-ship").get_attribute("data-may-ship") == "true"

    one(browser, "#grade-holds a.hold-link").click()  # the hold, from the trace
    wait_for(browser, lambda b: one(b, "body").get_attribute("data-ready") == "true", "the holds page")
    wait_for(browser, lambda b: shown(b) == (hold["id"], "open"), "the linked hold shown")
    assert rows(browser) == {WIDE: ("released", "accepted", "true")}
    assert fact(browser, "product") == "PV-6x12" and fact(browser, "cause") == "complaint"
    press(browser, "n")
    Select(one(browser, "#new-line")).select_by_value("pv-01")
    wait_for(
        browser,
        lambda b: (
            [o.get_attribute("value") for o in css(b, "#new-product option")] == ["", "PV-6x10", "PV-6x12"]
        ),
        "pv-01's products to choose from",
    )
    assert not one(browser, "#new-suspect").is_displayed()  # pv-01 has no challenge parts
    no_script_errors(browser)


def test_a_viewer_sees_a_hold_but_cannot_release_it(browser: Any, holds_stack: Stack) -> None:
    stack = holds_stack
    since = (datetime.now(UTC) - timedelta(minutes=250)).isoformat()
    hold = place(stack, line_id="bearing-01", since=since, cause="other", reason="lamp flickered")
    open_page(browser, stack, f"/review/holds?hold={hold['id']}&line_id=bearing-01", who="viewer")
    wait_for(browser, lambda b: shown(b) == (hold["id"], "open"), "the hold shown")
    wait_for(browser, lambda b: set(rows(b)) == set(SUSPECT), "its units")
    assert all(row[0] == "held" for row in rows(browser).values())
    assert hold["id"] in listed(browser)
    buttons = css(browser, ".needs-review")
    assert len(buttons) == 3 + len(SUSPECT)  # place, release the hold, release a unit, and each unit's
    assert all(not b.is_enabled() for b in buttons), [
        b.get_attribute("id") for b in buttons if b.is_enabled()
    ]
    assert "reviewer key" in one(browser, "#btn-release-hold").get_attribute("title")

    comment = one(browser, "#hold-comment")
    comment.send_keys("looks fine to me")
    comment.send_keys("\ue007")  # Enter: the API decides
    wait_for(browser, lambda b: banner(b)[0] == "forbidden", "the API's 403 explained")
    text = banner(browser)[1]
    assert "Not allowed with this key" in text and "role 'reviewer'" in text
    assert one(browser, "#hold-detail").get_attribute("data-last-error") == text.rstrip("×").strip()
    assert stack.get(f"/v1/holds/{hold['id']}")["released"] is None
    assert set(api_units(stack, hold["id"]).values()) == {"held"}
    assert one(browser, "#hold-detail").find_elements(by().CSS_SELECTOR, "dd[data-fact='released']") == []
    screenshot(browser, "holds-viewer-forbidden")
    no_script_errors(browser, allow=("status of 403",))


def test_the_dashboard_counts_the_units_held_on_the_line(browser: Any, holds_stack: Stack) -> None:
    stack = holds_stack
    hold = place(
        stack,
        line_id="bearing-01",
        since=stack.get("/v1/lines/bearing-01/verification")["suspect_since"],
        cause="verification",
        reason="dashboard check",
    )
    open_holds = stack.get("/v1/holds", line_id="bearing-01")["items"]
    held = sum(h["held"] for h in open_holds)
    assert hold["held"] > 0 and held >= hold["held"]
    open_page(browser, stack, "/review/dashboard?line=bearing-01", who="viewer")
    tile = wait_for(browser, lambda b: b.find_elements("id", "kpi-holds"), "the holds tile")[0]
    assert tile.find_element("class name", "tile-value").text == f"{held} held"
    assert tile.get_attribute("data-held") == str(held)
    note = tile.find_element("class name", "tile-note").text
    assert note.startswith(f"{len(open_holds)} open hold")
    link = tile.find_element("tag name", "a")
    assert link.get_attribute("href").endswith("/review/holds?line_id=bearing-01")
    verification = one(browser, "#kpi-verification").find_element("class name", "tile-note").text
    assert "suspect since" in verification  # the failed verification says since when
    no_script_errors(browser)


def test_a_hold_names_the_boxes_its_held_units_were_packed_in(browser: Any, holds_stack: Stack) -> None:
    stack = holds_stack
    first, second = sorted(SUSPECT)[:2]
    for child in (first, second):
        link = {"parent": "BOX-HOLD-7", "child": child, "relation": "packed_in"}
        assert stack.post("/v1/genealogy", "reviewer", json=link).status_code == 201
    hold = place(
        stack,
        line_id="bearing-01",
        since=stack.get("/v1/lines/bearing-01/verification")["suspect_since"],
        cause="escape",
        reason="boxes check",
    )
    open_page(browser, stack, f"/review/holds?hold={hold['id']}", who="viewer")
    wait_for(
        browser,
        lambda b: one(b, "#hold-containers").get_attribute("data-hold-id") == str(hold["id"]),
        "the containers of the hold's held units",
    )
    links = {
        a.get_attribute("data-code"): a.get_attribute("data-held")
        for a in one(browser, "#hold-containers").find_elements(by().CSS_SELECTOR, "a.container-link")
    }
    assert links == {"BOX-HOLD-7": "2"}
    assert f"2 of {hold['held']} held units" in one(browser, "#hold-containers").text
    no_script_errors(browser)


def test_the_kiosk_tells_the_line_how_many_of_its_units_are_held(browser: Any, holds_stack: Stack) -> None:
    stack = holds_stack
    open_page(browser, stack, "/review/kiosk?line=pv-01&refresh=2&lang=en", who="viewer")
    kiosk = one(browser, "#kiosk")
    wait_for(browser, lambda b: int(kiosk.get_attribute("data-refreshes") or 0) >= 1, "a refresh")
    held = sum(h["held"] for h in stack.get("/v1/holds", line_id="pv-01")["items"])
    alert = one(browser, "#kiosk-hold")
    assert alert.get_attribute("data-held") == str(held)
    assert alert.is_displayed() is (held > 0)

    hold = place(stack, line_id="pv-01", since=_ago(120), cause="other", reason="kiosk check")
    expected = held + hold["held"]
    wait_for(
        browser, lambda b: one(b, "#kiosk-hold").get_attribute("data-held") == str(expected), "the new hold"
    )
    assert one(browser, "#kiosk-hold").is_displayed()
    assert f"ON HOLD: {expected} unit(s) of this line may not ship" in one(browser, "#kiosk-hold").text
    open_page(browser, stack, "/review/kiosk?line=pv-01&refresh=2&lang=zh", who="viewer")
    wait_for(
        browser,
        lambda b: f"隔离中：本线 {expected} 个单元" in one(b, "#kiosk-hold").text,
        "the Chinese alert",
    )
    no_script_errors(browser)


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def test_the_trace_of_a_reworked_unit_says_what_its_grade_counts(browser: Any, holds_stack: Stack) -> None:
    stack = holds_stack
    code = "BR0000000599"
    rusty = part_inspection(code, minutes_ago=500, scratch=False)  # before the holds' periods: in none
    rusty |= {"verdict": "fail", "defects": [{"class_name": "rust", "confidence": 0.8, "bbox": [5, 5, 30, 30],
                                              "location": {"zone": "face"}}]}  # fmt: skip
    assert stack.post("/v1/inspections", "bearing", json=rusty).status_code == 201
    event = {"type": "reworked", "at": _ago(460)}
    assert stack.post(f"/v1/units/{code}/events", "bearing", json=event).status_code == 201
    assert (
        stack.post(
            "/v1/inspections", "bearing", json=part_inspection(code, minutes_ago=20, scratch=False)
        ).status_code
        == 201
    )
    grade = stack.get(f"/v1/units/{code}/grade")
    assert (grade["status"], grade["frames_superseded"]) == ("accepted", 1)

    open_page(browser, stack, f"/review/trace?code={code}", who="viewer")
    note = wait_for(browser, lambda b: b.find_elements("id", "grade-rework"), "the rework note")[0]
    assert "graded on the 1 inspection(s) since; 1 earlier not counted" in note.text
    assert one(browser, "#grade-card").get_attribute("data-status") == "accepted"
    no_script_errors(browser)


def test_the_certificate_of_a_held_unit_says_it_may_not_ship(browser: Any, holds_stack: Stack) -> None:
    stack = holds_stack
    hold = place(
        stack, line_id="pv-01", product="PV-6x12", since=_ago(55), cause="complaint", reason="cert check"
    )
    assert api_units(stack, hold["id"]) == {WIDE: "held"}
    open_page(browser, stack, f"/review/certificate?code={WIDE}", who="viewer")
    note = wait_for(browser, lambda b: b.find_elements("id", "cert-on-hold"), "the hold on the certificate")[
        0
    ]
    assert f"hold #{hold['id']} (complaint) cert check" in note.text and "may not ship" in note.text
    release = {"comment": "certificate check done"}
    assert stack.post(f"/v1/holds/{hold['id']}/release", "reviewer", json=release).status_code == 201
    open_page(browser, stack, f"/review/certificate?code={WIDE}", who="viewer")
    wait_for(browser, lambda b: b.find_elements("id", "cert-status-badge"), "the certificate")
    still = [str(h["id"]) for h in stack.get(f"/v1/units/{WIDE}/grade")["holds"] if h["state"] == "held"]
    notes = browser.find_elements("id", "cert-on-hold")  # another test's hold of the line may still hold it
    shown = notes[0].get_attribute("data-holds").split(",") if notes else []
    assert shown == still and str(hold["id"]) not in shown  # released: the certificate no longer names it
    no_script_errors(browser)
