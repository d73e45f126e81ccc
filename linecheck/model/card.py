"""The model card: everything recorded about one registered version, and the facts of its ONNX graph."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from linecheck.errors import RegistryError
from linecheck.model.layout import OutputLayout

#: File name of the ONNX graph inside a version directory (unless the card names another).
ONNX_FILE = "model.onnx"


@dataclass(kw_only=True)
class OnnxInfo:
    """What a server and a client need to know about the exported graph.

    ``fp16``: weights in float16. ``int8``: statically quantized (QDQ, INT8 weights, UINT8
    activations, see :mod:`linecheck.training.quantize`). Inputs and outputs stay float32 either way.
    """

    file: str = ONNX_FILE
    input_name: str = "images"
    output_name: str = "output0"
    imgsz: int = 640
    dynamic_batch: bool = True
    output_layout: OutputLayout = "raw"
    fp16: bool = False
    opset: int = 17
    int8: bool = False


@dataclass(kw_only=True)
class ModelCard:
    """Everything recorded about one registered model version."""

    name: str
    version: int
    kind: str
    classes: list[str]
    imgsz: int
    architecture: str = ""
    onnx: OnnxInfo | None = None
    dataset: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    git_commit: str = ""

    @property
    def native_tile(self) -> int:
        """Tile side the model was trained on (``training.options.tile``, set by ``--tile``); 0: whole frames.

        A line that runs the model without a ``tile:`` of its own cuts frames into tiles of this size.
        """
        options = self.training.get("options")
        tile = options.get("tile", 0) if isinstance(options, dict) else 0
        return tile if isinstance(tile, int) and tile > 0 else 0

    def to_json(self) -> str:
        """Serialise the card as pretty JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: object = "<card>") -> ModelCard:
        """Build a card from parsed JSON, naming ``source`` and the field on error."""
        try:
            onnx_raw = raw.get("onnx")
            data = dict(raw)
            data["onnx"] = OnnxInfo(**onnx_raw) if onnx_raw else None
            card = cls(**data)
        except TypeError as exc:
            raise RegistryError(f"{source}: invalid model card: {exc}") from exc
        if not card.classes:
            raise RegistryError(f"{source}: model card has an empty 'classes' list")
        if card.version < 1:
            raise RegistryError(f"{source}: model card version={card.version!r}, expected >= 1")
        return card
