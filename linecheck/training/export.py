"""Export trained weights to ONNX (dynamic batch, optional fp16 / in-graph NMS) and TensorRT.

ONNX export always runs on the CPU so that the graph's inputs and outputs stay float32 even
with ``fp16`` (weights are converted, I/O types kept): Triton and the ONNX Runtime client see
one contract whatever the export options. TensorRT engines are built only on a CUDA host.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from linecheck.errors import ExportError, InvalidFieldError
from linecheck.model.card import ONNX_FILE, OnnxInfo
from linecheck.model.registry import Registry
from linecheck.training.offline import prepare_ultralytics

#: Lowest opset that holds in-graph NMS; Triton's ONNX Runtime backend reads up to 21 at least.
MIN_OPSET, MAX_OPSET = 11, 21
ENGINE_FILE = "model.plan"


@dataclass(frozen=True, kw_only=True)
class ExportedOnnx:
    """An exported ONNX file and what was read back from its graph."""

    path: Path
    info: OnnxInfo
    input_shape: tuple[str | int, ...]
    output_shape: tuple[str | int, ...]


def _dims(value_info: object) -> tuple[str | int, ...]:
    shape = value_info.type.tensor_type.shape  # type: ignore[attr-defined]
    return tuple(d.dim_param or d.dim_value for d in shape.dim)


def read_onnx_info(path: Path, *, imgsz: int, fp16: bool, opset: int, nms: bool) -> ExportedOnnx:
    """Read the input/output names and shapes back from an ONNX file and check the batch is dynamic."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # onnx raises several unrelated types for a bad file
        raise ExportError(f"{path}: not a readable ONNX model: {exc}") from exc
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or not graph.output:
        raise ExportError(
            f"{path}: expected one image input and an output, got inputs {[i.name for i in inputs]} "
            f"and outputs {[o.name for o in graph.output]}"
        )
    input_shape, output_shape = _dims(inputs[0]), _dims(graph.output[0])
    dynamic = isinstance(input_shape[0], str) and isinstance(output_shape[0], str)
    info = OnnxInfo(
        file=path.name,
        input_name=inputs[0].name,
        output_name=graph.output[0].name,
        imgsz=imgsz,
        dynamic_batch=dynamic,
        output_layout="nms" if nms else "raw",
        fp16=fp16,
        opset=opset,
    )
    return ExportedOnnx(path=path, info=info, input_shape=input_shape, output_shape=output_shape)


def _check_options(imgsz: int, opset: int, max_batch: int) -> None:
    if imgsz < 32 or imgsz % 32:
        raise InvalidFieldError("imgsz", imgsz, "expected a multiple of 32, at least 32")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise InvalidFieldError("opset", opset, f"expected {MIN_OPSET}..{MAX_OPSET}")
    if max_batch < 1:
        raise InvalidFieldError("max_batch", max_batch, "expected >= 1")


def export_onnx(
    weights: Path,
    out_dir: Path,
    *,
    imgsz: int,
    opset: int = 17,
    fp16: bool = False,
    nms: bool = False,
    max_batch: int = 16,
    filename: str = ONNX_FILE,
) -> ExportedOnnx:
    """Export ``weights`` to ``out_dir/filename`` with a dynamic batch axis.

    Args:
        weights: an Ultralytics detection checkpoint.
        out_dir: folder for the ONNX file (created).
        imgsz: square input size the graph is traced at.
        opset: ONNX opset.
        fp16: convert weights to float16 (inputs/outputs stay float32).
        nms: put NMS in the graph (output ``(B, 300, 6)``); the batch is then at most ``max_batch``.
        max_batch: largest batch the in-graph NMS handles (ignored without ``nms``).
        filename: name of the written file.

    """
    _check_options(imgsz, opset, max_batch)
    weights = Path(weights)
    if not weights.is_file():
        raise ExportError(f"weights file {weights} does not exist")
    prepare_ultralytics()
    from ultralytics import YOLO

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="linecheck-export-") as tmp:
        local = Path(tmp) / "model.pt"  # Ultralytics writes the export next to the weights
        shutil.copyfile(weights, local)
        # ONNX Runtime's fp16 shape inference writes scratch files into the working directory.
        try:
            with contextlib.chdir(tmp):
                produced = YOLO(str(local)).export(
                    format="onnx",
                    imgsz=imgsz,
                    dynamic=True,
                    batch=max_batch,
                    opset=opset,
                    quantize=16 if fp16 else None,
                    simplify=False,  # onnxslim is not a dependency; the raw graph runs as fast in ORT
                    nms=nms,
                    device="cpu",
                    verbose=False,
                )
        except Exception as exc:  # Ultralytics wraps exporter failures in generic exceptions
            raise ExportError(f"ONNX export of {weights} failed: {exc}") from exc
        target = out_dir / filename
        shutil.move(str(produced), target)
    exported = read_onnx_info(target, imgsz=imgsz, fp16=fp16, opset=opset, nms=nms)
    if not exported.info.dynamic_batch:
        raise ExportError(f"{target}: batch axis is not dynamic (input {exported.input_shape})")
    return exported


