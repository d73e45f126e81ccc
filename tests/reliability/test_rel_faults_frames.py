"""Faults at the camera end: corrupt, zero-byte and wrong-size frames; a camera that drops and returns."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from prometheus_client import generate_latest
from rel_helpers import BlankDetector, MjpegCamera, fast_settings, metric_value, stored_inspections

from linecheck.config import load_lines
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.frame_source import SourceContext
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.sources.folder import ImageFolderSource
from linecheck.kinds import Kind
from linecheck.serving.api.testing import create_key

ROOT = Path(__file__).resolve().parents[2]
LINES = load_lines(ROOT / "configs" / "lines")


def _png(shape: tuple[int, ...], seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    return cv2.imencode(".png", image)[1].tobytes()


#: file name -> (bytes, decodable)
FILES: dict[str, tuple[bytes, bool]] = {
    "00_good.png": (_png((640, 640, 3), 0), True),
    "01_zero_bytes.png": (b"", False),
    "02_garbage.png": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, False),
    "03_truncated.jpg": (
        cv2.imencode(".jpg", np.full((640, 640, 3), 90, np.uint8))[1].tobytes()[:300],
        False,
    ),
    "04_tiny.png": (_png((9, 17, 3), 4), True),
    "05_wide.png": (_png((120, 1900, 3), 5), True),
    "06_gray.png": (_png((640, 640), 6), True),
    "07_not_an_image.png": (b"hello, I am text", False),
    "08_good.png": (_png((640, 640, 3), 8), True),
}


def _service(line_id: str, uri: str, base: str, key: str, workdir: Path, detector: BlankDetector):
    return InspectorService(
        [LINES[line_id]],
        detectors={LINES[line_id].kind: lambda: detector},
        settings=fast_settings(workdir),
        client=ApiClient(base, key),
        sources=[SourceSpec(line_id=line_id, station=LINES[line_id].cameras[0].station, uri=uri)],
    )


def _run_to_end(svc: InspectorService, *, sources_s: float = 30) -> tuple[dict, str]:
    """Run the inspector until its sources end and every result is delivered; its status and metrics."""
    svc.start()
    try:
        assert svc.wait_sources(sources_s) and svc.drain(30) and svc.wait_delivered(30)
        return svc.status(), generate_latest(svc.metrics.registry).decode()
    finally:
        svc.stop()


def test_bad_frames_in_a_folder_are_skipped_and_counted_good_and_odd_sized_ones_recorded(
    api_server, keys, db_url, tmp_path: Path
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for name, (data, _ok) in FILES.items():
        (folder / name).write_bytes(data)
    decodable = sorted(n for n, (_d, ok) in FILES.items() if ok)
    key = create_key(db_url, "line", "bearing-01")
    detector = BlankDetector(Kind.BEARING)
    with api_server() as base:
        svc = _service("bearing-01", str(folder), base, key, tmp_path / "inspector", detector)
        status, scrape = _run_to_end(svc)
        stored = stored_inspections(base, keys["viewer"], line_id="bearing-01")
    assert status["frames_in"] == len(decodable) == len(stored)
    undecodable = len(FILES) - len(decodable)
    assert status["lines"]["bearing-01"]["unreadable_files"] == undecodable
    assert (
        metric_value(
            scrape, "linecheck_inspector_source_unreadable_files_total", line="bearing-01", station="face"
        )
        == undecodable
    )
    assert sorted((s["image_height"], s["image_width"]) for s in stored) == sorted(
        {"00": (640, 640), "04": (9, 17), "05": (120, 1900), "06": (640, 640), "08": (640, 640)}.values()
    )
    assert all(s["verdict"] in ("pass", "not_inspected") for s in stored)
    # the source itself names every file it could not decode
    source = ImageFolderSource(str(folder), SourceContext(line=LINES["bearing-01"], station="face"))
    with source:
        frames = list(source)
    assert [Path(f.meta["file"]).name for f in frames] == decodable
    assert sorted(p.name for p in source.unreadable) == sorted(n for n, (_d, ok) in FILES.items() if not ok)


def test_camera_disconnect_reconnects_and_every_frame_is_recorded_once(
    api_server, keys, db_url, tmp_path: Path
) -> None:
    camera = MjpegCamera()
    port = camera.port
    key = create_key(db_url, "line", "pv-01")
    detector = BlankDetector(Kind.PV)
    replugged: list[MjpegCamera] = []
    uri = f"http://127.0.0.1:{port}/video.mjpg"
    with api_server() as base:
        svc = _service("pv-01", uri, base, key, tmp_path / "inspector", detector)
        svc.start()
        try:
            deadline = time.monotonic() + 20
            while detector.frames < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            camera.unplug()
            before = detector.frames
            time.sleep(1.0)  # the camera is gone for a second
            assert detector.frames - before <= 2  # nothing (but what was in flight) arrives
            replugged.append(MjpegCamera(port))
            while detector.frames < before + 15 and time.monotonic() < deadline + 10:
                time.sleep(0.05)
            assert svc.drain(30) and svc.wait_delivered(30)
            status = svc.status()
        finally:
            camera.unplug()
            for cam in replugged:
                cam.unplug()
            with contextlib.suppress(Exception):
                svc.stop()
        stored = stored_inspections(base, keys["viewer"], line_id="pv-01")
    assert detector.frames >= before + 15  # frames flow again after the reconnect
    assert status["frames_in"] == len(stored) == len({s["id"] for s in stored})
    seqs = sorted(s["frame_seq"] for s in stored)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # numbering continues across the drop
    assert threading.active_count() < 200


def test_a_hot_folder_filled_while_the_line_runs_records_every_good_frame_once(
    api_server, keys, db_url, tmp_path: Path, monkeypatch
) -> None:
    """Frames saved one by one (the bad ones too) into a watch:// folder during the run."""
    from linecheck.inspect.sources import watch

    monkeypatch.setattr(watch, "EMPTY_GRACE_S", 0.5)  # the zero-byte file is set aside in the test's time
    folder = tmp_path / "hot"
    folder.mkdir()
    decodable = sorted(n for n, (_d, ok) in FILES.items() if ok)
    key = create_key(db_url, "line", "bearing-01")

    def camera() -> None:
        for name, (data, _ok) in FILES.items():
            time.sleep(0.1)
            (folder / name).write_bytes(data)

    with api_server() as base:
        uri = f"watch://{folder}?settle=0.2&poll=0.05&idle=2"
        svc = _service("bearing-01", uri, base, key, tmp_path / "inspector", BlankDetector(Kind.BEARING))
        writer = threading.Thread(target=camera)
        writer.start()
        try:
            status, scrape = _run_to_end(svc, sources_s=60)
        finally:
            writer.join()
        stored = stored_inspections(base, keys["viewer"], line_id="bearing-01")
    assert status["frames_in"] == len(decodable) == len(stored)
    undecodable = sorted(n for n, (_d, ok) in FILES.items() if not ok)
    assert status["lines"]["bearing-01"]["unreadable_files"] == len(undecodable)
    assert status["lines"]["bearing-01"]["waiting_files"] == 0
    labels = {"line": "bearing-01", "station": "face"}
    assert metric_value(scrape, "linecheck_inspector_source_unreadable_files_total", **labels) == len(
        undecodable
    )
    assert 'linecheck_inspector_source_waiting_files{line="bearing-01",station="face"} 0.0' in scrape
    assert sorted(p.name for p in (folder / "done").iterdir()) == decodable
    assert sorted(p.name for p in (folder / "unreadable").iterdir()) == undecodable
    assert [p.name for p in folder.iterdir() if p.is_file()] == []
