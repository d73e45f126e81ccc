"""Through Triton for ``bench/gpu_check.py``: the bundled server's Python backend running the torch model.

:func:`write_repository` writes a one-model repository (``config.pbtxt`` with the ``linecheck.*``
contract parameters, ``nms`` output layout, uint8 frames in, dynamic batching, GPU or CPU
instances) around ``bench/gpu_triton_model.py``. :func:`measure_streams` drives it with the
inspector's own client (``TritonDetector``, one per stream, each in its own thread) either flat
out or paced, and :func:`scrape` reads Triton's Prometheus counters so the server's queue and
compute time sit beside the client's figures.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
MODEL_FILE = BENCH / "gpu_triton_model.py"
#: Triton's per-model counters (cumulative; microseconds for the durations).
COUNTERS = (
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
)


def _param(key: str, value: str) -> str:
    return f"parameters {{ key: {json.dumps(key)} value {{ string_value: {json.dumps(value)} }} }}"


def write_repository(
    root: Path,
    *,
    name: str,
    weights: Path,
    classes: tuple[str, ...],
    imgsz: int,
    gpu: bool,
    half: bool,
    max_batch: int,
    preferred: tuple[int, ...],
    queue_delay_us: int,
    instances: int,
    max_det: int = 100,
) -> Path:
    """Write ``root/name`` (config + ``1/model.py``); returns the repository root."""
    from linecheck.serving.triton.contract import PARAM_BATCH_LIMIT, ModelContract

    contract = ModelContract(
        classes=classes,
        output_layout="nms",
        imgsz=imgsz,
        kind="bench",
        registry_version=1,
        input_name="images",
        output_name="detections",
        input_dtype="TYPE_UINT8",
        max_batch_size=max_batch,
    )
    params = {
        **contract.parameters(),
        PARAM_BATCH_LIMIT: "0",
        "linecheck.bench_dir": str(BENCH),
        "linecheck.weights": str(Path(weights).resolve()),
        "linecheck.half": "1" if half else "0",
        "linecheck.cpu_threads": "1",
    }
    lines = [
        f"name: {json.dumps(name)}",
        'backend: "python"',
        f"max_batch_size: {max_batch}",
        f'input {{ name: "images" data_type: TYPE_UINT8 dims: [ {imgsz}, {imgsz}, 3 ] }}',
        f'output {{ name: "detections" data_type: TYPE_FP32 dims: [ {max_det}, 6 ] }}',
        "dynamic_batching {",
        f"  preferred_batch_size: [ {', '.join(str(b) for b in preferred if b <= max_batch)} ]",
        f"  max_queue_delay_microseconds: {queue_delay_us}",
        "}",
        f"instance_group {{ count: {instances} kind: {'KIND_GPU' if gpu else 'KIND_CPU'} }}",
        "version_policy { specific { versions: [ 1 ] } }",
        *(_param(k, v) for k, v in sorted(params.items())),
    ]
    model_dir = Path(root) / name
    shutil.rmtree(model_dir, ignore_errors=True)
    (model_dir / "1").mkdir(parents=True)
    shutil.copy2(MODEL_FILE, model_dir / "1" / "model.py")
    (model_dir / "config.pbtxt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(root)


def scrape(metrics_url: str, model: str) -> dict[str, float]:
    """Triton's cumulative counters for ``model`` (summed over versions / GPUs)."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode("utf-8", "replace")
    found = dict.fromkeys(COUNTERS, 0.0)
    pattern = re.compile(r"^(\w+)\{([^}]*)\}\s+([0-9.eE+-]+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match and match.group(1) in found and f'model="{model}"' in match.group(2):
            found[match.group(1)] += float(match.group(3))
    return found


def server_split(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Per-request server time (ms) by part, and the mean batch the server ran, between two scrapes."""
    delta = {k: after[k] - before[k] for k in COUNTERS}
    requests = max(delta["nv_inference_request_success"], 1.0)
    executions = max(delta["nv_inference_exec_count"], 1.0)

    def per_request(key: str) -> float:
        return round(delta[key] / requests / 1000.0, 3)

    return {
        "requests": int(delta["nv_inference_request_success"]),
        "failures": int(delta["nv_inference_request_failure"]),
        "images": int(delta["nv_inference_count"]),
        "executions": int(delta["nv_inference_exec_count"]),
        "mean_server_batch": round(delta["nv_inference_count"] / executions, 2),
        "request_ms": per_request("nv_inference_request_duration_us"),
        "queue_ms": per_request("nv_inference_queue_duration_us"),
        "compute_input_ms": per_request("nv_inference_compute_input_duration_us"),
        "compute_infer_ms": per_request("nv_inference_compute_infer_duration_us"),
        "compute_output_ms": per_request("nv_inference_compute_output_duration_us"),
    }


def measure_streams(
    detectors: list[Any],
    frames: np.ndarray,
    *,
    batch: int,
    seconds: float,
    rate_fps: float | None = None,
) -> dict[str, Any]:
    """Each detector is one stream sending ``batch`` frames per call, flat out or paced.

    Paced: the streams together offer ``rate_fps`` frames/s, each on its own fixed schedule
    (a late call is sent at once, its latency counted from when it was due).
    """
    from timing import LatencySummary

    latencies: list[list[float]] = [[] for _ in detectors]
    counts = [0] * len(detectors)
    errors: list[str] = []
    start = time.perf_counter() + 0.05
    stop = start + seconds
    interval = None if rate_fps is None else batch * len(detectors) / rate_fps

    def stream(index: int) -> None:
        detector = detectors[index]
        offset = (index * batch) % max(1, len(frames) - batch)
        due = start + (0.0 if interval is None else interval * index / len(detectors))
        n = 0
        while True:
            now = time.perf_counter()
            if interval is not None and now < due:
                time.sleep(due - now)
            began = due if interval is not None else time.perf_counter()
            if began >= stop:
                return
            chunk = frames[(offset + n * batch) % (len(frames) - batch + 1) :][:batch]
            try:
                detector.detect(list(chunk))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            latencies[index].append(time.perf_counter() - began)
            counts[index] += batch
            n += 1
            if interval is not None:
                due += interval

    threads = [threading.Thread(target=stream, args=(i,), daemon=True) for i in range(len(detectors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    elapsed = max(time.perf_counter() - start, 1e-9)
    summary = LatencySummary.of_seconds([x for xs in latencies for x in xs] or [0.0])
    return {
        "streams": len(detectors),
        "batch": batch,
        "offered_fps": rate_fps,
        "frames": sum(counts),
        "fps": round(sum(counts) / elapsed, 1),
        "call_p50_ms": round(summary.p50_ms, 2),
        "call_p99_ms": round(summary.p99_ms, 2),
        "errors": errors[:3],
    }
