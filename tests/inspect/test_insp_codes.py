"""Unit identity: DataMatrix / QR from the frame, triggers (source, file, HTTP hook), code_unread."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from linecheck.config import LineConfig
from linecheck.datasets.synth import render_code
from linecheck.errors import InvalidFieldError
from linecheck.inspect.code_reader import CodeReader
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.metrics_server import MetricsServer
from linecheck.inspect.triggers import FileTrigger, TriggerBoard
from linecheck.messages import CodeStatus, Frame


def frame_with(
    line: LineConfig,
    text: str | None,
    *,
    symbology: str = "datamatrix",
    at: tuple[int, int] = (420, 430),
    size: int = 120,
    trigger: str | None = None,
    meta: dict | None = None,
) -> Frame:
    image = np.full((640, 640, 3), 90, np.uint8)
    cv2.circle(image, (320, 320), 200, (150, 150, 150), -1)  # something that is not a code
    if text is not None:
        symbol = render_code(text, symbology, size)  # type: ignore[arg-type]
        x, y = at
        image[y : y + size, x : x + size] = symbol[..., None]
    return Frame(
        line_id=line.id,
        station="s",
        seq=1,
        captured_at=datetime.now(UTC),
        image=image,
        trigger_code=trigger,
        meta=meta or {},
    )


@pytest.mark.parametrize(
    ("line_id", "text", "symbology", "status", "code"),
    [
        ("bearing-01", "BR0000000042", "datamatrix", CodeStatus.READ, "BR0000000042"),
        ("pv-01", "PV000000000007", "qr", CodeStatus.READ, "PV000000000007"),
        ("pv-01", "PV000000000008", "datamatrix", CodeStatus.READ, "PV000000000008"),
        ("bearing-01", "BR42", "datamatrix", CodeStatus.UNREAD, None),  # does not match the code pattern
        ("bearing-01", "PV000000000007", "qr", CodeStatus.UNREAD, None),  # another line's code
        ("bearing-01", None, "datamatrix", CodeStatus.UNREAD, None),  # no code at all
    ],
)
def test_code_from_frame(
    lines: dict[str, LineConfig],
    line_id: str,
    text: str | None,
    symbology: str,
    status: CodeStatus,
    code: str | None,
) -> None:
    reading = CodeReader(lines[line_id]).read(frame_with(lines[line_id], text, symbology=symbology))
    assert (reading.status, reading.code) == (status, code)
    if status is CodeStatus.UNREAD:
        assert reading.note
        if text is not None:
            assert text in reading.note and "code_pattern" in reading.note


def test_code_region_is_tried_first(lines: dict[str, LineConfig]) -> None:
    line = lines["bearing-01"]
    frame = frame_with(line, "BR0000000001", at=(10, 10), meta={"code_roi": (0, 0, 200, 200)})
    reader = CodeReader(line, roi=(400, 400, 640, 640))  # the frame's own ROI wins over the reader's
    assert reader.read(frame).code == "BR0000000001"
    # a reader ROI that misses the code still falls back to the whole frame
    assert CodeReader(line, roi=(400, 400, 640, 640)).read(
        frame_with(line, "BR0000000002", at=(10, 10))
    ).code == ("BR0000000002")


def test_erased_code_is_code_unread_not_an_error(lines: dict[str, LineConfig]) -> None:
    line = lines["bearing-01"]
    frame = frame_with(line, "BR0000000003")
    image = frame.image.copy()
    image[400:570, 400:570] = cv2.GaussianBlur(image[400:570, 400:570], (0, 0), 9)
    blurred = Frame(line_id=line.id, station="s", seq=2, captured_at=frame.captured_at, image=image)
    reading = CodeReader(line).read(blurred)
    assert reading.status is CodeStatus.UNREAD and reading.code is None


@pytest.mark.parametrize(
    ("trigger", "board_code", "status", "code"),
    [
        ("RL0000000005", None, CodeStatus.TRIGGER, "RL0000000005"),
        (None, "RL0000000006", CodeStatus.TRIGGER, "RL0000000006"),
        ("RL0000000005", "RL0000000006", CodeStatus.TRIGGER, "RL0000000005"),  # the frame's own trigger wins
        ("garbage", None, CodeStatus.UNREAD, None),
        (None, None, CodeStatus.UNREAD, None),
    ],
)
def test_trigger_coded_line(
    lines: dict[str, LineConfig],
    trigger: str | None,
    board_code: str | None,
    status: CodeStatus,
    code: str | None,
) -> None:
    line = lines["textile-01"]
    board = TriggerBoard()
    if board_code:
        board.set(line.id, board_code)
    reading = CodeReader(line, board=board).read(frame_with(line, None, trigger=trigger))
    assert (reading.status, reading.code) == (status, code)


def test_board_validates_line_and_pattern(lines: dict[str, LineConfig]) -> None:
    board = TriggerBoard()
    board.expect("textile-01", lines["textile-01"].code_pattern)
    with pytest.raises(InvalidFieldError) as info:
        board.set("textile-01", "BR0000000001")
    assert info.value.field == "code"
    with pytest.raises(InvalidFieldError) as info:
        board.set("loom-9", "RL0000000001")
    assert info.value.field == "line_id"
    board.set("textile-01", " RL0000000001\n")
    assert board.current("textile-01") == "RL0000000001"


def test_file_trigger_follows_the_file(lines: dict[str, LineConfig], tmp_path: Path) -> None:
    board = TriggerBoard()
    board.expect("textile-01", lines["textile-01"].code_pattern)
    path = tmp_path / "current_roll.txt"
    trigger = FileTrigger(board, "textile-01", path, poll_s=0.02)
    assert trigger.poll() is None  # no file yet
    path.write_text("RL0000000011\n")
    assert trigger.poll() == "RL0000000011"
    trigger.start()
    try:
        time.sleep(0.05)
        path.write_text("not-a-roll\n")  # bad content is ignored, the previous code stays
        time.sleep(0.1)
        assert board.current("textile-01") == "RL0000000011"
        path.write_text("RL0000000012\n")
        assert _board_reaches(board, "textile-01", "RL0000000012")
    finally:
        trigger.stop()


def _board_reaches(board: TriggerBoard, line_id: str, code: str, timeout_s: float = 3.0) -> bool:
    """Whether the board's current code of ``line_id`` becomes ``code`` within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while board.current(line_id) != code and time.monotonic() < deadline:
        time.sleep(0.02)
    return board.current(line_id) == code


