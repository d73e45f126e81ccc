"""Pipeline speed: Ultralytics predict vs raw ONNX Runtime vs linecheck's inspector through Triton.

The same model (``weights.pt`` for Ultralytics, its ONNX export for the other two) and the same
640x640 synthetic frames go through:

  (a) ``YOLO(weights.pt).predict(frame)`` one frame at a time (torch, CPU);
  (b) ONNX Runtime in-process on pre-processed batches (compute only: the limit on this machine);
  (c) linecheck's inspector batching stage + Triton client against the embedded Triton server
      with dynamic batching, end to end (pre-processing, gRPC, inference, decode + NMS).

The paths take turns for ``--rounds`` rounds (the order rotates) so that a noisy neighbour hurts
all of them alike; each path's frames/s is the median over rounds and the ratios are computed
from those medians. Next to wall-clock frames/s each path reports the CPU milliseconds it spent
per frame (this process plus, for (c), the Triton server's process group): on a shared machine
that figure moves much less with the neighbours' load. Every thread setting is explicit and
printed. In (c) one inspector batch (``--batch``) is split into requests of ``max_batch_size``
(``--batch`` / instances) sent concurrently, which Triton's dynamic batcher spreads over the
model instances. Latency in (c) is from a frame entering the batcher's inbox to its result,
measured at full throughput (``--window`` frames in flight) and in a paced run at
``--paced-load`` of the measured throughput (a camera line, not a flood).

``--precision int8`` serves (b) and (c) an INT8 static quantization of the same export (built
and cached by ``quantize.py``; (a) keeps the FP32 checkpoint) and reports how its detections
agree with the FP32 graph's.

    .venv/bin/python bench/pipeline.py --frames 256 --rounds 3
    .venv/bin/python bench/pipeline.py --frames 16 --rounds 1          # smoke run

Last line: one JSON object (fps_ultralytics, fps_onnxruntime, fps_linecheck, ratio_vs_ultralytics,
ratio_vs_onnxruntime, p50_ms, p99_ms, ...).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(__file__).resolve().parent.parent / "var" / "ultralytics"))

import machine
import numpy as np
from bench_model import BENCH_DIR, BenchModel, resolve
from pipeline_paths import InspectorPath, OnnxRuntimePath, PathRun, UltralyticsPath
from timing import LatencySummary, Stopwatch, print_result, ratio

from linecheck.config import get_path_settings
from linecheck.datasets.synth import iter_units
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind
from linecheck.serving.triton.embedded import EmbeddedTriton
from linecheck.serving.triton.repository import RepositoryOptions, build_repository

FRAME_SIZE = 640
TARGET_VS_ULTRALYTICS = 2.0
TARGET_VS_ONNXRUNTIME = 0.85
ALL_PATHS = ("ultralytics", "onnxruntime", "linecheck")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cores = machine.usable_cores()
    defaults = InspectorSettings()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=256, help="frames per path per round (size flag)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; each path runs every frame once per round")
    p.add_argument("--model", default="textile", help="registry model name (default: textile)")
    p.add_argument(
        "--registry", type=Path, default=get_path_settings().models_dir, help="model registry root"
    )
    p.add_argument(
        "--imgsz", type=int, default=320, help="input size of the stand-in model (no registry model)"
    )
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic frames")
    p.add_argument(
        "--precision",
        choices=["fp32", "int8"],
        default="fp32",
        help="graph served to (b) and (c): the FP32 export, or its INT8 static quantization ((a) stays FP32)",
    )
    p.add_argument("--calib-frames", type=int, default=32, help="calibration frames for --precision int8")
    p.add_argument("--paths", default="ultralytics,onnxruntime,linecheck", help="comma-separated subset")
    p.add_argument("--batch", type=int, default=defaults.max_batch, help="inspector max_batch = ORT batch")
    p.add_argument("--max-delay-ms", type=float, default=defaults.max_delay_ms, help="inspector batch wait")
    p.add_argument("--queue-size", type=int, default=defaults.queue_size, help="inspector inbox size")
    p.add_argument("--window", type=int, default=0, help="frames in flight in (c) (0: 2 x --batch)")
    p.add_argument(
        "--paced-load",
        type=float,
        default=0.5,
        help="(c) latency run at this share of its frames/s (0: skip)",
    )
    p.add_argument("--torch-threads", type=int, default=cores, help="torch.set_num_threads for (a)")
    p.add_argument("--ort-threads", type=int, default=cores, help="ONNX Runtime intra-op threads for (b)")
    p.add_argument("--ort-spinning", action="store_true", help="let ORT's idle threads spin in (b)")
    p.add_argument("--triton-instances", type=int, default=cores, help="Triton model instances for (c)")
    p.add_argument("--triton-threads", type=int, default=1, help="ORT intra-op threads per instance (c)")
    p.add_argument(
        "--triton-max-batch", type=int, default=0, help="served max_batch_size (0: --batch / instances)"
    )
    p.add_argument("--triton-queue-delay-us", type=int, default=2000, help="dynamic batcher max queue delay")
    args = p.parse_args(argv)
    unknown = set(args.paths.split(",")) - set(ALL_PATHS)
    if unknown:
        p.error(f"--paths: unknown path(s) {sorted(unknown)}; choose from ultralytics,onnxruntime,linecheck")
    for name in (
        "frames",
        "rounds",
        "batch",
        "queue_size",
        "torch_threads",
        "ort_threads",
        "triton_instances",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}={getattr(args, name)}: expected >= 1")
    return args


def synthetic_frames(kind: Kind, count: int, seed: int) -> list[np.ndarray]:
    """``count`` 640x640 BGR frames of ``kind``, unit after unit."""
    units = iter_units(kind, seed=seed, imgsz=FRAME_SIZE)
    images = (frame.image for unit in units for frame in unit.frames)
    return list(itertools.islice(images, count))


def triton_max_batch(args: argparse.Namespace) -> int:
    """Served ``max_batch_size``: one inspector batch is split over the instances (the client sends
    the chunks of one ``detect`` call concurrently, so every instance gets work)."""
    return args.triton_max_batch or max(1, args.batch // args.triton_instances)


def start_triton(model: BenchModel, args: argparse.Namespace, workdir: Path) -> EmbeddedTriton:
    """Build an embedded-flavour repository for ``model`` and start the bundled server on free ports."""
    served_batch = triton_max_batch(args)
    options = RepositoryOptions(
        flavor="embedded",
        max_batch_size=served_batch,
        preferred_batch_sizes=(served_batch,),
        max_queue_delay_us=args.triton_queue_delay_us,
        instance_count=args.triton_instances,
        intra_op_threads=args.triton_threads,
    )
    repo = workdir / "repo"
    build_repository(model.registry, repo, options, names=[model.name])
    server = EmbeddedTriton(repo, [model.name], log_file=workdir / "tritonserver.log")
    return server.start()


def summarise(name: str, runs: list[PathRun]) -> dict[str, Any]:
    fps = statistics.median(r.fps for r in runs)
    latency = LatencySummary.of_seconds(s for r in runs for s in r.latencies_s)
    cpu_ms = statistics.median(r.cpu_ms_per_frame for r in runs)
    return {
        "fps": fps,
        "fps_rounds": [r.fps for r in runs],
        "cpu_ms_per_frame": cpu_ms,
        "p50_ms": latency.p50_ms,
        "p99_ms": latency.p99_ms,
        "detections_per_round": runs[-1].detections,
        "text": f"{name:12s} {fps:7.1f} frames/s  {cpu_ms:6.1f} CPU ms/frame  latency {latency.text()}",
    }


def thread_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting that decides how the cores are shared, as recorded in the result."""
    return {
        "torch_threads": args.torch_threads,
        "ort_threads": args.ort_threads,
        "ort_spinning": args.ort_spinning,
        "triton_instances": args.triton_instances,
        "triton_threads_per_instance": args.triton_threads,
        "triton_max_batch": triton_max_batch(args),
        "triton_queue_delay_us": args.triton_queue_delay_us,
        "inspector_max_batch": args.batch,
        "inspector_max_delay_ms": args.max_delay_ms,
        "inspector_queue_size": args.queue_size,
        "inspector_window": args.window or 2 * args.batch,
    }


