"""Triton Python-backend model for the GPU check: torch (CUDA) pre-processing, model, decode + NMS.

``bench/gpu_triton.py`` copies this file to ``<repo>/<model>/1/model.py``. It runs inside
Triton's Python stub (the stub adopts the ``python3`` first on ``PATH`` and its site-packages,
not ``PYTHONPATH``), imports the bench folder named by the ``linecheck.bench_dir`` parameter and
takes the rest from the config's parameters:

* input: letterboxed uint8 BGR frames ``(N, imgsz, imgsz, 3)`` (what the inspector's
  ``TritonDetector`` sends to a ``TYPE_UINT8`` model);
* output: ``nms`` layout, ``(N, max_det, 6)`` rows ``x1 y1 x2 y2 score class`` in input pixels,
  zero rows after the last detection (the client drops rows under its confidence threshold).

Dynamic batching hands ``execute`` several requests; they run as one batch on the device.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np


class TritonPythonModel:
    """Triton's Python-backend entry point (the class name is fixed by Triton)."""

    def initialize(self, args: dict[str, str]) -> None:
        """Load the checkpoint onto this instance's device (GPU instance -> its CUDA device)."""
        import torch

        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in (config.get("parameters") or {}).items()}
        sys.path.insert(0, params["linecheck.bench_dir"])
        from gpu_paths import GpuPipeline
        from gpu_torch_yolo import load_checkpoint

        self.input_name = str(config["input"][0]["name"])
        self.output_name = str(config["output"][0]["name"])
        self.max_det = int(config["output"][0]["dims"][0])
        on_gpu = args.get("model_instance_kind") == "GPU" and torch.cuda.is_available()
        device = f"cuda:{args.get('model_instance_device_id', '0')}" if on_gpu else "cpu"
        half = on_gpu and params.get("linecheck.half", "1") == "1"
        if not on_gpu:
            torch.set_num_threads(int(params.get("linecheck.cpu_threads") or 1))
        net, _ = load_checkpoint(params["linecheck.weights"])
        net = net.to(device)
        net = net.half() if half else net.float()
        self.pipeline = GpuPipeline(
            net,
            device=device,
            imgsz=int(params["linecheck.imgsz"]),
            half=half,
            conf=float(params.get("linecheck.conf") or 0.25),
            iou=float(params.get("linecheck.iou") or 0.45),
            max_det=self.max_det,
        )
        self.torch = torch

    def execute(self, requests: list[Any]) -> list[Any]:
        """Run every request of a dynamic batch as one device batch; answer each with its rows."""
        import triton_python_backend_utils as pb_utils

        arrays = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        sizes = [a.shape[0] for a in arrays]
        try:
            frames = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)
            rows = self.pipeline.detect(frames)
        except Exception as exc:  # one error per request, the model stays up
            error = pb_utils.TritonError(f"gpu_triton_model: {type(exc).__name__}: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        out = np.zeros((len(rows), self.max_det, 6), dtype=np.float32)
        for i, found in enumerate(rows):
            out[i, : len(found)] = found
        responses = []
        start = 0
        for size in sizes:
            tensor = pb_utils.Tensor(self.output_name, out[start : start + size])
            responses.append(pb_utils.InferenceResponse([tensor]))
            start += size
        return responses

    def finalize(self) -> None:
        """Drop the model (and its device memory)."""
        self.pipeline = None
