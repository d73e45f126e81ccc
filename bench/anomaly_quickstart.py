"""A new user's first anomaly model, step by step through the CLI, timed; prints one JSON line.

    python bench/anomaly_quickstart.py                       # 20 good 4096 x 256 frames, 20 to inspect
    python bench/anomaly_quickstart.py --good DIR [--inspect DIR] [--tile 256]
    python bench/anomaly_quickstart.py --good-frames 4 --frames 3 --width 1024 --height 128 --tile 128 \\
        --coreset 128                                        # smoke run (tests/bench)

From a folder of good images to frames inspected with an anomaly model served by Triton: the
target is under 10 minutes on 2 CPU cores. Each step is the command README documents, run as a
user runs it, its wall-clock time measured:

1. ``train``: ``linecheck train --task anomaly --line textile --name fabric-anomaly --data GOOD
   --tile 256 --promote`` (fit, calibrate, export ONNX, parity check, register, promote);
2. ``build``: ``linecheck serve triton --build-only --models fabric-anomaly`` (model repository);
3. ``start``: ``linecheck serve triton --models fabric-anomaly ...`` until it prints ``ready:``
   (it rebuilds the repository first; a fresh data folder also assembles the server's backends);
4. ``inspect``: ``linecheck inspect --line fabric-ls --source FRAMES --no-send --trigger-file ...
   --signal-file ...`` until the folder is inspected (the anomaly model on native tiles of each frame),
   with the inspector's CPU settings for a folder of saved frames (:data:`CPU_INSPECTOR`: a call of
   8 wide frames is 152 tiles, far over the 10 s call timeout and 15 s frame deadline sized for a
   GPU-served line; ``--inspector-defaults`` keeps those, and the fail-safe then records every frame
   ``not_inspected``).

The line YAML a user writes for the model (kind textile, ``classes: [anomaly]``, ``model: {name:
fabric-anomaly}`` without ``tile:``: the card's training tile is used) goes into ``WORK/lines``.
Without ``--good`` / ``--inspect`` the frames are synthetic line-scan fabric
(:mod:`linecheck.datasets.synth.line_scan`): good ones to learn from, then later frames of the same
roll, ``--defective`` of them with holes, stains, broken yarns or knots. Everything is written under
``--work`` (registry, Triton repository and server files, outbox): the checkout's registry and Triton
repository are not touched. The CLI's output is in ``WORK/cli.log``.

Last line: one JSON object: ``steps_s`` (train, build, start, inspect: wall-clock), ``total_s`` (their
sum), ``target_s`` (600), ``cpu_s`` (CPU seconds of each step's processes, the Triton server's included
while it starts and inspects: what moves less than wall-clock on a shared machine), the frames and
tiles, the inspector's verdicts and, for synthetic frames, how many defective frames failed and good
frames passed, and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import machine
from cputime import tree_cpu_seconds
from timing import print_result

from linecheck.datasets.images import read_image
from linecheck.datasets.synth.line_scan import line_scan_frames
from linecheck.image_files import list_images
from linecheck.model.tiling import tile_origins
from linecheck.serving.triton.embedded import free_port

REPO = Path(__file__).resolve().parents[1]
LINECHECK = str(Path(sys.executable).with_name("linecheck"))
MODEL = "fabric-anomaly"
LINE = "fabric-ls"
ROLL = "RL0000000001"
TARGET_S = 600.0
#: Inspector settings for inspecting a folder of line-scan frames with a CPU-served anomaly model.
CPU_INSPECTOR = {"LINECHECK_INSPECTOR_INFER_TIMEOUT_S": "120", "LINECHECK_INSPECTOR_DEADLINE_S": "600"}
LINE_YAML = """\
# The line a user adds to run the anomaly model (written by bench/anomaly_quickstart.py).
id: {line}
name: Line-scan fabric, anomaly model from good frames
kind: textile
classes: [anomaly]
thresholds: {{anomaly: 0.5}}
code_source: trigger          # the roll id comes from the trigger file
speed_m_per_min: 30
cameras:
  - {{station: ls1, source: "{frames}", width: {width}, height: {height}, fps: 5}}