def open_paths(
    model: BenchModel, served: BenchModel, args: argparse.Namespace, workdir: Path
) -> tuple[dict[str, Any], EmbeddedTriton | None]:
    """The requested paths, ready to run (Triton started for the linecheck path).

    (a) runs ``model``'s checkpoint; (b) and (c) run ``served``'s ONNX graph (``model`` itself
    unless ``--precision int8``).
    """
    wanted = args.paths.split(",")
    paths: dict[str, Any] = {}
    server: EmbeddedTriton | None = None
    if "ultralytics" in wanted:
        paths["ultralytics"] = UltralyticsPath(model, torch_threads=args.torch_threads)
    if "onnxruntime" in wanted:
        paths["onnxruntime"] = OnnxRuntimePath(
            served, threads=args.ort_threads, batch=args.batch, spinning=args.ort_spinning
        )
    if "linecheck" in wanted:
        clock = Stopwatch()
        server = start_triton(served, args, workdir)
        print(f"triton: embedded server ready at {server.grpc_url} ({clock.elapsed():.1f} s)")
        settings = InspectorSettings(
            max_batch=args.batch,
            max_delay_ms=args.max_delay_ms,
            queue_size=args.queue_size,
            inspector_dir=workdir / "inspector",
        )
        paths["linecheck"] = InspectorPath(
            served, grpc_url=server.grpc_url, settings=settings, server_pgid=server.pid
        )
    return paths, server


