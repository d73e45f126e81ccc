"""Frame sources: URI dispatch, folders, video files, a real MJPEG stream that drops, the synthetic line."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from linecheck.config import LineConfig
from linecheck.datasets.synth.camera import SyntheticSource
from linecheck.errors import FrameSourceError
from linecheck.inspect.code_reader import decode_texts
from linecheck.inspect.frame_source import FrameSource, SourceContext, open_source, register_scheme
from linecheck.inspect.sources.capture import CaptureSource
from linecheck.inspect.sources.folder import ImageFolderSource


def ctx(line: LineConfig, **kw: object) -> SourceContext:
    return SourceContext(line=line, station=line.cameras[0].station, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("", "expected synth://"),
        ("ftp://cam/1", "unknown scheme 'ftp'"),
        ("/no/such/thing.txt", "not a folder of images nor a video file"),
        ("synth://bearing?seed=1", "does not match line"),
        ("synth://glass", "kind"),
        ("synth://pv?seed=x", "seed='x' is not an integer"),
        ("synth://pv?rate=-1", "rate=-1 must be a finite number >= 0"),
        ("synth://pv?rate=nan", "rate=nan must be a finite number >= 0"),
        ("synth://pv?rate=fast", "rate='fast' is not a number of frames per second"),
        ("synth://pv?seed=", "seed='' is not an integer"),
        ("synth://pv?units=-3", "units=-3 must be >= 0"),
        ("synth://pv?colour=red", "unknown parameter(s) ['colour']"),
        ("usb:front", "expected usb:<camera index>"),
        ("watch://", "expected watch:///path/to/folder"),
        ("watch:///tmp?done=archive", "done='archive'; expected one of ['move', 'delete', 'keep']"),
        ("watch:///tmp?settle=-1", "settle=-1 must be a finite number >= 0"),
        ("watch:///tmp?poll=0", "poll=0 must be a finite number > 0"),
        ("watch:///tmp?idle=soon", "idle='soon' is not a number of seconds"),
        ("watch:///tmp?settle=inf", "settle=inf must be a finite number >= 0"),
        ("watch:///tmp?poll=", "poll='' is not a number of seconds"),
        ("watch:///tmp?colour=red", "unknown parameter(s) ['colour']"),
        ("watch:///tmp?code=barcode", "code='barcode'; expected code=name"),
    ],
)
def test_bad_source_uri_names_the_problem(lines: dict[str, LineConfig], uri: str, needle: str) -> None:
    with pytest.raises(FrameSourceError) as info:
        open_source(uri, ctx(lines["pv-01"]))
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("uri", "cls"),
    [
        ("synth://pv?seed=2&rate=0", SyntheticSource),
        ("synth://", SyntheticSource),
        ("rtsp://10.0.0.5/stream1", CaptureSource),
        ("http://cam.local/video.mjpg", CaptureSource),
        ("usb:0", CaptureSource),
        ("{tmp}/clip.mp4", CaptureSource),
        ("{tmp}", ImageFolderSource),
        ("file://{tmp}", ImageFolderSource),
    ],
)
def test_uri_dispatch(lines: dict[str, LineConfig], tmp_path: Path, uri: str, cls: type) -> None:
    source = open_source(uri.format(tmp=tmp_path), ctx(lines["pv-01"]))
    assert type(source) is cls


def test_registered_scheme_is_the_extension_point(lines: dict[str, LineConfig]) -> None:
    class Dummy(CaptureSource):
        pass

    register_scheme("gigetest", lambda uri, c: Dummy(uri, c))
    assert isinstance(open_source("gigetest://cam-serial-123", ctx(lines["pv-01"])), Dummy)


def test_folder_source_reads_images_in_order_and_reports_bad_files(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), np.full((24, 32, 3), i * 40, np.uint8))
    (tmp_path / "f3.png").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "._f0.png").write_bytes(b"macOS resource fork")  # hidden: not a frame, not "unreadable"
    (tmp_path / "sub.png").mkdir()  # a folder named like an image
    with open_source(str(tmp_path), ctx(lines["pv-01"])) as source:
        frames = list(source)
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 40, 80]
    assert [f.seq for f in frames] == [0, 1, 2]
    assert all(f.line_id == "pv-01" and f.station == "el" for f in frames)
    assert isinstance(source, ImageFolderSource) and [p.name for p in source.unreadable] == ["f3.png"]


def test_folder_source_reads_16_bit_frames_with_the_cameras_bit_depth(
    lines: dict[str, LineConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    row = np.linspace(0, 4095, 64).round().astype(np.uint16)  # a 12-bit camera's frame, stored in 16 bits
    cv2.imwrite(str(tmp_path / "a.png"), np.broadcast_to(row, (8, 64)).copy())
    cv2.imwrite(str(tmp_path / "b.tif"), np.zeros((8, 64, 3), np.float32))  # float pixels: not a frame
    line = lines["pv-01"]
    with open_source(str(tmp_path), ctx(line)) as plain:
        (dim,) = list(plain)
    assert isinstance(plain, ImageFolderSource) and dim.image.max() == 15  # read from 16 bits: nearly black
    assert plain.depth_warning is not None and "e.g. 12" in plain.depth_warning
    assert "a.png" in plain.depth_warning and "a.png" in caplog.text
    assert [p.name for p in plain.unreadable] == ["b.tif"] and "float32" in caplog.text
    cameras = [line.cameras[0].model_copy(update={"bit_depth": 12})]
    twelve = line.model_copy(update={"cameras": cameras})
    with open_source(str(tmp_path), ctx(twelve)) as source:
        (frame,) = list(source)
    assert frame.image.shape == (8, 64, 3) and frame.image.max() == 255 and frame.image.min() == 0
    assert isinstance(source, ImageFolderSource) and source.depth_warning is None


def test_camera_bit_depth_is_validated_naming_the_field(lines: dict[str, LineConfig]) -> None:
    data = lines["pv-01"].model_dump()
    data["cameras"][0]["bit_depth"] = 20
    with pytest.raises(ValueError, match=r"cameras\.0\.bit_depth"):
        LineConfig.model_validate(data)


def test_empty_folder_is_an_error(lines: dict[str, LineConfig], tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="no images"):
        open_source(str(tmp_path), ctx(lines["pv-01"])).open()


def _write_video(path: Path, n: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()


def test_video_file_source_reads_to_the_end(lines: dict[str, LineConfig], tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path, 6)
    with open_source(str(path), ctx(lines["pv-01"])) as source:
        frames = list(source)
    assert len(frames) == 6
    assert [round(float(f.image.mean()) / 20) for f in frames] == [0, 1, 2, 3, 4, 5]
    assert frames[0].image.shape == (48, 64, 3)


def test_missing_video_file_fails_without_retrying(lines: dict[str, LineConfig], tmp_path: Path) -> None:
    source = open_source(str(tmp_path / "gone.avi"), ctx(lines["pv-01"], reconnect_min_s=5.0))
    started = time.monotonic()
    with pytest.raises(FrameSourceError, match=r"cannot open after 1 attempt"):
        source.open()
    assert time.monotonic() - started < 2.0


class MjpegCamera:
    """A real HTTP MJPEG camera on localhost that can be unplugged and plugged back."""

    def __init__(self, port: int = 0) -> None:
        self.online = threading.Event()
        self.online.set()
        self.sent = 0
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                while camera.online.is_set():
                    value = camera.sent % 250
                    _ok, buf = cv2.imencode(".jpg", np.full((48, 64, 3), value, np.uint8))
                    part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(buf)
                    try:
                        self.wfile.write(part + buf.tobytes() + b"\r\n")
                        self.wfile.flush()
                    except OSError:
                        return
                    camera.sent += 1
                    time.sleep(0.02)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def unplug(self) -> None:
        self.online.clear()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def camera() -> Iterator[MjpegCamera]:
    cam = MjpegCamera()
    yield cam
    if cam.online.is_set():
        cam.unplug()


def test_stream_reconnects_with_backoff_after_a_drop(
    lines: dict[str, LineConfig], camera: MjpegCamera
) -> None:
    uri = f"http://127.0.0.1:{camera.port}/video.mjpg"
    source = open_source(
        uri, ctx(lines["pv-01"], open_timeout_s=1.0, read_timeout_s=1.0, reconnect_min_s=0.2)
    )
    assert isinstance(source, CaptureSource) and source.live
    source.open()
    before = [source.read() for _ in range(5)]
    assert all(f is not None for f in before)
    port = camera.port
    camera.unplug()

    replugged: list[MjpegCamera] = []

    def replug() -> None:
        time.sleep(1.0)
        replugged.append(MjpegCamera(port))

    threading.Thread(target=replug, daemon=True).start()
    frames = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (replugged and replugged[0].sent > 5 and len(frames) > 60):
        frame = source.read()
        assert frame is not None
        frames.append(frame)
    source.close()
    replugged[0].unplug()
    assert source.reconnects >= 1
    assert [f.seq for f in frames] == list(range(5, 5 + len(frames)))  # numbering continues across the drop
    assert source.last_error is not None


def test_dead_stream_open_times_out_instead_of_hanging(lines: dict[str, LineConfig]) -> None:
    silent = socket.socket()  # accepts the connection, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}/video.mjpg"
        source = open_source(
            uri, ctx(lines["pv-01"], open_timeout_s=0.5, reconnect_min_s=0.1, max_reconnects=1)
        )
        started = time.monotonic()
        with pytest.raises(FrameSourceError, match="cannot open after 2 attempt"):
            source.open()
        assert time.monotonic() - started < 5.0
    finally:
        silent.close()


def test_interrupt_stops_a_reconnect_loop(lines: dict[str, LineConfig]) -> None:
    source = open_source("http://127.0.0.1:1/video.mjpg", ctx(lines["pv-01"], reconnect_min_s=30.0))
    threading.Timer(0.3, source.interrupt).start()
    started = time.monotonic()
    with pytest.raises(FrameSourceError, match="interrupted"):
        source.open()
    assert time.monotonic() - started < 5.0


def test_synthetic_units_ground_truth_and_trigger(lines: dict[str, LineConfig]) -> None:
    textile = lines["textile-01"]
    n_frames = round(textile.options.roll_length_m / textile.options.frame_length_m)
    with open_source("synth://textile?seed=4&units=2&rate=0", ctx(textile)) as source:
        frames = list(source)
    assert len(frames) == 2 * n_frames
    assert [f.trigger_code for f in frames] == ["RL0000000001"] * n_frames + ["RL0000000002"] * n_frames
    assert [f.meta["roll_offset_m"] for f in frames[:3]] == [0.0, 0.5, 1.0]
    assert all(f.meta["gt_xyxy"].shape[1] == 4 for f in frames)

    with open_source("synth://pv?seed=4&units=3&rate=0&start=40", ctx(lines["pv-01"])) as source:
        modules = list(source)
    assert [m.meta["unit_code"] for m in modules] == ["PV000000000040", "PV000000000041", "PV000000000042"]
    assert all(m.trigger_code is None for m in modules)  # frame-coded: only printed in the image
    assert [decode_texts(m.image) for m in modules] == [[m.meta["unit_code"]] for m in modules]


def test_synthetic_unreadable_smears_every_nth_code(lines: dict[str, LineConfig]) -> None:
    with open_source(
        "synth://bearing?seed=2&units=4&rate=0&unreadable=2", ctx(lines["bearing-01"])
    ) as source:
        rings = list(source)
    assert [r.meta["code_smeared"] for r in rings] == [False, True, False, True]
    assert [bool(decode_texts(r.image)) for r in rings] == [True, False, True, False]


def test_synthetic_rate_paces_frames(lines: dict[str, LineConfig]) -> None:
    source: FrameSource = open_source("synth://bearing?seed=1&rate=20&units=6", ctx(lines["bearing-01"]))
    started = time.monotonic()
    with source:
        frames = list(source)
    elapsed = time.monotonic() - started
    assert len(frames) == 6
    assert 0.2 <= elapsed < 3.0  # 6 frames at 20 fps: at least 5 intervals of 50 ms