model: {{name: {model}}}       # no tile: the tile the model was trained on (its card)
textile: {{roll_width_m: 1.6, frame_width_m: 1.6, frame_length_m: 0.1, roll_length_m: 100}}
"""


def _env(work: Path) -> dict[str, str]:
    return dict(
        os.environ,
        YOLO_OFFLINE="1",
        YOLO_CONFIG_DIR=str(REPO / "var" / "ultralytics"),
        LINECHECK_DATA_DIR=str(work / "var"),
        LINECHECK_MODELS_DIR=str(work / "models"),
        LINECHECK_LINES_DIR=str(work / "lines"),
    )


def children_cpu_s() -> float:
    """User + system CPU seconds of the finished (waited-for) child processes so far."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def cli(*args: str, work: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``linecheck ARGS`` (with ``env`` added) to the end; its wall-clock and CPU seconds."""
    log = work / "cli.log"
    with log.open("a") as out:
        out.write("$ linecheck " + " ".join(args) + "\n")
        out.flush()
        cpu, started = children_cpu_s(), time.perf_counter()
        done = subprocess.run(
            [LINECHECK, *args], stdout=out, stderr=subprocess.STDOUT, env=_env(work) | (env or {})
        )
        seconds, cpu = time.perf_counter() - started, children_cpu_s() - cpu
    if done.returncode:
        raise SystemExit(f"linecheck {' '.join(args[:3])} failed ({done.returncode}); see {log}")
    return seconds, cpu