def run_rounds(
    paths: dict[str, Any], frames: list[np.ndarray], args: argparse.Namespace
) -> dict[str, list[PathRun]]:
    """Every path over every frame, ``--rounds`` times, the order rotating each round."""
    for path in paths.values():
        path.warm_up(frames)
    ort_path: OnnxRuntimePath | None = paths.get("onnxruntime")
    batches = ort_path.batches(frames) if ort_path is not None else []
    runs: dict[str, list[PathRun]] = {name: [] for name in paths}
    order = list(paths)
    for round_no in range(args.rounds):
        shift = round_no % len(order)
        for name in order[shift:] + order[:shift]:
            if ort_path is not None and name == "onnxruntime":
                run = ort_path.run_batches(batches)
            elif name == "linecheck":
                run = paths[name].run(frames, window=args.window or 2 * args.batch)
            else:
                run = paths[name].run(frames)
            runs[name].append(run)
            print(
                f"round {round_no + 1}: {name:12s} {run.fps:7.1f} frames/s  "
                f"{run.cpu_ms_per_frame:6.1f} CPU ms/frame  ({run.detections} detections)"
            )
    return runs


def serving_model(
    model: BenchModel, kind: Kind, frames: list[np.ndarray], args: argparse.Namespace
) -> tuple[BenchModel, dict[str, Any] | None]:
    """The model (b) and (c) run, and for INT8 how its detections agree with FP32's on ``frames``."""
    if args.precision == "fp32":
        return model, None
    from quantize import agreement, int8_variant

    clock = Stopwatch()
    calibration = synthetic_frames(kind, args.calib_frames, args.seed + 1)
    served = int8_variant(model, calibration)
    agreed = agreement(model, served, frames)
    print(
        f"int8: {served.describe()} ({clock.elapsed():.1f} s); detections vs FP32 on the bench frames: "
        f"{agreed['int8_detections']} vs {agreed['fp32_detections']}, {agreed['matched']} matched, "
        f"F1 {agreed['f1']:.2f}"
    )
    return served, agreed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine.header())
    model = resolve(args.model, registry_root=args.registry, imgsz=args.imgsz)
    card_kind = model.version.card.kind
    kind = Kind(card_kind) if card_kind in {k.value for k in Kind} else Kind.TEXTILE
    print(f"model: {model.describe()}; every path runs it at imgsz {model.imgsz} (its own input size)")
    clock = Stopwatch()
    frames = synthetic_frames(kind, args.frames, args.seed)
    print(
        f"frames: {len(frames)} synthetic {kind.value} frames {FRAME_SIZE}x{FRAME_SIZE} "
        f"({clock.elapsed():.1f} s)"
    )
    settings = thread_settings(args)
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    served, agreed = serving_model(model, kind, frames, args)
    workdir = BENCH_DIR / f"pipeline-{os.getpid()}"
    server: EmbeddedTriton | None = None
    paced: PathRun | None = None
    try:
        paths, server = open_paths(model, served, args, workdir)
        runs = run_rounds(paths, frames, args)
        if "linecheck" in paths and args.paced_load > 0:
            rate = args.paced_load * statistics.median(r.fps for r in runs["linecheck"])
            paced = paths["linecheck"].run(frames, rate_fps=rate)
            print(f"paced: linecheck offered {rate:.1f} frames/s -> latency {paced.latency().text()}")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    summary = {name: summarise(name, r) for name, r in runs.items()}
    print(f"--- {len(frames)} frames x {args.rounds} rounds, median frames/s per path ---")
    for item in summary.values():
        print(item["text"])
    nan = float("nan")
    fps = {name: summary[name]["fps"] if name in summary else nan for name in ALL_PATHS}
    vs_ul = ratio(fps["linecheck"], fps["ultralytics"])
    vs_ort = ratio(fps["linecheck"], fps["onnxruntime"])
    print(f"linecheck / ultralytics = {vs_ul:.2f} (target >= {TARGET_VS_ULTRALYTICS})")
    print(f"linecheck / onnxruntime = {vs_ort:.2f} (target >= {TARGET_VS_ONNXRUNTIME})")
    line = summary.get("linecheck", {})
    paced_latency = paced.latency() if paced is not None else None
    figures: dict[str, Any] = {
        "fps_ultralytics": fps["ultralytics"],
        "fps_onnxruntime": fps["onnxruntime"],
        "fps_linecheck": fps["linecheck"],
        "ratio_vs_ultralytics": vs_ul,
        "ratio_vs_onnxruntime": vs_ort,
        "p50_ms": line.get("p50_ms", nan),
        "p99_ms": line.get("p99_ms", nan),
        "paced_fps": paced.fps if paced is not None else nan,
        "paced_p50_ms": paced_latency.p50_ms if paced_latency else nan,
        "paced_p99_ms": paced_latency.p99_ms if paced_latency else nan,
        "latency_ms": {name: {"p50": s["p50_ms"], "p99": s["p99_ms"]} for name, s in summary.items()},
        "fps_rounds": {name: s["fps_rounds"] for name, s in summary.items()},
        "cpu_ms_per_frame": {name: s["cpu_ms_per_frame"] for name, s in summary.items()},
        "detections_per_round": {name: s["detections_per_round"] for name, s in summary.items()},
        "frames": len(frames),
        "rounds": args.rounds,
        "imgsz": model.imgsz,
        "model": model.describe(),
        "precision": args.precision,
        "int8_agreement": agreed,
        "settings": settings,
        "machine": machine.describe(),
    }
    print_result(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
