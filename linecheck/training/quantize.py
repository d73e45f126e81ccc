"""INT8 static quantization of an exported YOLO graph, for CPU serving.

ONNX Runtime static quantization in QDQ format: per-channel INT8 weights, UINT8 activations,
calibrated on real frames pre-processed exactly as serving does
(:func:`linecheck.model.processing.preprocess`). The Detect head's decoding nodes stay
in float (see :func:`head_decoding_nodes`). The quantizer keeps the exporter's metadata (imgsz,
names) that serving checks against the card. The graph's input and output stay float32, so
Triton's config, the embedded Python backend and :class:`OnnxDetector` see the same contract
as for the FP32 export.

Whether the result is good enough is decided elsewhere (:mod:`linecheck.training.int8_export`
evaluates both graphs); this module only builds it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from linecheck.errors import DatasetError, ExportError, InvalidFieldError
from linecheck.model.processing import preprocess

#: Names the quantization settings; bumped whenever they change (cache keys, model cards).
RECIPE = "int8-qdq-headfloat1"
#: Calibration images ``linecheck export-int8`` takes from the train split by default.
DEFAULT_CALIBRATION_IMAGES = 64
_SAMPLE_SEED = 0


def head_decoding_nodes(graph: Any) -> list[str]:
    """Nodes of the Detect head after its convolution branches: DFL, anchors, concat, sigmoid.

    They mix box coordinates (0..imgsz) and class scores (0..1) in one tensor, which no single
    8-bit scale holds: quantized, every score is lost. They stay in float (a small share of the work).

    Raises:
        ExportError: the graph has no ``/model.<i>/`` nodes (not an Ultralytics YOLO export).

    """
    indices = [int(n.name.split("/")[1].split(".")[1]) for n in graph.node if n.name.startswith("/model.")]
    if not indices:
        raise ExportError("graph has no '/model.<i>/' nodes; expected an Ultralytics YOLO ONNX export")
    head = f"/model.{max(indices)}/"
    return [n.name for n in graph.node if n.name.startswith(head) and not n.name.startswith(head + "cv")]


def calibration_paths(paths: Sequence[Path], count: int = DEFAULT_CALIBRATION_IMAGES) -> list[Path]:
    """A deterministic sample of ``count`` images (all of them when there are fewer), in name order."""
    if count < 1:
        raise InvalidFieldError("calib_images", count, "expected at least 1 calibration image")
    ordered = sorted(paths)
    if len(ordered) <= count:
        return ordered
    picked = np.random.default_rng(_SAMPLE_SEED).choice(len(ordered), size=count, replace=False)
    return [ordered[i] for i in sorted(int(i) for i in picked)]


def read_images(paths: Sequence[Path]) -> list[npt.NDArray[np.uint8]]:
    """Read BGR images; an unreadable file is an error, never skipped."""
    images: list[npt.NDArray[np.uint8]] = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError("cannot read calibration image", path=path)
        images.append(np.asarray(image, dtype=np.uint8))
    return images


def _batches(
    images: Sequence[npt.NDArray[np.uint8]], imgsz: int, input_name: str
) -> Iterator[dict[str, npt.NDArray[np.float32]]]:
    for image in images:
        yield {input_name: preprocess([image], imgsz)[0]}


def quantize_int8(
    source_onnx: Path, target: Path, calibration_images: Sequence[npt.NDArray[np.uint8]], imgsz: int
) -> None:
    """Write an INT8 (QDQ) version of the FP32 graph ``source_onnx`` to ``target``.

    Args:
        source_onnx: an FP32 Ultralytics YOLO export (``raw`` layout).
        target: the quantized graph's path (its folder is created).
        calibration_images: uint8 BGR frames, one calibration step each.
        imgsz: the graph's square input size.

    Raises:
        InvalidFieldError: no calibration images.
        ExportError: the source is unreadable or ONNX Runtime's quantizer failed.

    """
    if not calibration_images:
        raise InvalidFieldError("calibration_images", 0, "expected at least one calibration image")
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source_onnx, target = Path(source_onnx).resolve(), Path(target).resolve()
    try:
        source_model = onnx.load(str(source_onnx), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ... for a bad file
        raise ExportError(f"{source_onnx}: not a readable ONNX model: {exc}") from exc
    input_name = source_model.graph.input[0].name

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = _batches(calibration_images, imgsz, input_name)

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            return next(self._batches, None)

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="linecheck-int8-") as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "quantized.onnx"
        # The quantizer writes augmented graphs and calibration scratch files into the working directory.
        try:
            with contextlib.chdir(tmp):
                quant_pre_process(str(source_onnx), str(prepared), skip_symbolic_shape=True)
                excluded = head_decoding_nodes(onnx.load(str(prepared), load_external_data=False).graph)
                quantize_static(
                    str(prepared),
                    str(quantized),
                    Frames(),
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    nodes_to_exclude=excluded,
                )
        except ExportError:
            raise
        except Exception as exc:  # the quantizer raises plain exceptions for graphs it cannot handle
            raise ExportError(f"INT8 quantization of {source_onnx} failed: {exc}") from exc
        shutil.move(str(quantized), target)
