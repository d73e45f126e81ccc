"""The inspector's live status table says what an operator must see: verdicts, and a hot folder's backlog."""

from __future__ import annotations

from rich.console import Console

from linecheck.inspect.status_view import lines_table


def rendered(status: dict) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(lines_table(status))
    return console.export_text()


def test_a_hot_folder_backlog_shows_beside_the_frames() -> None:
    line = {
        "frames_in": 120,
        "verdicts": {"pass": 100, "fail": 15, "not_inspected": 5},
        "codes": {},
        "units": 3,
    }
    status = {"elapsed_s": 60.0, "lines": {"pv-01": {**line, "waiting_files": 7}, "pv-02": line}}
    text = rendered(status)
    row = next(r for r in text.splitlines() if r.startswith("pv-01"))
    assert "120 +7 waiting" in row and " 100 " in row and " 15 " in row
    assert "waiting" not in next(r for r in text.splitlines() if r.startswith("pv-02"))


def test_frames_a_camera_refused_show_with_the_checks_they_failed() -> None:
    cameras = {
        "el": {"last_frame": {"brightness": 1.2}, "frame_checks_failed": {"brightness": 3, "contrast": 3}},
        "side": {"last_frame": {"brightness": 90.0}, "frame_checks_failed": {}},
    }
    line = {"frames_in": 40, "verdicts": {"pass": 30, "not_inspected": 10}, "codes": {}, "units": 40}
    text = rendered({"elapsed_s": 10.0, "lines": {"pv-01": {**line, "cameras": cameras}, "pv-02": line}})
    row = next(r for r in text.splitlines() if r.startswith("pv-01"))
    assert "10 (el: brightness, contrast)" in row and "side" not in row
    assert "brightness" not in next(r for r in text.splitlines() if r.startswith("pv-02"))


def test_a_missed_challenge_part_is_what_the_row_shows_first() -> None:
    line = {"frames_in": 4, "verdicts": {"pass": 3, "fail": 1}, "codes": {}, "units": 4}
    parts = {"BR9900000001": {"met": False}, "BR9900000002": {"met": True}}
    text = rendered({"elapsed_s": 10.0, "lines": {"b-1": {**line, "challenge_parts": parts}, "b-2": line}})
    assert "CHALLENGE PART MISSED: BR9900000001" in next(r for r in text.splitlines() if r.startswith("b-1"))
    assert "CHALLENGE" not in next(r for r in text.splitlines() if r.startswith("b-2"))
    ok = rendered(
        {"elapsed_s": 1.0, "lines": {"b-1": {**line, "challenge_parts": {"BR9900000002": {"met": True}}}}}
    )
    assert "1 challenge part(s) met" in ok


def test_the_apis_verification_state_shows_on_the_row() -> None:
    line = {"frames_in": 4, "verdicts": {"pass": 4}, "codes": {}, "units": 4}
    rows = {
        state: rendered({"elapsed_s": 1.0, "lines": {"b-1": {**line, "verification": {"state": state}}}})
        for state in ("failed", "due", "verified", "unknown")
    }
    assert "VERIFICATION FAILED" in rows["failed"] and "verification due" in rows["due"]
    assert " verified" in rows["verified"] and "verif" not in rows["unknown"]


def test_the_product_a_line_is_on_is_shown_beside_it() -> None:
    line = {"frames_in": 4, "verdicts": {"pass": 4}, "codes": {}, "units": 4}
    text = rendered({"elapsed_s": 1.0, "lines": {"pv-01": {**line, "product": "M10-66"}, "pv-02": line}})
    assert "pv-01 M10-66" in text
    assert "pv-02 M10" not in text


def test_a_camera_drifting_from_its_baseline_is_shown_in_yellow() -> None:
    drift = {"brightness": {"baseline": 120.0, "level": 90.0, "change": -0.25, "drifting": True}}
    steady = {"contrast": {"baseline": 30.0, "level": 29.0, "change": -0.033, "drifting": False}}
    line = {"frames_in": 4, "verdicts": {"pass": 4}, "codes": {}, "units": 4}
    cameras = {"el": {"drift": drift}, "vi": {"drift": steady}}
    text = rendered({"elapsed_s": 1.0, "lines": {"pv-01": {**line, "cameras": cameras}}})
    assert "drifting: el brightness -25 %" in text and "contrast" not in text
