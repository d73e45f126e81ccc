"""The GPU check of issue 17: raw model, linecheck in-process, through Triton, agreement, in one run.

Runs on the GPU host (torch with CUDA, no Ultralytics: the registry checkpoint is loaded by
``gpu_torch_yolo``) and, as a rehearsal, on the CPU (``--device cpu --quick``). Parts:

1. ``raw``: the model alone on a batch already on the device, fp16, per batch size: eager, CUDA
   graph, CUDA graph + channels_last (the ceiling);
2. ``e2e``: uint8 frames in pinned host memory -> upload -> letterbox / RGB / normalise on the
   device -> model (CUDA graph) -> decode + class-aware NMS on the device -> rows on the host,
   one or several CUDA streams (one thread each); and where the time of one batch goes;
3. ``triton``: the bundled Triton server (``nvidia-pytriton``) with its Python backend running
   the same torch pipeline on the GPU, the inspector's ``TritonDetector`` per stream, dynamic
   batching, flat out and paced, Triton's own queue / compute time; and whether linecheck's
   ``gpu`` repository flavour loads in that server;
4. ``agreement``: detections of the CPU path (linecheck's ONNX Runtime detector on the registry
   graph) vs the device path on the same frames, fp16 vs fp32, Triton vs in-process;
5. ``images``: linecheck's own training loops (``train --task classify`` and ``--task anomaly``) on
   the device and on the CPU, on generated cells from a random start (no weights travel): each one's
   time, and whether the device's anomaly threshold matches the CPU's.

Each part that lacks a prerequisite is skipped with the reason (the first lines list them all);
a failing part is recorded and the next one runs. ``RESULTS/gpu_check.json`` is rewritten after
every part, so a run cut short keeps what it measured; the short table is printed last.

    python3 bench/gpu_check.py var/gpu_check                       # GPU host, ~5 min
    .venv/bin/python bench/gpu_check.py var/gpu_check_cpu --device cpu --quick
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

TARGET_TRITON_FPS = 3000.0
TARGET_TRITON_RATIO = 0.8
TARGET_PACED_FPS = 1000.0
TARGET_PACED_P99_MS = 15.0
PARTS = ("raw", "e2e", "triton", "agreement", "images")
#: What each part imports (module -> what to carry if it is missing; see bench/gpu_travel.md).
NEEDS: dict[str, tuple[str, ...]] = {
    "raw": ("torch",),
    "e2e": ("torch", "torchvision"),
    "triton": ("torch", "torchvision", "linecheck", "tritonclient", "rapidjson", "triton_server"),
    "agreement": ("torch", "torchvision", "linecheck", "onnxruntime"),
    "images": ("torch", "timm", "linecheck"),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="folder for gpu_check.json, the Triton log and repository")
    p.add_argument("--device", default="cuda", help="cuda (default) or cpu (rehearsal)")
    p.add_argument("--quick", action="store_true", help="smallest sizes (CPU rehearsal, smoke test)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument(
        "--model", default="bearing", help="registry model whose production weights run (bearing: most boxes)"
    )
    p.add_argument("--registry", type=Path, default=ROOT / "models")
    p.add_argument("--imgsz", type=int, default=None, help="input size (default 640; quick: 160)")
    p.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "gpu_check_work",
        help="Triton repository and server folder (kept out of RESULTS: the device returns 8 files)",
    )
    p.add_argument("--budget-s", type=float, default=300.0, help="parts not started by then are skipped")
    args = p.parse_args(argv)
    args.parts = [x for x in args.parts.split(",") if x]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown:
        p.error(f"--parts: unknown {unknown}; expected some of {list(PARTS)}")
    quick = args.quick
    args.imgsz = args.imgsz or (160 if quick else 640)
    args.batches = [1, 2] if quick else [1, 8, 32, 64, 128]
    args.e2e_batches = [2] if quick else [8, 32, 64, 128]
    args.e2e_streams = [1, 2] if quick else [1, 2, 4]
    args.seconds = 0.2 if quick else 1.5
    args.frames = 8 if quick else 128
    args.agree_frames = 8 if quick else 64
    # (streams, frames per request) flat out through Triton, then the paced run.
    args.triton_loads = [(2, 2)] if quick else [(4, 16), (8, 8), (8, 16), (16, 8)]
    args.triton_seconds = 1.0 if quick else 6.0
    args.paced = (2, 4.0) if quick else (8, TARGET_PACED_FPS)
    args.triton_max_batch = 8 if quick else 64
    args.triton_instances = 1 if quick else 2
    return args


# -- prerequisites ----------------------------------------------------------------------------
def _module_problem(name: str) -> str | None:
    try:
        importlib.import_module(name)
    except Exception as exc:
        return f"import {name} failed: {type(exc).__name__}: {exc}"
    return None


def _triton_server_problem() -> str | None:
    try:
        spec = importlib.util.find_spec("pytriton")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return "nvidia-pytriton (the bundled tritonserver) is not importable: see bench/gpu_travel.md"
    package = Path(spec.origin).parent
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    for part in (
        "tritonserver/bin/tritonserver",
        f"tritonserver/python_backend_stubs/{py}/triton_python_backend_stub",
    ):
        if not (package / part).is_file():
            return f"{package / part} is missing"
    libdir, libname = sysconfig.get_config_var("LIBDIR"), f"libpython{py}.so.1.0"
    if not any((Path(d) / libname).exists() for d in (libdir or "", "/usr/lib/x86_64-linux-gnu", "/usr/lib")):
        return f"the Python-backend stub needs {libname} (not in {libdir} or /usr/lib)"
    return None


def prerequisites(device: str) -> dict[str, str | None]:
    """Each prerequisite -> None when present, else what is wrong."""
    found: dict[str, str | None] = {
        name: _module_problem(name) for name in ("torch", "torchvision", "onnxruntime", "rapidjson", "timm")
    }
    found["tritonclient"] = _module_problem("tritonclient.grpc")
    found["linecheck"] = _module_problem("linecheck.datasets.synth") or _module_problem(
        "linecheck.serving.triton.client"
    )
    found["triton_server"] = _triton_server_problem()
    if device.startswith("cuda") and found["torch"] is None:
        import torch

        if not torch.cuda.is_available():
            found["cuda"] = f"torch {torch.__version__} sees no CUDA device (build: {torch.version.cuda})"
        else:
            found["cuda"] = None
    return found


# -- shared pieces ----------------------------------------------------------------------------
class Context:
    """What the parts share: arguments, device, model, frames, and the report being written."""

    def __init__(self, args: argparse.Namespace, report: dict[str, Any]) -> None:
        import torch

        from linecheck.model.registry import Registry

        self.args, self.report, self.torch = args, report, torch
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        if not self.cuda:
            torch.set_num_threads(1)  # a rehearsal: stay off the other engineers' cores
        self.version = Registry(args.registry).get(args.model, "production")
        self.weights = self.version.path / "weights.pt"
        from gpu_torch_yolo import load_checkpoint

        self.net32, self.classes = load_checkpoint(self.weights)
        self.net32 = self.net32.to(self.device)
        self.dtype = torch.float16 if self.cuda else torch.float32  # fp16 convs on a CPU are a crawl
        self.net = self.net32 if not self.cuda else _half_copy(self.net32)
        self._frames: np.ndarray | None = None

    @property
    def frames(self) -> np.ndarray:
        """(N, 640, 640, 3) uint8 synthetic frames of the model's kind (noise when synth is missing)."""
        if self._frames is None:
            self._frames = _frames(self.version.card.kind, self.args.frames)
        return self._frames

    def pipeline(self, *, half: bool, imgsz: int | None = None, net: Any = None) -> Any:
        from gpu_paths import GpuPipeline

        model = net if net is not None else (self.net if half else self.net32)
        return GpuPipeline(
            model,
            device=str(self.device),
            imgsz=imgsz or self.args.imgsz,
            half=half,
            conf=0.25,
            iou=0.45,
            max_det=100,
        )

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)


