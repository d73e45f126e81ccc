"""Hot-folder source (``watch://``): save-to-frame latency and half-written reads, per ``settle``.

A writer thread saves ``--frames`` grey PNG frames of ``--size`` pixels at ``--rate`` frames/s into a
folder the way a camera program on a network share does: in place, in two writes ``--chunk-ms``
apart. The inspector's source reads the folder with each ``--settle`` value in turn (same frames,
same pacing). Per settle value: the latency from the file's last write to the frame coming out of
``read()`` (p50 / p99 / max ms), the frames read, and ``half_read``: files the source took before
they were complete (undecodable, set aside in ``unreadable/``). ``settle`` 0 shows what the wait is
for; the default (0.5 s) is what a line pays for never reading half a frame.

    .venv/bin/python bench/hot_folder.py                                   # 1024 px EL-like frames
    .venv/bin/python bench/hot_folder.py --size 4096x256 --rate 20          # line-scan strips
    .venv/bin/python bench/hot_folder.py --frames 6 --settle 0,0.2          # smoke run

Last line: one JSON object (frames, size, rate_hz, chunk_ms, poll_s, per_settle: {settle: {read,
half_read, p50_ms, p99_ms, max_ms}}).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import LatencySummary, print_result

from linecheck.config import load_line
from linecheck.inspect.frame_source import SourceContext, open_source

ROOT = Path(__file__).resolve().parents[1]


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 16 or int(height) < 16:
        raise argparse.ArgumentTypeError(f"--size={text!r}: expected WIDTHxHEIGHT, each >= 16")
    return int(width), int(height)


def _settles(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--settle={text!r}: expected seconds, e.g. 0,0.2,0.5") from None
    if not values or any(not 0 <= v < 60 for v in values):
        raise argparse.ArgumentTypeError(f"--settle={text!r}: expected seconds in [0, 60)")
    return values


def _positive(kind: type, name: str) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}={text!r}: expected a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name}={text!r}: expected > 0")
        return value

    return parse


def frames_of(count: int, size: tuple[int, int]) -> list[bytes]:
    """``count`` distinct grey PNG frames (noise, so they do not compress to nothing)."""
    rng = np.random.default_rng(0)
    width, height = size
    out = []
    for _ in range(count):
        image = rng.integers(0, 255, (height, width), dtype=np.uint8)
        ok, data = cv2.imencode(".png", image)
        assert ok
        out.append(data.tobytes())
    return out


def run(settle: float, frames: list[bytes], args: argparse.Namespace, line: Any) -> dict[str, Any]:
    """One pass: the writer saves every frame at the rate, the source reads them with ``settle``."""
    with tempfile.TemporaryDirectory(prefix="linecheck-hot-") as folder:
        closed: dict[str, float] = {}
        uri = f"watch://{folder}?settle={settle}&poll={args.poll}&idle={max(2.0, 3 * settle + 1)}"
        source = open_source(uri, SourceContext(line=line, station=line.cameras[0].station))

        def camera() -> None:
            start = time.monotonic()
            for i, data in enumerate(frames):
                time.sleep(max(0.0, start + i / args.rate - time.monotonic()))
                name = f"frame-{i:05d}.png"
                with (Path(folder) / name).open("wb") as handle:
                    half = len(data) // 2
                    handle.write(data[:half])
                    handle.flush()
                    time.sleep(args.chunk_ms / 1000)
                    handle.write(data[half:])
                closed[name] = time.monotonic()

        latencies: list[float] = []
        with source:
            writer = threading.Thread(target=camera, daemon=True)
            writer.start()
            while (frame := source.read()) is not None:
                arrived = time.monotonic()
                name = Path(frame.meta["file"]).name
                latencies.append(arrived - closed.get(name, arrived))
            writer.join()
        summary = LatencySummary.of_seconds(latencies)
        return {
            "read": len(latencies),
            "half_read": source.skipped,
            "p50_ms": summary.p50_ms,
            "p99_ms": summary.p99_ms,
            "max_ms": summary.max_ms,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=_positive(int, "--frames"), default=40)
    parser.add_argument("--size", type=_size, default=(1024, 1024), help="WIDTHxHEIGHT (default 1024x1024)")
    parser.add_argument("--rate", type=_positive(float, "--rate"), default=5.0, help="frames/s saved")
    parser.add_argument("--chunk-ms", type=float, default=30.0, help="pause between a file's two writes")
    parser.add_argument("--poll", type=_positive(float, "--poll"), default=0.05, help="source poll period, s")
    parser.add_argument("--settle", type=_settles, default=[0.0, 0.2, 0.5], help="settle values, s")
    args = parser.parse_args()
    # the source's warnings (a half-written file it could not decode) go with the rest of the output
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(levelname)s %(message)s")
    line = load_line(ROOT / "configs" / "lines" / "pv-01.yaml")
    frames = frames_of(args.frames, args.size)
    per_settle = {}
    for settle in args.settle:
        per_settle[f"{settle:g}"] = result = run(settle, frames, args, line)
        print(f"settle {settle:g} s: {result}", flush=True)
    print_result(
        {
            "frames": args.frames,
            "size": f"{args.size[0]}x{args.size[1]}",
            "rate_hz": args.rate,
            "chunk_ms": args.chunk_ms,
            "poll_s": args.poll,
            "per_settle": per_settle,
        }
    )


if __name__ == "__main__":
    main()
