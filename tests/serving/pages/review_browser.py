"""Headless Chromium for the review-page tests: Debian's chromium + chromedriver, driven by Selenium.

Selenium is pointed at ``/usr/bin/chromedriver`` explicitly, so Selenium Manager never downloads
a driver or a browser. Outside CI a missing browser skips the tests with the reason; with
``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linecheck.harness_settings import get_harness_settings

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "test-artifacts" / "review-pages"
CHROMIUM = str(get_harness_settings().chromium)
CHROMEDRIVER = str(get_harness_settings().chromedriver)


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{path} not found: apt-get install -y {package}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed: pip install selenium"
    return None


def require_browser() -> None:
    """Skip (or, with CI=true, fail) when headless Chromium cannot be driven."""
    why = missing_browser()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the review-page browser tests cannot run: {why}")
    pytest.skip(f"review-page browser tests skipped: {why}")


def start_chrome(profile: Path, *, network_log: bool = False) -> Any:
    """A headless Chromium session with a fresh profile, nothing fetched from the network.

    ``network_log`` records the DevTools network events (``driver.get_log("performance")``), so a
    test can list every request a page made.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1440,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability(
        "goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if network_log else {})}
    )
    driver = webdriver.Chrome(
        service=Service(executable_path=shutil.which(CHROMEDRIVER) or CHROMEDRIVER), options=options
    )
    driver.set_page_load_timeout(20)
    return driver


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = 8.0) -> Any:
    """Wait until ``condition(driver)`` is truthy; the failure names ``what`` and the browser console."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)
    except TimeoutException:
        console = "\n".join(str(entry) for entry in driver.get_log("browser"))
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}; browser console:\n{console}"
        ) from None


def screenshot(driver: Any, name: str) -> Path:
    """Save a PNG of the page under test-artifacts/review-pages/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), f"screenshot {path} not written"
    return path


def severe_console_errors(driver: Any) -> list[str]:
    """Browser console entries of level SEVERE (script errors, failed loads) since the last call."""
    return [str(entry["message"]) for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def set_viewport(driver: Any, width: int, height: int) -> None:
    """Make the page's viewport exactly ``width`` x ``height`` CSS pixels (a panel PC's screen)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def reset_viewport(driver: Any) -> None:
    """Back to the window's own size."""
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def requested_urls(driver: Any) -> list[str]:
    """URLs of the network requests the browser made since the last call (needs ``network_log``)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(str(message["params"]["request"]["url"]))
    return urls
