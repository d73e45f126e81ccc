"""In-process ONNX Runtime detector: same pre/post-processing as Triton, no server.

Useful on a machine without Triton, in tests, and as the reference the Triton path is
checked against (both must give identical detections for the same frames).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from linecheck.errors import InferenceError, ModelContractError
from linecheck.messages import Detections
from linecheck.model.layout import OutputLayout
from linecheck.model.processing import DecodeOptions, postprocess, preprocess
from linecheck.model.registry import ModelVersion
from linecheck.serving.triton.graph import (
    GraphSignature,
    check_output_shape,
    check_signature,
    graph_batch_limit,
    read_signature,
)

if TYPE_CHECKING:
    import onnxruntime


class OnnxDetector:
    """Run a registered (or any) YOLO ONNX graph with ONNX Runtime on the CPU.

    Implements :class:`linecheck.model.detector.Detector`.
    """

    def __init__(
        self,
        onnx_path: Path,
        *,
        class_names: Sequence[str],
        imgsz: int,
        output_layout: OutputLayout = "raw",
        model_name: str = "",
        model_version: str = "",
        options: DecodeOptions | None = None,
        intra_op_threads: int = 0,
        input_name: str = "images",
        output_name: str = "output0",
        native_tile: int = 0,
    ) -> None:
        """Load ``onnx_path`` and check its tensors against the declared classes, size and layout.

        Raises:
            ModelContractError: the graph is unreadable or does not match the declaration.

        """
        self._path = Path(onnx_path)
        self._names = tuple(class_names)
        self._imgsz = imgsz
        self._layout: OutputLayout = output_layout
        self._model_name = model_name or self._path.stem
        self._model_version = model_version
        self._native_tile = native_tile
        self._options = options or DecodeOptions()
        self._signature: GraphSignature = read_signature(self._path)
        check_signature(
            self._signature,
            source=self._path,
            input_name=input_name,
            output_name=output_name,
            imgsz=imgsz,
            class_names=self._names,
            layout=output_layout,
        )
        self._session: onnxruntime.InferenceSession | None = self._open(intra_op_threads)
        # Probe once with a blank image so a wrong layout fails here, not at the first frame.
        probe = self.infer(np.zeros((1, 3, imgsz, imgsz), np.float32))
        check_output_shape(probe.shape, source=self._path, num_classes=len(self._names), layout=output_layout)
        self._output_dims: tuple[int, ...] = tuple(int(d) for d in probe.shape[1:])

    @classmethod
    def from_registry(
        cls, version: ModelVersion, *, options: DecodeOptions | None = None, intra_op_threads: int = 0
    ) -> OnnxDetector:
        """Build a detector from a registry version, taking names and layout from its card."""
        card = version.card
        if card.onnx is None:
            raise ModelContractError(
                f"{version.path}: model card has no 'onnx' section; export the model first"
            )
        return cls(
            version.onnx,
            class_names=card.classes,
            imgsz=card.onnx.imgsz,
            output_layout=card.onnx.output_layout,
            model_name=card.name,
            model_version=str(card.version),
            options=options,
            intra_op_threads=intra_op_threads,
            input_name=card.onnx.input_name,
            output_name=card.onnx.output_name,
            native_tile=card.native_tile,
        )

    def _open(self, intra_op_threads: int) -> onnxruntime.InferenceSession:
        import onnxruntime as ort  # lazy: importing it costs a second

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        try:
            return ort.InferenceSession(
                str(self._path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelContractError(f"{self._path}: ONNX Runtime cannot load the graph: {exc}") from exc

    @property
    def class_names(self) -> tuple[str, ...]:
        """The model's class list, in class-id order."""
        return self._names

    @property
    def model_name(self) -> str:
        """Name of the model (registry name, or the file stem)."""
        return self._model_name

    @property
    def model_version(self) -> str:
        """Registry version of the loaded graph ('' when built from a bare file)."""
        return self._model_version

    @property
    def native_tile(self) -> int:
        """Tile side the model was trained on (from its card; 0: whole frames)."""
        return self._native_tile

    @property
    def imgsz(self) -> int:
        """Square input size the images are letterboxed to."""
        return self._imgsz

    @property
    def signature(self) -> GraphSignature:
        """Input/output names and dims as read from the graph."""
        return self._signature

    @property
    def output_dims(self) -> tuple[int, ...]:
        """Output dims for one image at ``imgsz`` (batch excluded), as measured by the start-up probe."""
        return self._output_dims

    @property
    def batch_limit(self) -> int:
        """Largest batch one graph run handles correctly (0: any); see ``graph.graph_batch_limit``."""
        return graph_batch_limit(self._signature, self._layout)

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the graph on a pre-processed batch ``(N, 3, imgsz, imgsz)``; returns the raw output batch."""
        if self._session is None:
            raise InferenceError(f"detector for {self._path} is closed")
        expected = (3, self._imgsz, self._imgsz)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected or batch.dtype != np.float32:
            raise ModelContractError(
                f"input for {self._model_name} has shape {batch.shape} dtype {batch.dtype}; "
                f"expected (N, {', '.join(map(str, expected))}) float32"
            )
        # Fixed-batch graphs and graphs with NMS inside take the images one at a time.
        step = graph_batch_limit(self._signature, self._layout) or batch.shape[0]
        inp = self._signature.input.name
        if self._signature.input.dtype == "TYPE_FP16":
            batch = batch.astype(np.float16)
        parts = [
            np.asarray(self._session.run(None, {inp: batch[i : i + step]})[0], dtype=np.float32)
            for i in range(0, batch.shape[0], step)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Return one :class:`Detections` per BGR image, boxes in that image's pixels."""
        batch, placements = preprocess(images, self._imgsz)
        return postprocess(self.infer(batch), placements, self._names, self._layout, self._options)

    def close(self) -> None:
        """Drop the ONNX Runtime session."""
        self._session = None