def export_engine(
    weights: Path,
    out_dir: Path,
    *,
    imgsz: int,
    fp16: bool = True,
    max_batch: int = 16,
    workspace_gb: float = 4.0,
) -> Path:
    """Build a TensorRT engine (``model.plan``) with a dynamic batch up to ``max_batch``; CUDA hosts only."""
    _check_options(imgsz, 17, max_batch)
    import torch

    if not torch.cuda.is_available():
        raise ExportError(
            "TensorRT export needs a CUDA GPU; this host has none (torch.cuda.is_available() is False)"
        )
    try:
        import tensorrt  # noqa: F401
    except ImportError as exc:
        raise ExportError(
            "TensorRT export needs the 'tensorrt' Python package (pip install tensorrt on the GPU host); "
            "linecheck never installs packages at run time"
        ) from exc
    prepare_ultralytics()
    from ultralytics import YOLO

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="linecheck-engine-") as tmp:
        local = Path(tmp) / "model.pt"
        shutil.copyfile(weights, local)
        try:
            with contextlib.chdir(tmp):
                produced = YOLO(str(local)).export(
                    format="engine",
                    imgsz=imgsz,
                    dynamic=True,
                    batch=max_batch,
                    quantize=16 if fp16 else None,
                    simplify=False,
                    workspace=workspace_gb,
                    device=0,
                    verbose=False,
                )
        except Exception as exc:  # Ultralytics wraps exporter failures in generic exceptions
            raise ExportError(f"TensorRT export of {weights} failed: {exc}") from exc
        target = out_dir / ENGINE_FILE
        shutil.move(str(produced), target)
    return target


def build_registry_onnx(registry: Registry) -> list[ExportedOnnx]:
    """Export the ONNX graph of every registered version that holds only its weights.

    The repository commits one format per model (``weights.pt``, float16); the graph a server
    runs is exported here, at build time, with the options its card records, and checked against
    the card (names, dynamic batch). Versions that already have their graph are left alone.
    """
    built: list[ExportedOnnx] = []
    for name in registry.names():
        for number in registry.versions(name):
            version = registry.get(name, number, built=False)
            spec = version.card.onnx
            if spec is None or version.is_built:
                continue
            if spec.output_layout not in ("raw", "nms"):
                raise ExportError(
                    f"{name} v{number}: a {spec.output_layout!r} model is committed with its ONNX graph; "
                    f"only detectors are rebuilt from {version.weights.name}"
                )
            exported = export_onnx(
                version.weights,
                version.path,
                imgsz=spec.imgsz,
                opset=spec.opset,
                fp16=spec.fp16,
                nms=spec.output_layout == "nms",
                filename=spec.file,
            )
            got = exported.info
            if (got.input_name, got.output_name) != (spec.input_name, spec.output_name) or (
                got.dynamic_batch != spec.dynamic_batch
            ):
                exported.path.unlink()
                raise ExportError(
                    f"{name} v{number}: the graph built from {version.weights.name} does not match its card "
                    f"(input {got.input_name!r}, output {got.output_name!r}, "
                    f"dynamic batch {got.dynamic_batch}; card: {spec.input_name!r}, {spec.output_name!r}, "
                    f"{spec.dynamic_batch})"
                )
            built.append(exported)
    return built
