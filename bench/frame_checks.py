"""Frame checks (``linecheck.frame_checks``): what they cost per frame, and what they refuse.

1. Cost: :func:`measure` (and the CRC-32 of a frozen-camera check) per frame at camera sizes, p50 ms.
2. Real frames (``--root``, default ``../shared/realdata``: NEU-DET steel, ELPV cells, AITEX fabric;
   any folder of images works): how many the default checks refuse (they should refuse none), then
   checks suggested (``linecheck lines check-frames``) on every other image of a set, applied to the
   images not used: false refusals of real frames, and the faults caught when the same frames are
   imaged with the light off (2 % of the level plus noise), out of focus (Gaussian blur, sigma 2 and
   6 px) or repeated (a frozen camera).
3. Drift (``checks.baseline``, window :data:`DRIFT_WINDOW` frames, 20 % tolerance): on the held-out frames
   in their order, the share of frames after the first window that a measure was reported drifting
   (there is no drift: any is a false alarm of the scenes' own variety), then the same frames with the
   lamp dimming linearly to 50 % over them: how dim it was when brightness was first reported.
4. The same on the synthetic lines' frames (always; no data needed).

    .venv/bin/python bench/frame_checks.py                     # real sets if present, synthetic lines
    .venv/bin/python bench/frame_checks.py --root /data/frames --most 200 --repeats 20

Last line: one JSON object (cost_ms per size, per set: frames, refused_by_defaults, suggested,
false_refusals, caught per fault).
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import percentile, print_result

from linecheck.frame_checks import DriftWatch, FrameChecker, FrameChecks, measure, problems, suggest
from linecheck.image_files import evenly_spaced, list_images
from linecheck.pixel_depth import read_bgr8

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"640x640": (640, 640), "2048x2048": (2048, 2048), "4096x256": (256, 4096), "5120x5120": (5120, 5120)}
Image = npt.NDArray[np.uint8]


def _lamp_off(image: Image, rng: np.random.Generator) -> Image:
    return np.clip(image * 0.02 + rng.normal(0, 0.6, image.shape), 0, 255).astype(np.uint8)


FAULTS: dict[str, Callable[[Image, np.random.Generator], Image]] = {
    "dark": _lamp_off,
    "blur_sigma2": lambda image, _rng: np.asarray(cv2.GaussianBlur(image, (0, 0), 2.0), np.uint8),
    "blur_sigma6": lambda image, _rng: np.asarray(cv2.GaussianBlur(image, (0, 0), 6.0), np.uint8),
}


def cost(repeats: int) -> dict[str, dict[str, float]]:
    """p50 milliseconds of measure() and of the frozen check's CRC-32, per frame size."""
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, float]] = {}
    for name, (h, w) in SIZES.items():
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        times, crcs = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            measure(image)
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            zlib.crc32(image.data)
            crcs.append(time.perf_counter() - started)
        out[name] = {"measure_ms": percentile(times, 50) * 1e3, "crc_ms": percentile(crcs, 50) * 1e3}
    return out


def evaluate(frames: list[Image], seed: int = 0) -> dict[str, Any]:
    """The defaults on every frame; checks suggested on the even frames, tried on the odd ones and faults."""
    defaults = FrameChecks()
    refused = sum(bool(problems(measure(f), defaults)) for f in frames)
    calibration, held_out = frames[0::2], frames[1::2]
    checks = suggest([measure(f) for f in calibration])
    false = sum(bool(problems(measure(f), checks)) for f in held_out)
    rng = np.random.default_rng(seed)
    caught = {
        fault: sum(bool(problems(measure(make(f, rng)), checks)) for f in held_out) / max(1, len(held_out))
        for fault, make in FAULTS.items()
    }
    checker = FrameChecker(checks)
    frozen = [bool(checker.check(f)[1]) for f in held_out[:5] for _ in range(2)]
    caught["frozen"] = sum(frozen[1::2]) / max(1, len(frozen[1::2]))
    return {
        "frames": len(frames),
        "refused_by_defaults": refused,
        "suggested": checks.model_dump(mode="json", exclude={"enabled"}),
        "held_out": len(held_out),
        "false_refusals": false,
        "caught": caught,
        "drift": drift(checks, held_out),
    }


