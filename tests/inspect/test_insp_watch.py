"""The hot-folder source: frames a camera program saves into a folder, read once settled, oldest first."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from linecheck.config import LineConfig
from linecheck.inspect.code_reader import CodeReader
from linecheck.inspect.frame_source import SourceContext, open_source
from linecheck.inspect.sources.watch import WatchedFolderSource, code_in_name
from linecheck.messages import CodeStatus


def png(value: int, size: tuple[int, int] = (24, 32)) -> bytes:
    ok, data = cv2.imencode(".png", np.full((*size, 3), value, np.uint8))
    assert ok
    return data.tobytes()


def watch(folder: Path, line: LineConfig, query: str = "") -> WatchedFolderSource:
    source = open_source(
        f"watch://{folder}?poll=0.02&idle=0.6{query}", SourceContext(line=line, station="el")
    )
    assert isinstance(source, WatchedFolderSource)
    return source


def save(path: Path, data: bytes, *, at: float | None = None) -> None:
    """Write ``data`` as a camera program would (in place), its mtime at ``at`` (epoch s) when given."""
    path.write_bytes(data)
    if at is not None:
        os.utime(path, (at, at))


def test_frames_saved_while_it_runs_are_read_oldest_first_and_moved_to_done(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    def camera() -> None:
        for i, value in enumerate((10, 20, 30)):
            time.sleep(0.1)
            save(tmp_path / f"z-{i}.png", png(value))  # names sort backwards: order is by time

    with watch(tmp_path, lines["pv-01"], "&settle=0.05&idle=0") as source:
        writer = threading.Thread(target=camera)
        writer.start()
        frames = [source.read() for _ in range(3)]
        writer.join()
    assert all(f is not None for f in frames)
    frames = [f for f in frames if f is not None]
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert [f.seq for f in frames] == [0, 1, 2]
    assert [Path(f.meta["file"]) for f in frames] == [tmp_path / "done" / f"z-{i}.png" for i in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done", "unreadable"]


def test_a_frame_still_being_written_is_not_read_half_way(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    data = png(77, (200, 300))
    half = len(data) // 2

    def camera() -> None:
        with (tmp_path / "slow.png").open("wb") as handle:
            handle.write(data[:half])
            handle.flush()
            time.sleep(0.15)  # a slow network share: well under `settle`
            handle.write(data[half:])

    with watch(tmp_path, lines["pv-01"], "&settle=1") as source:
        writer = threading.Thread(target=camera)
        writer.start()
        frame = source.read()
        writer.join()
        assert frame is not None and frame.image.shape == (200, 300, 3) and int(frame.image.max()) == 77
        assert source.unreadable == [] and source.skipped == 0


def test_frames_waiting_at_start_are_inspected_first_and_corrupt_ones_kept_aside(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    now = time.time()
    save(tmp_path / "b.png", png(2), at=now - 20)  # saved while the inspector was down
    save(tmp_path / "a.png", png(1), at=now - 10)
    save(tmp_path / "c.png", b"\x89PNG broken", at=now - 15)
    (tmp_path / "notes.txt").write_text("not an image")
    with watch(tmp_path, lines["pv-01"], "&settle=0") as source:
        frames = [source.read()]
        assert source.waiting == 2  # the other two (one of them corrupt) still in the folder
        frames += list(source)
        assert source.waiting == 0
    assert [int(f.image[0, 0, 0]) for f in frames if f is not None] == [2, 1]
    assert [p.name for p in source.unreadable] == ["c.png"] and source.skipped == 1
    assert (tmp_path / "unreadable" / "c.png").read_bytes() == b"\x89PNG broken"  # kept for a person
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["a.png", "b.png"]
    assert (tmp_path / "notes.txt").exists()


def test_a_camera_that_reuses_its_file_name_keeps_every_frame_in_done(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    with watch(tmp_path, lines["pv-01"], "&settle=0") as source:
        values = []
        for value in (3, 4):
            save(tmp_path / "current.png", png(value))
            frame = source.read()
            assert frame is not None
            values.append(int(frame.image[0, 0, 0]))
    assert values == [3, 4]
    kept = sorted((tmp_path / "done").iterdir())
    assert len(kept) == 2 and sorted(int(cv2.imread(str(p))[0, 0, 0]) for p in kept) == [3, 4]


def test_done_delete_and_done_keep(lines: dict[str, LineConfig], tmp_path: Path) -> None:
    gone = tmp_path / "delete"
    gone.mkdir()
    save(gone / "a.png", png(5))
    with watch(gone, lines["pv-01"], "&settle=0&done=delete") as source:
        assert [int(f.image[0, 0, 0]) for f in source] == [5]
    assert sorted(p.name for p in gone.iterdir()) == ["done", "unreadable"]

    kept = tmp_path / "keep"
    kept.mkdir()
    save(kept / "old.png", png(1), at=time.time() - 60)  # there before: not this inspector's
    with watch(kept, lines["pv-01"], "&settle=0&done=keep") as source:
        save(kept / "current.png", png(7))
        first = source.read()
        save(kept / "current.png", png(8), at=time.time() + 5)  # the camera overwrites its one file
        second = source.read()
        assert first is not None and second is not None
        assert (int(first.image[0, 0, 0]), int(second.image[0, 0, 0])) == (7, 8)
        assert source.read() is None  # idle: nothing new
    assert sorted(p.name for p in kept.iterdir()) == ["current.png", "old.png"]


def test_interrupt_ends_a_waiting_read_at_once(lines: dict[str, LineConfig], tmp_path: Path) -> None:
    source = open_source(f"watch://{tmp_path}?poll=0.05", SourceContext(line=lines["pv-01"], station="el"))
    with source:
        threading.Timer(0.2, source.interrupt).start()
        started = time.monotonic()
        assert source.read() is None
        assert time.monotonic() - started < 2


def test_a_missing_folder_is_refused_on_open(lines: dict[str, LineConfig], tmp_path: Path) -> None:
    source = open_source(f"watch://{tmp_path / 'nope'}", SourceContext(line=lines["pv-01"], station="el"))
    with pytest.raises(Exception, match="does not exist"):
        source.open()


@pytest.mark.parametrize(
    ("stem", "code"),
    [
        ("PV000000000123", "PV000000000123"),
        ("EL_PV000000000123_2", "PV000000000123"),
        ("2026-12-01 PV000000000123.el", "PV000000000123"),
        ("xPV000000000123y", "PV000000000123"),
        ("EL_PV123_2", None),
    ],
)
def test_the_unit_code_in_a_file_name(stem: str, code: str | None) -> None:
    assert code_in_name(stem, "^PV[0-9]{12}$") == code


def test_code_name_gives_each_frame_the_serial_in_its_file_name(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    line = lines["pv-01"]
    save(tmp_path / "EL_PV000000000777_1.png", png(9, (64, 64)))
    save(tmp_path / "no-serial.png", png(9, (64, 64)), at=time.time() + 1)
    reader = CodeReader(line)
    with watch(tmp_path, line, "&settle=0&code=name") as source:
        first, second = source.read(), source.read()
    assert first is not None and second is not None
    assert first.trigger_code == "PV000000000777" and second.trigger_code is None
    reading = reader.read(first)
    assert (reading.code, reading.status) == ("PV000000000777", CodeStatus.TRIGGER)
    assert reader.read(second).status == CodeStatus.UNREAD


def test_a_file_taken_by_another_program_is_said_not_counted_unreadable(
    lines: dict[str, LineConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save(tmp_path / "a.png", png(1))
    with watch(tmp_path, lines["pv-01"], "&settle=0") as source:
        decode = source._decode

        def taken_first(path: Path) -> object:
            path.unlink()  # another consumer of the share moves it away just before the read
            return decode(path)

        source._decode = taken_first  # type: ignore[method-assign,assignment]
        assert source.read() is None  # idle: nothing else arrives
    assert (
        source.skipped == 0 and source.unreadable == [] and "went away before it could be read" in caplog.text
    )
