"""The served model's contract, stored in Triton's model config ``parameters`` and checked by clients.

YOLO on Triton loses what is not in the config: the class list and the output layout live in
the registry card, not in the ONNX tensors. The repository builder writes them as
``linecheck.*`` parameters; :class:`~linecheck.serving.triton.client.TritonDetector` reads them
back at start-up and refuses to run when they differ from what it was built for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from linecheck.errors import ModelContractError
from linecheck.model.layout import OUTPUT_LAYOUTS, OutputLayout

PARAM_CLASSES = "linecheck.classes"
PARAM_LAYOUT = "linecheck.output_layout"
PARAM_IMGSZ = "linecheck.imgsz"
PARAM_KIND = "linecheck.kind"
PARAM_VERSION = "linecheck.registry_version"
#: Tile side the model was trained on (0 or absent: whole frames); a line without ``tile:`` uses it.
PARAM_TILE = "linecheck.tile"
#: Largest batch one graph run answers correctly (0: any); read by the Python-backend model.
PARAM_BATCH_LIMIT = "linecheck.batch_limit"
#: ONNX Runtime intra-op threads per model instance (Python backend).
PARAM_THREADS = "linecheck.intra_op_threads"

_LAYOUTS: tuple[OutputLayout, ...] = OUTPUT_LAYOUTS


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelContract:
    """What a client must agree with before sending a frame.

    Attributes:
        classes: class names in class-id order.
        output_layout: ``raw`` head output or ``nms`` rows (see the registry's ``OutputLayout``).
        imgsz: square input size.
        kind: line kind the model was trained for.
        registry_version: registry version the served files came from.
        input_name: name of the image input tensor.
        output_name: name of the output tensor.
        input_dtype: Triton data type of the input: ``TYPE_UINT8`` for letterboxed BGR frames
            ``(imgsz, imgsz, 3)`` (the embedded server normalises them), or ``TYPE_FP32`` /
            ``TYPE_FP16`` for the normalised RGB model input ``(3, imgsz, imgsz)``.
        max_batch_size: most images per request the server accepts.
        tile: tile side the model was trained on, from its card (0: whole frames).

    """

    classes: tuple[str, ...]
    output_layout: OutputLayout
    imgsz: int
    kind: str = ""
    registry_version: int = 0
    input_name: str = "images"
    output_name: str = "output0"
    input_dtype: str = "TYPE_FP32"
    max_batch_size: int = 1
    tile: int = 0

    @property
    def takes_frames(self) -> bool:
        """True when the server takes letterboxed uint8 frames rather than the float model input."""
        return self.input_dtype == "TYPE_UINT8"

    @property
    def item_shape(self) -> tuple[int, int, int]:
        """Shape of one image of a request."""
        return (self.imgsz, self.imgsz, 3) if self.takes_frames else (3, self.imgsz, self.imgsz)

    def parameters(self) -> dict[str, str]:
        """The ``linecheck.*`` config parameters that carry this contract."""
        return {
            PARAM_CLASSES: json.dumps(list(self.classes)),
            PARAM_LAYOUT: self.output_layout,
            PARAM_IMGSZ: str(self.imgsz),
            PARAM_KIND: self.kind,
            PARAM_VERSION: str(self.registry_version),
            PARAM_TILE: str(self.tile),
        }

    def mismatches(
        self,
        *,
        classes: Sequence[str] | None = None,
        imgsz: int | None = None,
        output_layout: OutputLayout | None = None,
    ) -> list[str]:
        """Describe each way this (served) contract differs from what a client expects; empty if none."""
        problems: list[str] = []
        if classes is not None and tuple(classes) != self.classes:
            problems.append(f"classes: expected {list(classes)}, served {list(self.classes)}")
        if imgsz is not None and imgsz != self.imgsz:
            problems.append(f"imgsz: expected {imgsz}, served {self.imgsz}")
        if output_layout is not None and output_layout != self.output_layout:
            problems.append(f"output_layout: expected {output_layout!r}, served {self.output_layout!r}")
        return problems


def _string_params(config: Mapping[str, Any]) -> dict[str, str]:
    raw = config.get("parameters") or {}
    return {
        str(k): str(v.get("string_value", "")) if isinstance(v, Mapping) else str(v) for k, v in raw.items()
    }


def contract_from_config(config: Mapping[str, Any], *, source: str) -> ModelContract:
    """Read the contract from a model config as JSON (``get_model_config(..., as_json=True)``).

    Raises:
        ModelContractError: naming ``source`` and the missing or malformed parameter / tensor.

    """
    params = _string_params(config)
    missing = [k for k in (PARAM_CLASSES, PARAM_LAYOUT, PARAM_IMGSZ) if not params.get(k)]
    if missing:
        raise ModelContractError(
            f"{source}: model config has no {', '.join(missing)} parameter(s); it was not built by "
            "`linecheck serve triton` (class names and output layout would be guessed, refusing)"
        )
    try:
        classes = json.loads(params[PARAM_CLASSES])
        imgsz = int(params[PARAM_IMGSZ])
        version = int(params.get(PARAM_VERSION) or 0)
        tile = max(0, int(params.get(PARAM_TILE) or 0))
    except ValueError as exc:
        raise ModelContractError(f"{source}: malformed linecheck parameter in model config: {exc}") from exc
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ModelContractError(
            f"{source}: {PARAM_CLASSES}={params[PARAM_CLASSES]!r}, expected a JSON list of names"
        )
    layout = params[PARAM_LAYOUT]
    if layout not in _LAYOUTS:
        raise ModelContractError(f"{source}: {PARAM_LAYOUT}={layout!r}, expected one of {list(_LAYOUTS)}")
    inputs, outputs = config.get("input") or [], config.get("output") or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelContractError(
            f"{source}: model config has {len(inputs)} inputs and {len(outputs)} outputs; "
            "expected one of each"
        )
    dims = [int(d) for d in inputs[0].get("dims") or []]
    dtype = str(inputs[0].get("data_type", "TYPE_FP32"))
    expected = [imgsz, imgsz, 3] if dtype == "TYPE_UINT8" else [3, imgsz, imgsz]
    if dims != expected:
        raise ModelContractError(
            f"{source}: input {inputs[0].get('name')!r} ({dtype}) has dims {dims}; "
            f"{PARAM_IMGSZ}={imgsz} needs {expected}"
        )
    return ModelContract(
        classes=tuple(classes),
        output_layout=next(known for known in _LAYOUTS if known == layout),
        imgsz=imgsz,
        kind=params.get(PARAM_KIND, ""),
        registry_version=version,
        input_name=str(inputs[0].get("name", "")),
        output_name=str(outputs[0].get("name", "")),
        input_dtype=dtype,
        max_batch_size=max(1, int(config.get("max_batch_size", 0) or 0)),
        tile=tile,
    )