#: Frames the bench's drift watch runs over (a line would use the default 200, over longer runs).
DRIFT_WINDOW = 50


def drift(checks: FrameChecks, frames: list[Image]) -> dict[str, Any]:
    """False drift reports on ``frames`` as they are, and how dim a lamp dimming over them was when caught."""
    assert checks.baseline is not None
    baseline = checks.baseline.model_copy(update={"window": min(DRIFT_WINDOW, max(10, len(frames) // 3))})
    frames = [frames[i % len(frames)] for i in range(max(len(frames), 3 * baseline.window))]  # a few: cycled
    steady = DriftWatch(baseline)
    flagged: dict[str, int] = {}
    reported = 0
    for frame in frames:
        steady.add(measure(frame))
        drifts = steady.drifts()
        reported += bool(drifts)
        for d in drifts:
            flagged[d.measure] = flagged.get(d.measure, 0) + d.drifting
    dimming = DriftWatch(baseline)
    dim_at: float | None = None
    for i, frame in enumerate(frames):
        factor = 1.0 - 0.5 * i / max(1, len(frames) - 1)
        dimming.add(measure(np.clip(frame * factor, 0, 255).astype(np.uint8)))
        if any(d.measure == "brightness" and d.drifting for d in dimming.drifts()):
            dim_at = round(1.0 - factor, 3)
            break
    false = {name: round(n / reported, 3) for name, n in flagged.items()} if reported else None
    return {"window": baseline.window, "false_drift_share": false, "flagged_at_dim": dim_at}


def real_sets(root: Path, most: int) -> dict[str, list[Image]]:
    """Up to ``most`` images of each folder of ``root`` (evenly spaced over the sorted names)."""
    sets: dict[str, list[Image]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = list_images(folder)
        frames = [f for f in (read_bgr8(p) for p in evenly_spaced(images, most)) if f is not None]
        if len(frames) >= 4:
            sets[folder.name] = frames
    return sets


def synthetic_sets(units: int) -> dict[str, list[Image]]:
    """Frames of the three synthetic lines, seed 1."""
    from linecheck.config import load_lines
    from linecheck.inspect.frame_source import SourceContext, open_source

    sets: dict[str, list[Image]] = {}
    for line in load_lines(ROOT / "configs" / "lines").values():
        source = open_source(f"synth://{line.kind}?seed=1&units={units}&rate=0", SourceContext(line=line))
        frames: list[Image] = []
        while (frame := source.read()) is not None and len(frames) < 4 * units:
            frames.append(frame.image)
        source.close()
        sets[f"synthetic-{line.kind}"] = frames
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "realdata")
    parser.add_argument("--most", type=int, default=300, help="images per real set")
    parser.add_argument("--units", type=int, default=12, help="units per synthetic line")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per frame size")
    args = parser.parse_args()
    started = time.perf_counter()
    figures: dict[str, Any] = {"cost_ms": cost(args.repeats)}
    sets = real_sets(args.root, args.most) if args.root.is_dir() else {}
    figures["real_root"] = str(args.root) if sets else None
    sets.update(synthetic_sets(args.units))
    figures["sets"] = {name: evaluate(frames) for name, frames in sets.items()}
    figures["seconds"] = time.perf_counter() - started
    for name, row in figures["sets"].items():
        caught = ", ".join(f"{k} {v:.0%}" for k, v in row["caught"].items())
        d = row["drift"]
        shares = d["false_drift_share"] or {}
        false_drift = ", ".join(f"{k} {v:.0%}" for k, v in shares.items()) or "-"
        print(
            f"{name}: {row['frames']} frames, defaults refuse {row['refused_by_defaults']}; "
            f"suggested checks: {row['false_refusals']} of {row['held_out']} held-out frames refused; "
            f"caught: {caught}; drift (window {d['window']}): false {false_drift}, "
            f"dimming lamp flagged at {d['flagged_at_dim']}"
        )
    print_result(figures)


if __name__ == "__main__":
    main()
