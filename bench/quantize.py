"""An INT8 variant of a registry model, for the ``--precision int8`` pipeline runs (CPU serving).

ONNX Runtime static quantization (QDQ, per-channel INT8 weights, UINT8 activations:
:func:`linecheck.training.quantize.quantize_int8`, what ``linecheck export-int8`` runs), calibrated
on synthetic frames of the model's kind that the benchmark does not time. The variant is
registered in a private registry under ``var/bench/models/int8-*`` (cached by the source graph's
hash), so Triton's repository builder and ONNX Runtime load it like any other version.

:func:`agreement` compares the variant's detections with the FP32 graph's on the same frames
(greedy matching, same class, IoU >= 0.5): a first look, not a substitute for evaluating mAP.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from bench_model import BENCH_DIR, BenchModel

from linecheck.messages import Detections
from linecheck.model.processing import box_iou
from linecheck.model.registry import Registry
from linecheck.serving.triton.onnx_detector import OnnxDetector
from linecheck.training.quantize import RECIPE, quantize_int8


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def int8_variant(
    model: BenchModel, calibration: list[np.ndarray], cache: Path = BENCH_DIR / "models"
) -> BenchModel:
    """``model`` with its ONNX graph statically quantized to INT8 (built once, cached)."""
    recipe = f"{RECIPE}-{model.name}-v{model.version.card.version}-{_digest(model.onnx)}-c{len(calibration)}"
    root = cache / recipe
    registry = Registry(root)
    origin = f"INT8 of {model.name} v{model.version.card.version}, {model.origin}"
    if registry.versions(model.name):
        return BenchModel(registry=registry, version=registry.get(model.name, "latest"), origin=origin)
    shutil.rmtree(root, ignore_errors=True)
    work = root / "build"
    work.mkdir(parents=True)
    quantized = work / "model.onnx"
    quantize_int8(model.onnx, quantized, calibration, model.imgsz)
    source = model.version.card
    onnx_info = replace(source.onnx, int8=True) if source.onnx else None
    card = replace(source, architecture=f"{source.architecture} (INT8 static, QDQ)", onnx=onnx_info)
    files = {"model.onnx": quantized}
    if model.weights.is_file():
        files["weights.pt"] = model.weights
    version = registry.register(card, files)
    registry.promote(model.name, version.card.version)
    shutil.rmtree(work, ignore_errors=True)
    return BenchModel(registry=registry, version=version, origin=origin)


def _matches(reference: Detections, other: Detections, iou: float) -> int:
    used = np.zeros(len(other), dtype=bool)
    found = 0
    for i in np.argsort(-reference.confidence):
        candidates = np.flatnonzero(~used & (other.class_id == reference.class_id[i]))
        if candidates.size == 0:
            continue
        overlaps = box_iou(reference.xyxy[i], other.xyxy[candidates])
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou:
            used[candidates[best]] = True
            found += 1
    return found


def agreement(
    fp32: BenchModel, int8: BenchModel, frames: list[np.ndarray], *, iou: float = 0.5
) -> dict[str, Any]:
    """Detections of both graphs on ``frames`` (ONNX Runtime in-process) and how many match."""
    reference = OnnxDetector.from_registry(fp32.version, intra_op_threads=0)
    variant = OnnxDetector.from_registry(int8.version, intra_op_threads=0)
    try:
        ref_total = int8_total = matched = 0
        for start in range(0, len(frames), 8):
            chunk = frames[start : start + 8]
            for a, b in zip(reference.detect(chunk), variant.detect(chunk), strict=True):
                ref_total += len(a)
                int8_total += len(b)
                matched += _matches(a, b, iou)
    finally:
        reference.close()
        variant.close()
    f1 = 2 * matched / (ref_total + int8_total) if ref_total + int8_total else 1.0
    return {"fp32_detections": ref_total, "int8_detections": int8_total, "matched": matched, "f1": f1}
