"""What the page tests do in the browser: find elements, press keys, open a page with a key, wait."""

from __future__ import annotations

from typing import Any

from review_browser import severe_console_errors, wait_for
from review_seed import Stack

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


def use_key(browser: Any, stack: Stack, who: str | None) -> None:
    """Store ``who``'s key (None: no key) the way the page does (localStorage of the API's origin)."""
    if not browser.current_url.startswith(stack.base_url):
        browser.get(f"{stack.base_url}/review/static/style.css")
    if who is None:
        browser.execute_script("localStorage.removeItem(arguments[0])", KEY_STORAGE)
    else:
        browser.execute_script(
            "localStorage.setItem(arguments[0], arguments[1])", KEY_STORAGE, stack.keys[who]
        )


def open_page(browser: Any, stack: Stack, path: str, who: str = "reviewer") -> None:
    use_key(browser, stack, who)
    browser.get(f"{stack.base_url}{path}")
    wait_for(browser, lambda b: one(b, "body").get_attribute("data-ready") == "true", f"{path} ready")


def js(browser: Any, script: str, *args: Any) -> Any:
    return browser.execute_script(script, *args)


def banner(browser: Any) -> tuple[str, str]:
    node = one(browser, "#banner")
    return (node.get_attribute("data-kind") or "", node.text) if node.is_displayed() else ("", "")


def no_script_errors(browser: Any, allow: tuple[str, ...] = ()) -> None:
    """No console error since the last call (the favicon of a bare stylesheet tab does not count)."""
    allowed = (*allow, "/favicon.ico")
    errors = [e for e in severe_console_errors(browser) if not any(a in e for a in allowed)]
    assert errors == [], errors


def queue_ids(browser: Any) -> list[int]:
    """Defect ids listed, read in one script call (the list may be re-rendered at any time)."""
    ids = js(
        browser,
        "return Array.from(document.querySelectorAll('#queue-list li'), li => Number(li.dataset.defectId))",
    )
    return [int(i) for i in ids]


def selected_id(browser: Any) -> int | None:
    found = js(
        browser,
        "const li = document.querySelector(\"#queue-list li[aria-selected='true']\");"
        "return li ? Number(li.dataset.defectId) : null",
    )
    return None if found is None else int(found)


def frame_drawn(browser: Any, defect_id: int) -> bool:
    """The frame canvas shows ``defect_id`` selected (its boxes are drawn)."""
    return bool(
        js(
            browser,
            "const c = document.getElementById('frame-canvas');"
            "return c.dataset.defectId === String(arguments[0]) && "
            "JSON.parse(c.dataset.boxes || '[]').some(b => b.selected && b.id === arguments[0])",
            defect_id,
        )
    )


def canvas_data(browser: Any, canvas_id: str = "frame-canvas") -> dict[str, Any]:
    """What the viewer drew: boxes and labels (canvas px), scale, zoom, offset, filter, draft, size."""
    return dict(
        js(
            browser,
            """const c = document.getElementById(arguments[0]); const d = c.dataset;
            return {boxes: JSON.parse(d.boxes || '[]'), labels: JSON.parse(d.labels || '[]'),
                    scale: Number(d.scale), zoom: Number(d.zoom), offset: JSON.parse(d.offset || '[0,0]'),
                    filter: d.filter, draft: d.draft ? JSON.parse(d.draft) : null, mode: d.mode,
                    width: c.width, height: c.height, ref: d.ref};""",
            canvas_id,
        )
    )


def drag(
    browser: Any, element: Any, start: tuple[float, float], delta: tuple[float, float], shift: bool = False
) -> None:
    """Press at ``start`` (element pixels from its top-left), move by ``delta``, release."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    size = element.size
    chain = ActionChains(browser, duration=20)
    if shift:
        chain.key_down(Keys.SHIFT)
    chain.move_to_element_with_offset(element, start[0] - size["width"] / 2, start[1] - size["height"] / 2)
    chain.click_and_hold().move_by_offset(delta[0] / 2, delta[1] / 2).move_by_offset(
        delta[0] / 2, delta[1] / 2
    )
    chain.release()
    if shift:
        chain.key_up(Keys.SHIFT)
    chain.perform()
