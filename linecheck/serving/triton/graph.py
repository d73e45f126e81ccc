"""Read an ONNX graph's input/output names and dims, and check them against a model card.

The Triton config and the in-process detector both take their tensor names and dims from
here, so a graph that does not match its card is refused before anything is served.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path

from linecheck.errors import ModelContractError
from linecheck.model.layout import OutputLayout

#: ONNX TensorProto element types linecheck models use, by their Triton names.
_ONNX_DTYPES = {1: "TYPE_FP32", 10: "TYPE_FP16"}


@dataclass(frozen=True, kw_only=True, slots=True)
class TensorSpec:
    """One graph input or output.

    Attributes:
        name: tensor name in the graph.
        dtype: Triton data type name (``TYPE_FP32``).
        dims: full dims including the batch dim; ``-1`` where the graph has a symbolic dim.

    """

    name: str
    dtype: str
    dims: tuple[int, ...]

    @property
    def batch_dim(self) -> int:
        """Batch dim of the graph (``-1`` when dynamic)."""
        return self.dims[0]

    @property
    def item_dims(self) -> tuple[int, ...]:
        """Dims without the batch dim (what Triton's config lists when ``max_batch_size > 0``)."""
        return self.dims[1:]


@dataclass(frozen=True, kw_only=True, slots=True)
class GraphSignature:
    """The single input and single output of a detection graph."""

    input: TensorSpec
    output: TensorSpec
    #: What the exporter wrote into the graph's metadata (Ultralytics: ``imgsz``, ``names``), if anything.
    meta_imgsz: tuple[int, ...] | None = None
    meta_names: tuple[str, ...] | None = None
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def dynamic_batch(self) -> bool:
        """Whether the graph accepts any batch size."""
        return self.input.batch_dim == -1


def graph_batch_limit(signature: GraphSignature, layout: OutputLayout) -> int:
    """Largest batch the graph answers correctly in one run; 0 means any size.

    A fixed-batch graph takes its own batch size. A graph with NMS inside (``nms`` layout) is run
    one image at a time: Ultralytics' in-graph NMS export with a dynamic batch returns detections
    for the first image of a batch only, and dynamic batching in a server would hit exactly that.
    """
    if layout == "nms":
        return 1
    return 0 if signature.dynamic_batch else max(1, signature.input.batch_dim)


def _tensor_spec(value_info: object, path: Path) -> TensorSpec:
    name = str(value_info.name)  # type: ignore[attr-defined]
    tensor_type = value_info.type.tensor_type  # type: ignore[attr-defined]
    elem = int(tensor_type.elem_type)
    if elem not in _ONNX_DTYPES:
        raise ModelContractError(f"{path}: tensor {name!r} has ONNX element type {elem}; expected float32/16")
    dims = tuple(int(d.dim_value) if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim)
    return TensorSpec(name=name, dtype=_ONNX_DTYPES[elem], dims=dims)


def read_signature(path: Path) -> GraphSignature:
    """Read the input and output of the ONNX graph at ``path``.

    Raises:
        ModelContractError: the file is missing, unreadable, or the graph does not have exactly
            one input and one output.

    """
    import onnx  # heavy import kept lazy: only model building needs it

    if not path.is_file():
        raise ModelContractError(f"ONNX file {path} does not exist")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ... for a bad file
        raise ModelContractError(f"{path}: not a readable ONNX model: {exc}") from exc
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    outputs = list(model.graph.output)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelContractError(
            f"{path}: graph has inputs {[i.name for i in inputs]} and outputs {[o.name for o in outputs]}; "
            "expected exactly one of each"
        )
    meta = {str(p.key): str(p.value) for p in model.metadata_props}
    return GraphSignature(
        input=_tensor_spec(inputs[0], path),
        output=_tensor_spec(outputs[0], path),
        meta_imgsz=_meta_imgsz(meta.get("imgsz")),
        meta_names=_meta_names(meta.get("names")),
        meta=meta,
    )


def _meta_imgsz(text: str | None) -> tuple[int, ...] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


def _meta_names(text: str | None) -> tuple[str, ...] | None:
    """Class names from Ultralytics' ``{0: 'a', 1: 'b'}`` metadata (parsed as a literal, never evaluated)."""
    try:
        value = ast.literal_eval(text) if text else None
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict) and sorted(value) == list(range(len(value))):
        return tuple(str(value[i]) for i in range(len(value)))
    return None