def start_triton(
    work: Path, ports: dict[str, int], timeout_s: float
) -> tuple[subprocess.Popen[str], tuple[float, float]]:
    """``linecheck serve triton`` in the background, and the wall / CPU seconds until it was ready."""
    args = ["serve", "triton", "--models", MODEL]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    log = (work / "triton.log").open("a")
    with (work / "cli.log").open("a") as out:
        out.write("$ linecheck " + " ".join(args) + "  (output in triton.log)\n")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [LINECHECK, *args], stdout=subprocess.PIPE, stderr=log, text=True, env=_env(work), bufsize=1
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        log.write(line)
        log.flush()
        if line.startswith("ready:"):
            return proc, (time.perf_counter() - started, tree_cpu_seconds(proc.pid))
        if time.perf_counter() - started > timeout_s:
            break
    stop(proc)
    raise SystemExit(f"linecheck serve triton did not get ready; see {work / 'triton.log'}")


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (a clean stop of the server), then SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def prepare(args: argparse.Namespace, work: Path) -> tuple[Path, Path, list[bool] | None, tuple[int, int]]:
    """Good folder, folder to inspect, which inspected frames are defective (synthetic), frame size."""
    good, frames = work / "good", work / "frames"
    size = {"width": args.width, "height": args.height}
    truth: list[bool] | None = None
    if args.good is None:
        good.mkdir(parents=True)
        for shot in line_scan_frames(seed=args.seed, count=args.good_frames, **size):
            cv2.imwrite(str(good / f"good-{shot.index:04d}.png"), shot.image)
    else:
        good = args.good
    if args.inspect is None and args.good is None:
        frames.mkdir(parents=True)
        count = args.good_frames + args.frames
        later = list(line_scan_frames(seed=args.seed, count=count, defective=args.defective, **size))
        truth = []
        for shot in later[args.good_frames :]:
            cv2.imwrite(str(frames / f"frame-{shot.index:04d}.png"), shot.image)
            truth.append(len(shot.boxes) > 0)
    else:
        frames = args.inspect or args.good
    first = read_image(list_images(frames)[0])
    return good, frames, truth, (int(first.shape[1]), int(first.shape[0]))


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    (work / "lines").mkdir(parents=True)
    started = time.perf_counter()
    good, frames, truth, (width, height) = prepare(args, work)
    prepare_s = time.perf_counter() - started
    (work / "lines" / f"{LINE}.yaml").write_text(
        LINE_YAML.format(line=LINE, frames=frames, width=width, height=height, model=MODEL)
    )
    (work / "roll.txt").write_text(ROLL + "\n")
    train = ["train", "--task", "anomaly", "--line", "textile", "--name", MODEL, "--data", str(good)]
    train += ["--tile", str(args.tile), "--promote"]
    if args.tile != 256:
        train += ["--imgsz", str(args.tile)]
    if args.coreset is not None:
        train += ["--coreset", str(args.coreset)]
    measured = {"train": cli(*train, work=work)}
    measured["build"] = cli("serve", "triton", "--build-only", "--models", MODEL, work=work)
    ports = {"grpc": free_port(), "http": free_port(), "metrics": free_port()}
    server, measured["start"] = start_triton(work, ports, args.start_timeout)
    signals = work / "signals.jsonl"
    inspector_env = {} if args.inspector_defaults else CPU_INSPECTOR
    try:
        server_cpu = tree_cpu_seconds(server.pid)
        wall, cpu = cli(
            *("inspect", "--line", LINE, "--source", str(frames), "--no-send", "--quiet"),
            *("--triton-url", f"127.0.0.1:{ports['grpc']}", "--trigger-file", str(work / "roll.txt")),
            *("--signal-file", str(signals), "--inspector-dir", str(work / "inspector")),
            work=work,
            env=inspector_env,
        )
        measured["inspect"] = (wall, cpu + tree_cpu_seconds(server.pid) - server_cpu)  # inspector + Triton
    finally:
        stop(server)
    steps = {step: wall for step, (wall, _) in measured.items()}
    events = [json.loads(line) for line in signals.read_text().splitlines() if line.strip()]
    verdicts = Counter(e["verdict"] for e in events)
    card = json.loads(next((work / "models" / MODEL).glob("*/model_card.json")).read_text())
    n_frames = len(list_images(frames))
    figures: dict[str, Any] = {
        "steps_s": steps,
        "total_s": sum(steps.values()),
        "cpu_s": {step: cpu for step, (_, cpu) in measured.items()},
        "target_s": TARGET_S,
        "within_target": sum(steps.values()) <= TARGET_S,
        "prepare_s": prepare_s,
        "good_images": len(list_images(good)),
        "frames": n_frames,
        "frame_size": [width, height],
        "tile": args.tile,
        "tiles_per_frame": len(tile_origins(width, height, args.tile, overlap=32)),
        "inspect_frames_per_s": n_frames / steps["inspect"],
        "inspector_env": inspector_env,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),  # torch's threads in training, when set
        "verdicts": dict(sorted(verdicts.items())),
        "results": len(events),
        "model": {
            "threshold": card["training"]["threshold"],
            "bank_size": card["training"]["bank_size"],
            "fit_s": card["training"]["seconds"],
            "parity_passed": card["training"]["parity"]["passed"],
        },
        "machine": machine.describe() | {"versions": None},
    }
    if truth is not None:
        # a free-running camera: each frame is its own trigger, ``<station>:<frame seq>``
        by_seq = {int(e["trigger_id"].rsplit(":", 1)[1]): e["verdict"] for e in events}
        failed = [by_seq.get(i) == "fail" for i in range(len(truth))]
        figures["defective_frames"] = sum(truth)
        figures["defective_failed"] = sum(f for f, t in zip(failed, truth, strict=True) if t)
        figures["good_passed"] = sum(by_seq.get(i) == "pass" for i, t in enumerate(truth) if not t)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--good", type=Path, help="folder of good images (default: synthetic line-scan frames)"
    )
    parser.add_argument("--inspect", type=Path, help="folder of frames to inspect (default: synthetic)")
    parser.add_argument("--good-frames", type=int, default=20, help="synthetic good frames to learn from")
    parser.add_argument("--frames", type=int, default=20, help="synthetic frames to inspect")
    parser.add_argument("--defective", type=float, default=0.3, help="share of inspected frames with defects")
    parser.add_argument("--width", type=int, default=4096, help="synthetic frame width (across the roll)")
    parser.add_argument("--height", type=int, default=256, help="synthetic frame height (along the roll)")
    parser.add_argument("--tile", type=int, default=256, help="train --tile (native tile side)")
    parser.add_argument("--coreset", type=int, help="train --coreset (default: the CLI's, 4096)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--inspector-defaults", action="store_true", help="inspect without the CPU_INSPECTOR settings"
    )
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds Triton may take")
    parser.add_argument("--work", type=Path, default=REPO / "var" / "bench" / "anomaly_quickstart")
    args = parser.parse_args()
    print(machine.header(), file=sys.stderr)
    figures = run(args)
    for step, seconds in figures["steps_s"].items():
        print(f"{step:8s} {seconds:7.1f} s", file=sys.stderr)
    print(f"{'total':8s} {figures['total_s']:7.1f} s (target {TARGET_S:.0f} s)", file=sys.stderr)
    print_result(figures)


if __name__ == "__main__":
    main()
