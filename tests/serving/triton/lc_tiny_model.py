"""A real, small YOLOv8n ONNX model and generated frames for the Triton / ONNX tests.

The graph is built from Ultralytics' ``yolov8.yaml`` (scale n, 4 classes) with random weights,
then made to give content-dependent detections without training: batch-norm statistics are
calibrated on generated frames (so activations keep their scale through the network) and the
class-score bias is set so a few anchors per frame pass a 0.25 threshold. Exports are cached
under ``var/triton/test-models/<ultralytics version>-<recipe hash>/`` and reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from linecheck.model.card import ModelCard, OnnxInfo
from linecheck.model.layout import OutputLayout
from linecheck.model.processing import preprocess
from linecheck.model.registry import ModelVersion, Registry
from linecheck.serving.triton.repository import RepositoryOptions

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / "var" / "triton" / "test-models"
CLASSES = ["hole", "stain", "broken_yarn", "knot"]
IMGSZ = 320
RECIPE = {
    "base": "yolov8n",
    "nc": 4,
    "imgsz": IMGSZ,
    "seed": 0,
    "cls_bias": -2.0,
    "calib_frames": 16,
    "opset": 17,
}
#: Repository options for the test server: a 50 ms queue delay makes Triton's dynamic batcher merge
#: concurrent requests, so the concatenate / split path of the Python-backend model is exercised.
REPO_OPTIONS = RepositoryOptions(max_queue_delay_us=50_000, preferred_batch_sizes=(8,), intra_op_threads=1)


def make_frames(n: int, *, seed: int) -> list[np.ndarray]:
    """Generated BGR frames of varying sizes: smooth textured background plus a few bright/dark blobs."""
    rng = np.random.default_rng(seed)
    sizes = [(240, 320), (320, 320), (360, 480), (200, 400), (300, 260)]
    frames: list[np.ndarray] = []
    for i in range(n):
        h, w = sizes[(i + seed) % len(sizes)]
        coarse = rng.integers(60, 200, size=(h // 20 + 2, w // 20 + 2, 3)).astype(np.float32)
        background = np.kron(coarse, np.ones((20, 20, 1), np.float32))[:h, :w]
        image = background + rng.normal(0, 12, size=(h, w, 3))
        for _ in range(int(rng.integers(2, 6))):
            y, x = int(rng.integers(0, h - 20)), int(rng.integers(0, w - 20))
            bh, bw = int(rng.integers(10, h // 3)), int(rng.integers(10, w // 3))
            image[y : y + bh, x : x + bw] = rng.choice([10.0, 245.0]) + rng.normal(0, 5, size=3)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return frames


def _recipe_key(layout: OutputLayout) -> str:
    import ultralytics

    text = json.dumps({**RECIPE, "layout": layout}, sort_keys=True)
    return f"{ultralytics.__version__}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _export(out_dir: Path, layout: OutputLayout) -> Path:
    """Build, calibrate and export the model into ``out_dir`` (the cwd); returns the ONNX path."""
    import torch
    import yaml
    from torch import nn
    from ultralytics import YOLO
    from ultralytics.utils import ROOT as UL_ROOT

    torch.manual_seed(int(RECIPE["seed"]))
    spec = yaml.safe_load((UL_ROOT / "cfg" / "models" / "v8" / "yolov8.yaml").read_text())
    spec["nc"] = RECIPE["nc"]
    yaml_path = out_dir / "lc-tiny-yolov8n.yaml"  # the "n" in the name picks the nano scale
    yaml_path.write_text(yaml.safe_dump(spec))
    yolo = YOLO(str(yaml_path))
    model = yolo.model
    model.names = dict(enumerate(CLASSES))
    calib, _ = preprocess(make_frames(int(RECIPE["calib_frames"]), seed=1000), IMGSZ)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batch
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(calib))
        for seq in model.model[-1].cv3:
            seq[-1].bias.fill_(float(RECIPE["cls_bias"]))
    model.eval()
    exported = yolo.export(
        format="onnx",
        imgsz=IMGSZ,
        dynamic=True,
        simplify=False,
        opset=int(RECIPE["opset"]),
        nms=layout == "nms",
        verbose=False,
    )
    return out_dir / Path(exported).name


def tiny_onnx(layout: OutputLayout = "raw") -> Path:
    """Path of the cached tiny ONNX model for ``layout``, exporting it on first use."""
    target_dir = CACHE / f"{_recipe_key(layout)}-{layout}"
    target = target_dir / "model.onnx"
    if target.is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="export-", dir=CACHE))
    try:
        # Export in a child process: torch stays out of the test process and Ultralytics writes into `work`.
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), layout, str(work)],
            cwd=work,
            check=True,
            capture_output=True,
            timeout=300,
        )
        final = work / "model.onnx"
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = target_dir / f".model.onnx.{os.getpid()}"
        shutil.move(str(final), tmp)
        tmp.replace(target)  # atomic: a concurrent reader sees the whole file or none
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def register_tiny(
    registry: Registry,
    name: str,
    *,
    layout: OutputLayout = "raw",
    kind: str = "textile",
    promote: bool = True,
) -> ModelVersion:
    """Register the tiny model as a new version of ``name`` (and promote it to production)."""
    card = ModelCard(
        name=name,
        version=1,
        kind=kind,
        classes=list(CLASSES),
        imgsz=IMGSZ,
        architecture="yolov8n (random weights, calibrated for tests)",
        onnx=OnnxInfo(imgsz=IMGSZ, output_layout=layout, dynamic_batch=True, opset=int(RECIPE["opset"])),
    )
    version = registry.register(card, {"model.onnx": tiny_onnx(layout)})
    if promote:
        registry.promote(name, version.card.version)
    return version


if __name__ == "__main__":
    _layout: OutputLayout = "nms" if sys.argv[1] == "nms" else "raw"
    _out = Path(sys.argv[2])
    _export(_out, _layout).replace(_out / "model.onnx")
