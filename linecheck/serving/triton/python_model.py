"""Triton Python-backend model that runs a version's ``model.onnx`` with ONNX Runtime (CPU).

The repository builder copies this file, unchanged, to ``<repo>/<model>/<version>/model.py``
for the embedded flavour. It runs inside Triton's Python stub, not in linecheck: it imports
only numpy, onnxruntime and ``triton_python_backend_utils``.

The stub bundled with ``nvidia-pytriton`` embeds the system's libpython and ignores
``PYTHONPATH``; it finds numpy and onnxruntime because the launcher puts this environment's
``bin/`` first on ``PATH`` (the stub locates ``python3`` there and adopts its prefix and site-packages).

Dynamic batching hands ``execute`` several requests at once. They are concatenated, run
(in chunks of ``linecheck.batch_limit`` images when the graph cannot take any batch size),
and the output is split back so each request gets the rows of its own images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


class TritonPythonModel:
    """Triton's Python-backend entry point (the class name is fixed by Triton)."""

    def initialize(self, args: dict[str, str]) -> None:
        """Load the version's ONNX graph; read tensor names and limits from the model config."""
        import onnxruntime as ort

        config = json.loads(args["model_config"])
        params = {k: v.get("string_value", "") for k, v in (config.get("parameters") or {}).items()}
        self.model_name = str(config.get("name", ""))
        self.input_name = str(config["input"][0]["name"])
        self.output_name = str(config["output"][0]["name"])
        self.item_dims = tuple(int(d) for d in config["input"][0]["dims"])
        # uint8 input: letterboxed BGR frames (N, H, W, 3), normalised here
        # (see linecheck.model.processing.normalise).
        self.takes_frames = str(config["input"][0].get("data_type", "")) == "TYPE_UINT8"
        self.batch_limit = int(params.get("linecheck.batch_limit") or 0)
        version_dir = Path(args["model_repository"]) / args["model_version"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("linecheck.intra_op_threads") or 0)
        options.inter_op_num_threads = 1
        # A spinning worker thread burns the core another instance or the client needs (bench/RESULTS.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(version_dir / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.graph_input = self.session.get_inputs()[0].name
        self.input_dtype = np.float16 if "float16" in self.session.get_inputs()[0].type else np.float32

    def _model_input(self, array: np.ndarray) -> np.ndarray:
        """The graph's input for one request's images (same arithmetic as the client's ``normalise``)."""
        if not self.takes_frames:
            return array.astype(self.input_dtype, copy=False)
        out = np.empty((array.shape[0], 3, array.shape[1], array.shape[2]), dtype=np.float32)
        np.multiply(array[..., ::-1].transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=out)
        return out.astype(self.input_dtype, copy=False)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        step = self.batch_limit or batch.shape[0]
        parts = [
            np.asarray(self.session.run(None, {self.graph_input: batch[i : i + step]})[0])
            for i in range(0, batch.shape[0], step)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def execute(self, requests: list[Any]) -> list[Any]:
        """Answer every request of a dynamic batch with the output rows of its own images."""
        import triton_python_backend_utils as pb_utils

        responses: list[Any] = [None] * len(requests)
        arrays: list[np.ndarray] = []
        owners: list[int] = []
        for index, request in enumerate(requests):
            tensor = pb_utils.get_input_tensor_by_name(request, self.input_name)
            array = None if tensor is None else tensor.as_numpy()
            if array is None or array.ndim != 1 + len(self.item_dims) or array.shape[1:] != self.item_dims:
                shape = None if array is None else list(array.shape)
                message = (
                    f"{self.model_name}: input {self.input_name!r} has shape {shape}; "
                    f"expected [N, *{list(self.item_dims)}]"
                )
                responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
                continue
            arrays.append(self._model_input(array))
            owners.append(index)
        if arrays:
            sizes = [a.shape[0] for a in arrays]
            try:
                output = self._run(np.concatenate(arrays, axis=0))
                if output.shape[0] != sum(sizes):
                    raise RuntimeError(f"graph returned {output.shape[0]} results for {sum(sizes)} images")
            except Exception as exc:  # report it on each request instead of failing the whole model
                for index in owners:
                    message = f"{self.model_name}: ONNX Runtime failed: {exc}"
                    responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
                return responses
            start = 0
            for index, size in zip(owners, sizes, strict=True):
                rows = np.ascontiguousarray(output[start : start + size], dtype=np.float32)
                responses[index] = pb_utils.InferenceResponse([pb_utils.Tensor(self.output_name, rows)])
                start += size
        return responses

    def finalize(self) -> None:
        """Release the ONNX Runtime session."""
        self.session = None