def check_signature(
    signature: GraphSignature,
    *,
    source: object,
    input_name: str,
    output_name: str,
    imgsz: int,
    class_names: tuple[str, ...],
    layout: OutputLayout,
) -> None:
    """Refuse a graph whose tensors or embedded metadata do not match what its card declares.

    Raises:
        ModelContractError: naming ``source``, the field, what the card expects and what the graph has.

    """
    inp, out = signature.input, signature.output
    num_classes = len(class_names)
    problems: list[str] = []
    if signature.meta_names is not None and signature.meta_names != class_names:
        problems.append(
            f"graph metadata names classes {list(signature.meta_names)}, card says {list(class_names)}"
        )
    if signature.meta_imgsz is not None and signature.meta_imgsz != (imgsz, imgsz):
        problems.append(f"graph metadata imgsz is {list(signature.meta_imgsz)}, card says {imgsz}")
    if inp.name != input_name:
        problems.append(f"input name is {inp.name!r}, card says {input_name!r}")
    if out.name != output_name:
        problems.append(f"output name is {out.name!r}, card says {output_name!r}")
    if len(inp.dims) != 4 or inp.dims[1] != 3 or any(d not in (-1, imgsz) for d in inp.dims[2:]):
        problems.append(f"input dims are {list(inp.dims)}, card says [batch, 3, {imgsz}, {imgsz}]")
    if inp.batch_dim not in (-1, 1):
        problems.append(f"input batch dim is {inp.batch_dim}; expected dynamic (-1) or 1")
    if len(out.dims) != 3:
        problems.append(f"output dims are {list(out.dims)}; expected 3 dims (batch, ...)")
    elif layout == "raw" and out.dims[1] not in (-1, 4 + num_classes):
        problems.append(
            f"raw output has {out.dims[1]} rows per anchor; "
            f"card's {num_classes} classes need {4 + num_classes}"
        )
    elif layout == "nms" and out.dims[2] not in (-1, 6):
        problems.append(f"nms output rows have {out.dims[2]} values; expected 6 (x1 y1 x2 y2 score class)")
    elif layout == "classify" and out.dims[1:] != (1, num_classes):
        problems.append(
            f"classify output dims are {list(out.dims)}; card's classes need [batch, 1, {num_classes}]"
        )
    elif layout == "anomaly" and num_classes != 1:
        problems.append(f"an anomaly model has one class; card lists {list(class_names)}")
    if problems:
        raise ModelContractError(
            f"{source}: ONNX graph does not match its model card: " + "; ".join(problems)
        )


def check_output_shape(
    shape: tuple[int, ...], *, source: object, num_classes: int, layout: OutputLayout
) -> None:
    """Refuse an output (from a probe run, batch included) that does not have the declared layout."""
    if layout == "raw" and (len(shape) != 3 or shape[1] != 4 + num_classes):
        raise ModelContractError(
            f"{source}: raw output has shape {list(shape)}; "
            f"{num_classes} classes need (batch, {4 + num_classes}, anchors)"
        )
    if layout == "nms" and (len(shape) != 3 or shape[2] != 6):
        raise ModelContractError(
            f"{source}: nms output has shape {list(shape)}; expected (batch, max_det, 6)"
        )
    if layout == "classify" and (len(shape) != 3 or tuple(shape[1:]) != (1, num_classes)):
        raise ModelContractError(
            f"{source}: classify output has shape {list(shape)}; expected (batch, 1, {num_classes})"
        )
    if layout == "anomaly" and (len(shape) != 3 or min(shape[1:]) < 1):
        raise ModelContractError(f"{source}: anomaly output has shape {list(shape)}; expected (batch, h, w)")
