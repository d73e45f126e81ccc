"""GPU throughput: end to end (GPU pre-processing, fp16 model, GPU NMS) vs the raw model, per batch.

For a CUDA host. The model (registry version at ``--imgsz``, else the yolov8n stand-in built at
that size) runs in-process with torch CUDA fp16 (the fallback the issue names for hosts without
NVIDIA's Triton container). For each batch size (default 1, 8, 32, 64):

* raw: ``model(x)`` on a batch already on the GPU in fp16 (the model's own throughput);
* end to end: uint8 BGR frames in pinned host memory -> upload -> letterbox, RGB, /255, fp16 on
  the GPU -> model -> threshold + class-aware NMS on the GPU -> detections back on the host.

Without a CUDA device it prints why, and a JSON line with ``"skipped": true``, and exits 0
(``--device cpu`` runs the same code on the CPU, for smoke tests only).

    .venv/bin/python bench/gpu.py                         # 1024 frames, batches 1,8,32,64, imgsz 640
    .venv/bin/python bench/gpu.py --frames 128 --batches 1,8

Last line: one JSON object (per batch: fps_raw, fps_end_to_end, ratio, p50_ms, p99_ms; best).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(__file__).resolve().parent.parent / "var" / "ultralytics"))

import machine
import numpy as np
from bench_model import resolve
from timing import LatencySummary, print_result, ratio

from linecheck.config import get_path_settings
from linecheck.datasets.synth import iter_units
from linecheck.kinds import Kind

TARGET_FPS = 2000.0
TARGET_RATIO = 0.7
FRAME_SIZE = 640


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=1024, help="frames per batch size (size flag)")
    p.add_argument("--batches", default="1,8,32,64", help="comma-separated batch sizes")
    p.add_argument("--imgsz", type=int, default=640, help="model input size")
    p.add_argument("--model", default="textile", help="registry model name (used if its imgsz matches)")
    p.add_argument("--registry", type=Path, default=get_path_settings().models_dir)
    p.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (smoke runs only)")
    p.add_argument("--fp32", action="store_true", help="run the model in fp32 instead of fp16")
    p.add_argument("--seed", type=int, default=5)
    args = p.parse_args(argv)
    try:
        args.batch_sizes = sorted({int(b) for b in args.batches.split(",")})
    except ValueError:
        p.error(f"--batches={args.batches!r}: expected comma-separated integers such as 1,8,32,64")
    if min(args.batch_sizes) < 1 or args.frames < 1:
        p.error(f"--batches={args.batches!r} / --frames={args.frames}: expected values >= 1")
    return args


def cuda_problem(device: str) -> str | None:
    """Why ``device`` cannot be used (None when it can)."""
    import torch

    if not device.startswith("cuda"):
        return None
    if not torch.cuda.is_available():
        build = torch.version.cuda or "none"
        return f"no CUDA device visible to torch {torch.__version__} (CUDA build: {build})"
    return None


def load_model(args: argparse.Namespace) -> tuple[Any, str, Kind]:
    """The fused detection model on the device (fp16 unless --fp32), its description and kind."""
    from linecheck.training.offline import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics import YOLO

    model = resolve(args.model, registry_root=args.registry, imgsz=args.imgsz)
    if model.imgsz != args.imgsz:
        from bench_model import standin

        model = standin(args.imgsz)
    module: Any = YOLO(str(model.weights), task="detect").model
    net = module.fuse(verbose=False).eval().to(args.device)
    net = net.float() if args.fp32 else net.half()
    kind = model.version.card.kind
    return net, model.describe(), Kind(kind) if kind in {k.value for k in Kind} else Kind.TEXTILE


def frames_array(kind: Kind, count: int, seed: int) -> np.ndarray:
    """``count`` 640x640 synthetic frames of ``kind`` (cycling over up to 256 distinct ones)."""
    distinct = min(count, 256)
    images: list[np.ndarray] = []
    for unit in iter_units(kind, seed=seed, imgsz=FRAME_SIZE):
        images.extend(f.image for f in unit.frames)
        if len(images) >= distinct:
            break
    stack = np.stack(images[:distinct])
    return stack[np.arange(count) % distinct]


def run_batch_size(pipeline: Any, frames: np.ndarray, batch: int) -> dict[str, Any]:
    """Raw and end-to-end frames/s and per-batch latency at one batch size."""
    chunks = [frames[i : i + batch] for i in range(0, len(frames) - batch + 1, batch)] or [frames[:batch]]
    model_input, _ = pipeline.preprocess(pipeline.upload(chunks[0]))
    for _ in range(3 if pipeline.device.type == "cuda" else 1):  # warm-up: cuDNN algorithms, allocator
        pipeline.infer(model_input)
        pipeline.detect(chunks[0])
    pipeline.synchronize()
    started = time.perf_counter()
    for _ in chunks:
        pipeline.infer(model_input)
    pipeline.synchronize()
    fps_raw = len(chunks) * batch / (time.perf_counter() - started)
    latencies = []
    found = 0
    started = time.perf_counter()
    for chunk in chunks:
        t0 = time.perf_counter()
        found += sum(len(d) for d in pipeline.detect(chunk))  # ends with a device -> host copy
        latencies.append(time.perf_counter() - t0)
    fps_e2e = len(chunks) * batch / (time.perf_counter() - started)
    latency = LatencySummary.of_seconds(latencies)
    return {
        "fps_raw": fps_raw,
        "fps_end_to_end": fps_e2e,
        "ratio": ratio(fps_e2e, fps_raw),
        "p50_ms": latency.p50_ms,
        "p99_ms": latency.p99_ms,
        "detections": found,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine.header())
    problem = cuda_problem(args.device)
    if problem is not None:
        print(f"gpu.py needs a CUDA device: {problem}. GPU figures are pending a CUDA host.")
        print_result({"skipped": True, "reason": problem, "machine": machine.describe()})
        return 0
    import torch
    from gpu_paths import GpuPipeline

    if not args.device.startswith("cuda"):
        torch.set_num_threads(1)  # CPU runs are smoke runs: stay off the other cores
    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(f"device: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    net, described, kind = load_model(args)
    print(f"model: {described}, {'fp32' if args.fp32 else 'fp16'}, imgsz {args.imgsz}")
    frames = frames_array(kind, args.frames, args.seed)
    pipeline = GpuPipeline(
        net, device=args.device, imgsz=args.imgsz, half=not args.fp32, conf=0.25, iou=0.45, max_det=300
    )
    per_batch: dict[str, Any] = {}
    for batch in args.batch_sizes:
        result = run_batch_size(pipeline, frames, batch)
        per_batch[str(batch)] = result
        print(
            f"batch {batch:3d}: raw {result['fps_raw']:8.0f} frames/s, "
            f"end to end {result['fps_end_to_end']:8.0f} frames/s ({result['ratio']:.2f} of raw), "
            f"batch latency p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
        )
    best_batch, best = max(per_batch.items(), key=lambda kv: kv[1]["fps_end_to_end"])
    met = best["fps_end_to_end"] >= TARGET_FPS and best["ratio"] >= TARGET_RATIO
    print(
        f"best: batch {best_batch}, {best['fps_end_to_end']:.0f} frames/s end to end, "
        f"{best['ratio']:.2f} of raw "
        f"(target >= {TARGET_FPS:.0f} frames/s and >= {TARGET_RATIO} of raw: {'met' if met else 'NOT met'})"
    )
    print_result(
        {
            "skipped": False,
            "device": name,
            "imgsz": args.imgsz,
            "precision": "fp32" if args.fp32 else "fp16",
            "model": described,
            "best_batch": int(best_batch),
            "fps_end_to_end": best["fps_end_to_end"],
            "fps_raw": best["fps_raw"],
            "ratio_vs_raw": best["ratio"],
            "p50_ms": best["p50_ms"],
            "p99_ms": best["p99_ms"],
            "per_batch": per_batch,
            "machine": machine.describe(),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
