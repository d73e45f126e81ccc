"""The inspector measures how far its PC's clock is from the API's (HTTP ``Date``) and says when it is off."""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from insp_helpers import LiveApi, bearing_result

from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.clock import ClockWatch, describe, offset_from_date
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.sender import SenderWorker
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.status_view import footer

STAMPED = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
HEADER = format_datetime(STAMPED, usegmt=True)  # "Tue, 01 Dec 2026 10:00:00 GMT"


@pytest.mark.parametrize(
    ("ours", "expected"),
    [
        (STAMPED.timestamp(), 0.5),  # in step: only the header's truncation to the second
        (STAMPED.timestamp() - 3600, 3600.5),  # an hour behind
        (STAMPED.timestamp() + 90, -89.5),  # a minute and a half ahead
    ],
)
def test_the_offset_is_the_api_s_time_minus_ours_at_mid_request(ours: float, expected: float) -> None:
    assert offset_from_date(HEADER, ours - 0.2, ours + 0.2) == pytest.approx(expected)


@pytest.mark.parametrize("header", [None, "", "yesterday", "Tue, 01 Dec 2026 10:00:00"])
def test_a_missing_or_unusable_date_measures_nothing(header: str | None) -> None:
    assert offset_from_date(header, 0.0, 1.0) is None


def test_the_watch_logs_once_when_the_clock_goes_off_and_once_when_it_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[float] = []
    watch = ClockWatch(10.0, seen.append)
    with caplog.at_level(logging.INFO, logger="linecheck.inspect.clock"):
        for offset in (0.4, -3600.2, -3599.8, float("nan"), None, 1.0):
            watch.update(offset)
            if offset == -3599.8:
                assert watch.status() == {"offset_s": -3599.8, "skewed": True, "warn_s": 10.0}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [
        "this PC's clock is 3600 s ahead of the API's"
    ]
    assert len([r for r in caplog.records if "back within 10 s" in r.getMessage()]) == 1
    assert seen == [0.4, -3600.2, -3599.8, 1.0]  # nothing measured: the gauge keeps its value
    assert watch.status() == {"offset_s": 1.0, "skewed": False, "warn_s": 10.0}


def _send_one(api: LiveApi, settings: InspectorSettings, outbox_path: Path, behind_s: float) -> SenderWorker:
    """One row sent by a sender whose PC clock is ``behind_s`` seconds behind (a real API answers)."""
    outbox = Outbox(outbox_path)
    outbox.add(bearing_result(seq=1))
    client = ApiClient(api.url, api.line_key, wall_clock=lambda: time.time() - behind_s)
    worker = SenderWorker(
        outbox=outbox, client=client, settings=settings, metrics=InspectorMetrics(), stop=threading.Event()
    )
    assert worker.send_once() == 1 and outbox.counts()["sent"] == 1
    return worker


def test_a_pc_an_hour_behind_is_measured_shown_and_warned_about(
    live_api: LiveApi, settings: InspectorSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="linecheck.inspect.clock"):
        skewed = _send_one(live_api, settings, tmp_path / "a.sqlite", behind_s=3600)
    clock = skewed.clock.status()
    # the Date header is good to a second or two (truncated, and uvicorn renews it once a second)
    assert clock["skewed"] and clock["offset_s"] == pytest.approx(3600, abs=4)
    gauge = skewed.metrics.registry.get_sample_value("linecheck_inspector_clock_offset_seconds")
    assert gauge == pytest.approx(3600, abs=4)
    [warned] = [r.getMessage() for r in caplog.records if r.name == "linecheck.inspect.clock"]  # once
    said = re.search(r"this PC's clock is (\d+) s behind the API's: inspection times", warned)
    assert said is not None and abs(int(said.group(1)) - 3600) <= 4, warned
    status = {"outbox": {}, "sender": {"online": True, "clock": clock}}
    assert f"clock {describe(clock['offset_s'])}: fix its time service" in footer(status).plain

    in_step = _send_one(live_api, settings, tmp_path / "b.sqlite", behind_s=0)
    assert not in_step.clock.skewed and abs(in_step.clock.offset_s or 99) < 4
    assert (
        "clock"
        not in footer({"outbox": {}, "sender": {"online": True, "clock": in_step.clock.status()}}).plain
    )


def test_the_warning_threshold_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINECHECK_INSPECTOR_CLOCK_SKEW_WARN_S", "120")
    assert InspectorSettings().clock_skew_warn_s == 120.0