def test_file_trigger_reads_what_windows_tools_write_and_never_stops_polling(
    lines: dict[str, LineConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    board = TriggerBoard()
    board.expect("textile-01", lines["textile-01"].code_pattern)
    path = tmp_path / "current_roll.txt"
    trigger = FileTrigger(board, "textile-01", path, poll_s=0.02)
    path.write_bytes("RL0000000021\r\n".encode("utf-16"))  # PowerShell 5: "RL..." > current_roll.txt
    assert trigger.poll() == "RL0000000021"
    path.write_bytes(b"\xef\xbb\xbfRL0000000022\r\n")  # Notepad's "UTF-8 with BOM"
    assert trigger.poll() == "RL0000000022"
    path.write_bytes(b"RL00\xff\xfe00000023\n")  # not text: logged, the code stays
    assert trigger.poll() is None and trigger.unreadable == 1
    assert board.current("textile-01") == "RL0000000022" and "not UTF-8 text at line 1" in caplog.text
    path.unlink()
    path.mkdir()  # cannot be read (as a file locked by its writer): tried again, nothing lost
    assert trigger.poll() is None and "cannot read it now" in caplog.text
    path.rmdir()
    trigger.start()
    try:
        path.write_text("RL0000000024\n")
        assert _board_reaches(board, "textile-01", "RL0000000024")
    finally:
        trigger.stop()


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"line_id": "textile-01", "code": "RL0000000077"}, 200, None),
        ({"code": "RL0000000078"}, 200, None),  # one trigger line: line_id may be left out
        ({"line_id": "textile-01", "code": "XX"}, 422, "code"),
        ({"line_id": "nope", "code": "RL0000000079"}, 422, "line_id"),
        ({"line_id": "textile-01"}, 422, "code"),
        ([1, 2], 422, "body"),
    ],
)
def test_http_trigger_hook_and_metrics_endpoint(
    lines: dict[str, LineConfig], body: object, code: int, field: str | None
) -> None:
    board = TriggerBoard()
    board.expect("textile-01", lines["textile-01"].code_pattern)
    metrics = InspectorMetrics()
    metrics.frame_in("textile-01", "cam1")
    server = MetricsServer(metrics.registry, status=lambda: {"ok": True}, board=board)
    server.start()
    try:
        status, answer = _post(server.url + "/trigger", json.dumps(body).encode())
        assert status == code
        if code == 200:
            assert board.current("textile-01") == answer["code"] == body["code"]  # type: ignore[index]
        else:
            assert answer["error"]["field"] == field
        with urllib.request.urlopen(server.url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        assert 'linecheck_inspector_frames_in_total{line="textile-01",station="cam1"} 1.0' in text
        with urllib.request.urlopen(server.url + "/status", timeout=5) as resp:
            assert json.loads(resp.read()) == {"ok": True}
    finally:
        server.stop()
