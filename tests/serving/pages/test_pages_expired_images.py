"""The review and trace pages say "image expired" where the image retention deleted an image (Chromium).

The API (uvicorn on SQLite) gets a frame and a crop; the retention expires them (nothing referred
to them yet), then the inspection holding them arrives: its defect waits in the queue with both
images gone, and the API answers 410 for each. The pages draw a placeholder saying so, never a
broken image, and no script error.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from page_actions import js, no_script_errors, one, open_page
from review_browser import wait_for
from review_seed import Stack, running_stack

from linecheck.serving.api.services.retention import RetentionPolicy, prune_images
from linecheck.serving.store.db import Database
from linecheck.serving.store.images import FileImageStore

pytestmark = pytest.mark.browser
CODE = "RL0000000777"


@pytest.fixture(scope="module")
def expired(pages_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The API with one pending defect whose frame and crop the image retention deleted."""
    folder = tmp_path_factory.mktemp("expired-images")
    with running_stack(pages_sqlite_template, folder, seed_data=False) as stack:

        def upload(value: int) -> str:
            data = cv2.imencode(".png", np.full((40, 60, 3), value, np.uint8))[1].tobytes()
            answer = httpx.post(
                f"{stack.base_url}/v1/images",
                content=data,
                headers={**stack.headers("textile"), "Content-Type": "image/png"},
            )
            assert answer.status_code == 201, answer.text
            return str(answer.json()["ref"])

        frame, crop = upload(90), upload(160)
        db = Database.from_url(stack.db_url)
        try:
            policy = RetentionPolicy(pass_days=30, defect_days=90)
            later = datetime.now(UTC) + timedelta(days=91)
            assert prune_images(db, FileImageStore(folder / "images"), policy, now=later).expired == 2
        finally:
            db.dispose()
        body = {
            "id": "expired0images01", "line_id": "textile-01", "station": "cam1", "code": CODE,
            "code_status": "trigger", "captured_at": (datetime.now(UTC) - timedelta(days=100)).isoformat(),
            "model_name": "textile", "model_version": "1", "verdict": "fail", "image_width": 600,
            "image_height": 400, "image_ref": frame,
            "defects": [{"class_name": "stain", "confidence": 0.8, "bbox": [100, 100, 160, 150],
                         "crop_ref": crop,
                         "location": {"along_m": 1.0, "across_m": 0.2, "length_m": 0.02, "width_m": 0.02}}],
        }  # fmt: skip
        posted = stack.post("/v1/inspections", "textile", json=body)
        assert posted.status_code == 201, posted.text
        for ref in (frame, crop):
            assert (
                httpx.get(f"{stack.base_url}/v1/images/{ref}", headers=stack.headers("viewer")).status_code
                == 410
            )
        yield stack


def _expired_canvas(browser: Any, selector: str) -> bool:
    return bool(
        js(
            browser,
            "const c = document.querySelector(arguments[0]); return !!c && c.dataset.expired === 'true'",
            selector,
        )
    )


def test_the_review_page_says_the_frame_and_crop_expired(browser: Any, expired: Stack) -> None:
    item = expired.get("/v1/review/queue")["items"][0]
    assert item["image_expired_at"] and item["defect"]["crop_expired_at"]
    open_page(browser, expired, "/review")
    wait_for(browser, lambda b: _expired_canvas(b, "#frame-canvas"), "the frame drawn as expired")
    assert one(browser, "#frame-canvas").get_attribute("data-defect-id") is not None
    wait_for(browser, lambda b: "image expired" in one(b, "#crop-caption").text, "the crop caption")
    assert one(browser, "#crop-canvas").get_attribute("data-origin") == "expired"
    no_script_errors(browser, allow=("410",))


def test_the_trace_page_says_the_frame_expired(browser: Any, expired: Stack) -> None:
    open_page(browser, expired, f"/review/trace?code={CODE}")
    wait_for(browser, lambda b: one(b, "#result").get_attribute("data-code") == CODE, "the trace")
    entry = one(browser, ".timeline-inspection")
    assert "image expired" in one(browser, ".timeline-inspection .image-expired").text
    entry.find_element("xpath", ".//button[text()='frame']").click()
    wait_for(
        browser, lambda b: _expired_canvas(b, ".timeline-inspection canvas"), "the frame drawn as expired"
    )
    no_script_errors(browser, allow=("410",))