def _half_copy(net: Any) -> Any:
    import copy

    return copy.deepcopy(net).half()


def _frames(kind: str, count: int, size: int = 640, seed: int = 5) -> np.ndarray:
    try:
        from linecheck.datasets.synth import iter_units
        from linecheck.kinds import Kind

        images: list[np.ndarray] = []
        for unit in iter_units(Kind(kind), seed=seed, imgsz=size):
            images.extend(f.image for f in unit.frames)
            if len(images) >= count:
                break
        return np.ascontiguousarray(np.stack(images[:count]))
    except ImportError:
        return np.random.default_rng(seed).integers(0, 255, (count, size, size, 3), dtype=np.uint8)


def timed(ctx: Context, call: Callable[[], Any], seconds: float) -> float:
    """Seconds per call: warm up, calibrate, then enough calls to fill ``seconds``."""
    for _ in range(3 if ctx.cuda else 1):
        call()
    ctx.sync()
    started = time.perf_counter()
    call()
    ctx.sync()
    once = max(time.perf_counter() - started, 1e-6)
    n = max(3, min(2000, int(seconds / once)))
    started = time.perf_counter()
    for _ in range(n):
        call()
    ctx.sync()
    return (time.perf_counter() - started) / n


class Graphed:
    """The model captured as a CUDA graph for one input shape (input copied into a static buffer)."""

    def __init__(self, ctx: Context, net: Any, example: Any) -> None:
        torch = ctx.torch
        self.static_in = example.clone()
        side = torch.cuda.Stream(ctx.device)
        side.wait_stream(torch.cuda.current_stream(ctx.device))
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(3):
                net(self.static_in)
        torch.cuda.current_stream(ctx.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(self.graph):
            self.static_out = net(self.static_in)

    def __call__(self, x: Any) -> Any:
        self.static_in.copy_(x, non_blocking=True)
        self.graph.replay()
        return self.static_out


# -- parts ------------------------------------------------------------------------------------
def part_raw(ctx: Context) -> dict[str, Any]:
    torch, a = ctx.torch, ctx.args
    rows: dict[str, Any] = {}
    variants: list[tuple[str, Any]] = [("eager", ctx.net)]
    if ctx.cuda:
        cl = _half_copy(ctx.net32).to(memory_format=torch.channels_last)
        variants += [("graph", ctx.net), ("graph_channels_last", cl)]
    for batch in a.batches:
        row: dict[str, Any] = {}
        for name, net in variants:
            x = torch.rand(batch, 3, a.imgsz, a.imgsz, device=ctx.device, dtype=ctx.dtype)
            if name == "graph_channels_last":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                call = Graphed(ctx, net, x) if name.startswith("graph") else net
                per_call = timed(ctx, lambda call=call, x=x: call(x), a.seconds)
            row[f"fps_{name}"] = round(batch / per_call, 1)
        row["fps_best"] = max(v for k, v in row.items() if k.startswith("fps_"))
        rows[str(batch)] = row
        print(
            f"  raw batch {batch:3d}: " + ", ".join(f"{k[4:]} {v:,.0f}" for k, v in row.items()) + " frames/s"
        )
    best = max(rows.items(), key=lambda kv: kv[1]["fps_best"])
    return {
        "precision": "fp16" if ctx.cuda else "fp32",
        "imgsz": a.imgsz,
        "per_batch": rows,
        "best_batch": int(best[0]),
        "best_fps": best[1]["fps_best"],
    }


class E2eStream:
    """One in-process stream: its own pipeline, CUDA stream and CUDA graph (captured before any thread starts:
    a capture while another thread launches work fails)."""

    def __init__(self, ctx: Context, pinned: Any, batch: int) -> None:
        torch = ctx.torch
        self.ctx, self.pinned, self.batch = ctx, pinned, batch
        self.pipeline = ctx.pipeline(half=ctx.cuda)
        self.stream = torch.cuda.Stream(ctx.device) if ctx.cuda else None
        with torch.inference_mode():
            example, _ = self.pipeline.preprocess(pinned[:batch].to(ctx.device))
            self.model = Graphed(ctx, ctx.net, example) if ctx.cuda else self.pipeline.infer
        self.latencies: list[float] = []

    def run(self, starts: list[int], until: float) -> None:
        """Batches from ``starts`` round and round (at least one round) until ``until``."""
        torch, pipeline = self.ctx.torch, self.pipeline
        with torch.inference_mode(), torch.cuda.stream(self.stream) if self.stream else _null():
            n = 0
            while n < len(starts) or time.perf_counter() < until:
                start = starts[n % len(starts)]
                t0 = time.perf_counter()
                frames = self.pinned[start : start + self.batch].to(self.ctx.device, non_blocking=True)
                x, where = pipeline.preprocess(frames)
                out = self.model(x)
                pipeline.postprocess(
                    out[0] if isinstance(out, list | tuple) else out, where
                )  # ends on the host
                self.latencies.append(time.perf_counter() - t0)
                n += 1


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def part_e2e(ctx: Context) -> dict[str, Any]:
    from timing import LatencySummary

    torch, a = ctx.torch, ctx.args
    frames = ctx.frames
    pinned = torch.from_numpy(frames)
    if ctx.cuda:
        pinned = pinned.pin_memory()
    raw = ctx.report["parts"].get("raw", {}).get("per_batch", {})
    rows: dict[str, Any] = {}
    for batch in a.e2e_batches:
        starts = list(range(0, len(frames) - batch + 1, batch)) or [0]
        for streams in a.e2e_streams:
            runners = [E2eStream(ctx, pinned, batch) for _ in range(streams)]
            runners[0].run(starts[:1], 0.0)  # warm-up: cuDNN algorithms, allocator
            runners[0].latencies.clear()
            until = time.perf_counter() + a.seconds
            threads = [threading.Thread(target=r.run, args=(starts, until)) for r in runners]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            latencies = [r.latencies for r in runners]
            done = sum(len(x) for x in latencies) * batch
            summary = LatencySummary.of_seconds([x for xs in latencies for x in xs])
            raw_fps = raw.get(str(batch), {}).get("fps_best")
            fps = done / elapsed
            row = {
                "fps": round(fps, 1),
                "ratio_vs_raw_same_batch": round(fps / raw_fps, 3) if raw_fps else None,
                "batch_p50_ms": round(summary.p50_ms, 2),
                "batch_p99_ms": round(summary.p99_ms, 2),
            }
            rows[f"b{batch}_s{streams}"] = row
            print(
                f"  e2e batch {batch:3d} x {streams} streams: {fps:,.0f} frames/s, "
                f"p50 {summary.p50_ms:.1f} / p99 {summary.p99_ms:.1f} ms per batch"
            )
    best_key, best = max(rows.items(), key=lambda kv: kv[1]["fps"])
    raw_best = ctx.report["parts"].get("raw", {}).get("best_fps")
    return {
        "per_config": rows,
        "best": best_key,
        "best_fps": best["fps"],
        "ratio_vs_raw_best": round(best["fps"] / raw_best, 3) if raw_best else None,
        "stages_ms_per_batch": _stages(ctx, pinned, a.e2e_batches[min(1, len(a.e2e_batches) - 1)]),
    }


def _stages(ctx: Context, pinned: Any, batch: int) -> dict[str, float]:
    """Milliseconds per batch of each stage, each synchronised on its own (sums exceed the overlap)."""
    torch = ctx.torch
    pipeline = ctx.pipeline(half=ctx.cuda)
    chunk = pinned[:batch]
    with torch.inference_mode():
        dev = chunk.to(ctx.device)
        x, where = pipeline.preprocess(dev)
        out = pipeline.infer(x)
        stages = {
            "upload": timed(ctx, lambda: chunk.to(ctx.device, non_blocking=True), ctx.args.seconds / 4),
            "preprocess": timed(ctx, lambda: pipeline.preprocess(dev), ctx.args.seconds / 4),
            "model_eager": timed(ctx, lambda: pipeline.infer(x), ctx.args.seconds / 4),
            "decode_nms_download": timed(ctx, lambda: pipeline.postprocess(out, where), ctx.args.seconds / 4),
        }
    return {"batch": batch, **{k: round(v * 1000, 3) for k, v in stages.items()}}


def _match(reference: np.ndarray, other: np.ndarray, iou: float = 0.5) -> int:
    """Rows of ``reference`` (K, 6: xyxy score class) matched one-to-one in ``other``, same class."""
    from linecheck.model.processing import box_iou

    used = np.zeros(len(other), dtype=bool)
    found = 0
    for i in np.argsort(-reference[:, 4]):
        candidates = np.flatnonzero(~used & (np.round(other[:, 5]) == np.round(reference[i, 5])))
        if candidates.size:
            overlaps = box_iou(reference[i, :4].astype(np.float32), other[candidates, :4].astype(np.float32))
            best = int(np.argmax(overlaps))
            if overlaps[best] >= iou:
                used[candidates[best]] = True
                found += 1
    return found


def agreement_of(reference: list[np.ndarray], other: list[np.ndarray]) -> dict[str, Any]:
    """Counts, one-to-one matches (same class, IoU >= 0.5) and F1 over a list of frames."""
    ref_n, other_n = sum(len(r) for r in reference), sum(len(o) for o in other)
    matched = sum(_match(r, o) for r, o in zip(reference, other, strict=True))
    f1 = 2 * matched / (ref_n + other_n) if ref_n + other_n else 1.0
    return {"reference": ref_n, "other": other_n, "matched": matched, "f1": round(f1, 4)}


def _rows(detections: list[Any]) -> list[np.ndarray]:
    return [np.column_stack([d.xyxy, d.confidence, d.class_id]).astype(np.float32) for d in detections]


def _in_batches(
    call: Callable[[np.ndarray], list[np.ndarray]], frames: np.ndarray, step: int = 8
) -> list[np.ndarray]:
    return [row for i in range(0, len(frames), step) for row in call(frames[i : i + step])]


def part_agreement(ctx: Context) -> dict[str, Any]:
    from linecheck.serving.triton.onnx_detector import OnnxDetector

    torch, a = ctx.torch, ctx.args
    frames = ctx.frames[: a.agree_frames]
    card_imgsz = ctx.version.card.onnx.imgsz if ctx.version.card.onnx else a.imgsz
    onnx = OnnxDetector.from_registry(ctx.version, intra_op_threads=1 if not ctx.cuda else 0)
    try:
        cpu = _in_batches(lambda f: _rows(onnx.detect(list(f))), frames)
        # The torch port against the registry graph, on the CPU, same input: max abs difference.
        x = torch.rand(2, 3, card_imgsz, card_imgsz)
        net_cpu = ctx.net32.to("cpu")
        with torch.inference_mode():
            port = net_cpu(x).numpy()
        import onnxruntime

        session = onnxruntime.InferenceSession(str(ctx.version.onnx), providers=["CPUExecutionProvider"])
        graph = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    finally:
        onnx.close()
        ctx.net32.to(ctx.device)
    fp32_card = _in_batches(ctx.pipeline(half=False, imgsz=card_imgsz).detect, frames)
    fp32 = _in_batches(ctx.pipeline(half=False).detect, frames)
    result = {
        "frames": len(frames),
        "torch_port_vs_onnx_max_abs": round(float(np.abs(port - graph).max()), 5),
        "cpu_onnx_vs_device_fp32_at_card_imgsz": {"imgsz": card_imgsz, **agreement_of(cpu, fp32_card)},
    }
    if ctx.cuda:
        fp16 = _in_batches(ctx.pipeline(half=True).detect, frames)
        result["device_fp32_vs_fp16"] = {"imgsz": a.imgsz, **agreement_of(fp32, fp16)}
    ctx.report["_fp32_rows"] = fp32
    return result


def part_triton(ctx: Context) -> dict[str, Any]:
    from gpu_triton import measure_streams, scrape, server_split, write_repository

    from linecheck.serving.triton.client import TritonDetector
    from linecheck.serving.triton.embedded import EmbeddedTriton

    a, results = ctx.args, ctx.args.results
    name = "yolo_torch"
    repo = write_repository(
        a.work / "triton_repo",
        name=name,
        weights=ctx.weights,
        classes=ctx.classes,
        imgsz=a.imgsz,
        gpu=ctx.cuda,
        half=ctx.cuda,
        max_batch=a.triton_max_batch,
        preferred=(8, 16, 32, 64),
        queue_delay_us=500,
        instances=a.triton_instances,
    )
    out: dict[str, Any] = {"model_config": (repo / name / "config.pbtxt").read_text()}
    server = EmbeddedTriton(
        repo,
        [name],
        server_dir=a.work / "triton_server",
        startup_timeout_s=180,
        log_file=results / "triton.log",
    )
    t0 = time.perf_counter()
    with server:
        out["startup_s"] = round(time.perf_counter() - t0, 1)
        streams = max([s for s, _ in a.triton_loads] + [a.paced[0]])
        detectors = [
            TritonDetector(
                name,
                url=server.grpc_url,
                expected_classes=ctx.classes,
                expected_imgsz=a.imgsz,
                expected_layout="nms",
                timeout_s=60,
            )
            for _ in range(streams)
        ]
        try:
            frames = ctx.frames
            detectors[0].detect(list(frames[:2]))  # warm-up: first CUDA work in each instance
            loads = []
            for count, batch in a.triton_loads:
                before = scrape(server.metrics_url, name)
                run = measure_streams(detectors[:count], frames, batch=batch, seconds=a.triton_seconds)
                run["server"] = server_split(before, scrape(server.metrics_url, name))
                loads.append(run)
                print(
                    f"  triton {count} streams x {batch}: {run['fps']:,.0f} frames/s, call p50 "
                    f"{run['call_p50_ms']} / p99 {run['call_p99_ms']} ms, server batch "
                    f"{run['server']['mean_server_batch']}, queue {run['server']['queue_ms']} ms"
                )
            out["flat_out"] = loads
            count, rate = a.paced
            before = scrape(server.metrics_url, name)
            paced = measure_streams(
                detectors[:count], frames, batch=1, seconds=a.triton_seconds, rate_fps=rate
            )
            paced["server"] = server_split(before, scrape(server.metrics_url, name))
            out["paced"] = paced
            print(
                f"  triton paced {rate:,.0f} frames/s ({count} streams x 1): {paced['fps']:,.0f} frames/s, "
                f"p99 {paced['call_p99_ms']} ms"
            )
            reference = ctx.report.pop("_fp32_rows", None)
            if reference is not None:
                served = _in_batches(lambda f: _rows(detectors[0].detect(list(f))), frames[: len(reference)])
                out["agreement_vs_in_process_fp32"] = agreement_of(reference, served)
        finally:
            for d in detectors:
                d.close()
        out["gpu_flavour"] = _try_gpu_flavour(ctx, server, repo)
    best = max(out["flat_out"], key=lambda r: r["fps"])
    raw_best = ctx.report["parts"].get("raw", {}).get("best_fps")
    out.update(
        best_fps=best["fps"],
        best_load=f"{best['streams']}x{best['batch']}",
        ratio_vs_raw_best=round(best["fps"] / raw_best, 3) if raw_best else None,
    )
    return out


def _try_gpu_flavour(ctx: Context, server: Any, repo: Path) -> dict[str, Any]:
    """Write linecheck's ``gpu`` repository flavour beside the bench model and ask the server to load it."""
    try:
        from linecheck.model.registry import Registry
        from linecheck.serving.triton.repository import RepositoryOptions, build_repository

        served = build_repository(
            Registry(ctx.args.registry), repo, RepositoryOptions(flavor="gpu"), names=[ctx.args.model]
        )
        server.load(served[0].name)
        return {"loaded": True, "model": served[0].name, "config": served[0].config_text}
    except Exception as exc:
        return {"loaded": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}


def _cell_folders(root: Path, per_class: int, size: int = 64, seed: int = 3) -> Path:
    """``root/{functional,defective}/`` generated grey cells: a noise texture, the defective ones crossed by a
    dark crack."""
    import cv2

    rng = np.random.default_rng(seed)
    for name in ("functional", "defective"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.normal(128, 12, (size, size)).clip(0, 255).astype(np.uint8)
            if name == "defective":
                (x0, y0), (x1, y1) = rng.integers(0, size, (2, 2)).tolist()
                cv2.line(image, (x0, y0), (x1, y1), 20, 3)
            cv2.imwrite(str(root / name / f"{i:03d}.png"), image)
    return root


def part_images(ctx: Context) -> dict[str, Any]:
    from linecheck.training.anomaly import AnomalyOptions, fit_anomaly
    from linecheck.training.classify import ClassifyOptions, fit_classifier, load_classify_set

    quick = ctx.args.quick
    root = _cell_folders(Path(tempfile.mkdtemp(prefix="gpu_check_cells_")), 12 if quick else 64)
    data, good = load_classify_set(root), sorted((root / "functional").glob("*.png"))
    devices = {"cpu": "cpu", **({"device": str(ctx.device.index or 0)} if ctx.cuda else {})}
    result: dict[str, Any] = {"cells_per_class": 12 if quick else 64}
    for label, device in devices.items():
        t0 = time.monotonic()
        options = ClassifyOptions(
            pretrained=False, epochs=2 if quick else 4, imgsz=64, batch=16, device=device
        )
        _, run = fit_classifier(data, options)
        t1 = time.monotonic()
        fit = fit_anomaly(
            good, AnomalyOptions(imgsz=64, coreset=64 if quick else 512, device=device), pretrained=False
        )
        result[label] = {
            "device": device,
            "classify_s": round(t1 - t0, 2),
            "val_accuracy": run.history[-1]["val_accuracy"],
            "anomaly_s": round(time.monotonic() - t1, 2),
            "threshold": round(fit.threshold, 5),
            "bank": fit.bank_size,
        }
    if "device" in result:
        cpu, dev = result["cpu"]["threshold"], result["device"]["threshold"]
        result["threshold_rel_diff"] = round(abs(dev - cpu) / max(abs(cpu), 1e-9), 5)
    return result


RUNNERS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "raw": part_raw,
    "e2e": part_e2e,
    "agreement": part_agreement,
    "triton": part_triton,
    "images": part_images,
}


# -- report -----------------------------------------------------------------------------------
def _write(path: Path, report: dict[str, Any]) -> None:
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(public, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def table(report: dict[str, Any]) -> list[str]:
    """The short table printed last."""
    p = report["parts"]

    def get(part: str, *keys: str) -> Any:
        value: Any = p.get(part, {})
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        return value

    def status(part: str) -> str:
        entry = p.get(part, {})
        if "skipped" in entry:
            return "skipped: " + str(entry["skipped"])[:90]
        if "error" in entry:
            return "FAILED: " + str(entry["error"]).strip().splitlines()[-1][:100]
        return "ok" if entry else "not run"

    lines = [
        f"gpu_check on {report.get('device_name')} ({report.get('device')}), imgsz {report.get('imgsz')}"
    ]

    def row(part: str, fps: Any, ratio: Any, detail: str) -> str:
        return f"{part:10s} {fps or 0:>10,.0f} {ratio or 0:>7.2f}  {detail} [{status(part)}]"

    lines.append(f"{'part':10s} {'frames/s':>10s} {'vs raw':>7s}  detail")
    lines.append(row("raw", get("raw", "best_fps"), 1.0, f"batch {get('raw', 'best_batch')}"))
    lines.append(row("e2e", get("e2e", "best_fps"), get("e2e", "ratio_vs_raw_best"), str(get("e2e", "best"))))
    tr = get("triton", "ratio_vs_raw_best")
    paced = get("triton", "paced") or {}
    detail = (
        f"{get('triton', 'best_load')}, paced {paced.get('offered_fps')}/s "
        f"p99 {paced.get('call_p99_ms')} ms, "
        f"gpu flavour loaded: {get('triton', 'gpu_flavour', 'loaded')}"
    )
    lines.append(row("triton", get("triton", "best_fps"), tr, detail))
    agree = get("agreement", "cpu_onnx_vs_device_fp32_at_card_imgsz") or {}
    half = get("agreement", "device_fp32_vs_fp16") or {}
    detail = (
        f"CPU vs device F1 {agree.get('f1')} ({agree.get('reference')} boxes), fp32 vs fp16 F1 "
        f"{half.get('f1')}, port max|d| {get('agreement', 'torch_port_vs_onnx_max_abs')}"
    )
    lines.append(row("agreement", None, None, detail))
    on = get("images", "device") or get("images", "cpu") or {}
    detail = (
        f"classify {on.get('classify_s')} s, anomaly {on.get('anomaly_s')} s on {on.get('device')}; "
        f"anomaly threshold vs CPU rel. diff {get('images', 'threshold_rel_diff')}"
    )
    lines.append(row("images", None, None, detail))
    fps, ratio, p99 = get("triton", "best_fps"), tr, paced.get("call_p99_ms")
    if report.get("device") != "cpu":
        met = bool(
            fps
            and fps >= TARGET_TRITON_FPS
            and ratio
            and ratio >= TARGET_TRITON_RATIO
            and p99 is not None
            and p99 <= TARGET_PACED_P99_MS
        )
        lines.append(
            f"targets (Triton >= {TARGET_TRITON_FPS:,.0f}/s, >= {TARGET_TRITON_RATIO} of raw, paced p99 <= "
            f"{TARGET_PACED_P99_MS} ms): {'met' if met else 'NOT met'}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / "gpu_check.json"
    import machine

    report: dict[str, Any] = {
        "device": args.device,
        "imgsz": args.imgsz,
        "quick": args.quick,
        "machine": machine.describe(),
        "parts": {},
    }
    print(machine.header())
    missing = prerequisites(args.device)
    report["prerequisites"] = missing
    for name, problem in missing.items():
        print(f"  prerequisite {name:14s} {'ok' if problem is None else 'MISSING: ' + problem}")
    _write(path, report)
    if missing.get("torch") or missing.get("cuda"):
        print(f"gpu_check cannot run on {args.device}: {missing.get('torch') or missing.get('cuda')}")
        return 2
    ctx = Context(args, report)
    if ctx.cuda:
        props = ctx.torch.cuda.get_device_properties(ctx.device)
        report["device_name"] = props.name
        report["cuda"] = {
            "torch": ctx.torch.__version__,
            "cuda": ctx.torch.version.cuda,
            "cudnn": ctx.torch.backends.cudnn.version(),
            "sms": props.multi_processor_count,
        }
        ctx.torch.backends.cudnn.benchmark = True
    else:
        report["device_name"] = "cpu"
    print(
        f"device {report['device_name']}, model {args.model} v{ctx.version.card.version} ({ctx.weights}), "
        f"imgsz {args.imgsz}, classes {list(ctx.classes)}"
    )
    order = [p for p in ("raw", "e2e", "agreement", "triton", "images") if p in args.parts]
    for part in order:
        lacking = [n for n in NEEDS[part] if missing.get(n)]
        if lacking:
            report["parts"][part] = {"skipped": "missing " + "; ".join(f"{n}: {missing[n]}" for n in lacking)}
        elif time.monotonic() - started > args.budget_s:
            report["parts"][part] = {"skipped": f"over the {args.budget_s:.0f} s budget"}
        else:
            print(f"[{part}] ({time.monotonic() - started:.0f} s)")
            t0 = time.monotonic()
            try:
                report["parts"][part] = RUNNERS[part](ctx)
            except Exception:
                report["parts"][part] = {"error": traceback.format_exc(limit=8)}
                print(report["parts"][part]["error"])
            report["parts"][part]["seconds"] = round(time.monotonic() - t0, 1)
        _write(path, report)
    report["seconds"] = round(time.monotonic() - started, 1)
    _write(path, report)
    print(f"full JSON: {path}")
    for line in table(report):
        print(line)
    failed = [p for p in order if "error" in report["parts"][p]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
