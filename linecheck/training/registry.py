"""On-disk model registry: ``<root>/<name>/<version>/`` with weights, ONNX and ``model_card.json``.

Versions are positive integers (Triton's model-repository convention), stages such as
``production`` are kept in ``<root>/<name>/stages.json``. A version directory, once
registered, is never modified except for its card's ``metrics`` (added by evaluation).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from linecheck.errors import RegistryError

CARD_FILE = "model_card.json"
STAGES_FILE = "stages.json"
WEIGHTS_FILE = "weights.pt"
ONNX_FILE = "model.onnx"

#: ``raw``: (B, 4 + nc, A) YOLOv8/11 head output, cx cy w h in input pixels then class scores.
#: ``nms``: (B, max_det, 6) rows of x1 y1 x2 y2 score class, NMS done in the graph.
OutputLayout = Literal["raw", "nms"]


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


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    """A registered version: its card and the directory holding its files."""

    card: ModelCard
    path: Path

    @property
    def weights(self) -> Path:
        """PyTorch weights file (may be absent for imported ONNX-only models)."""
        return self.path / WEIGHTS_FILE

    @property
    def onnx(self) -> Path:
        """ONNX graph file."""
        return self.path / (self.card.onnx.file if self.card.onnx else ONNX_FILE)


class Registry:
    """Model registry rooted at a directory (default ``models/`` in the project)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        """Registered model names."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        """Registered versions of ``name``, ascending."""
        base = self.root / name
        if not base.is_dir():
            return []
        return sorted(int(p.name) for p in base.iterdir() if p.name.isdigit() and (p / CARD_FILE).is_file())

    def stages(self, name: str) -> dict[str, int]:
        """Stage name -> version for ``name`` (e.g. ``{"production": 2}``)."""
        path = self.root / name / STAGES_FILE
        if not path.is_file():
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): int(v) for k, v in raw.items()}

    def resolve(self, name: str, version: str | int = "production") -> int:
        """Turn a version number, ``latest`` or a stage name into a version number."""
        versions = self.versions(name)
        if not versions:
            raise RegistryError(f"model {name!r} is not in the registry at {self.root}")
        if isinstance(version, int) or str(version).isdigit():
            number = int(version)
            if number not in versions:
                raise RegistryError(f"model {name!r} has no version {number}; it has {versions}")
            return number
        if version == "latest":
            return versions[-1]
        stages = self.stages(name)
        if version not in stages:
            raise RegistryError(
                f"model {name!r} has no version at stage {version!r}; stages: {stages or 'none'}, "
                f"versions: {versions} (promote one with `linecheck models promote`)"
            )
        return stages[version]

    def get(self, name: str, version: str | int = "production") -> ModelVersion:
        """Return a registered version by number, ``latest`` or stage."""
        number = self.resolve(name, version)
        path = self.root / name / str(number)
        card_path = path / CARD_FILE
        card = ModelCard.from_dict(json.loads(card_path.read_text(encoding="utf-8")), source=card_path)
        return ModelVersion(card=card, path=path)

    def register(self, card: ModelCard, files: dict[str, Path]) -> ModelVersion:
        """Copy ``files`` (target name -> source path) into a new version directory and write the card.

        The card's ``version`` is assigned here (one more than the highest existing version).
        """
        existing = self.versions(card.name)
        card.version = (existing[-1] + 1) if existing else 1
        path = self.root / card.name / str(card.version)
        path.mkdir(parents=True, exist_ok=False)
        for target, source in files.items():
            if not Path(source).is_file():
                shutil.rmtree(path)
                raise RegistryError(f"cannot register {card.name}: file {source} does not exist")
            shutil.copy2(source, path / target)
        (path / CARD_FILE).write_text(card.to_json(), encoding="utf-8")
        return ModelVersion(card=card, path=path)

    def update_metrics(self, name: str, version: int, metrics: dict[str, Any]) -> ModelCard:
        """Merge evaluation ``metrics`` into a version's card."""
        mv = self.get(name, version)
        mv.card.metrics.update(metrics)
        (mv.path / CARD_FILE).write_text(mv.card.to_json(), encoding="utf-8")
        return mv.card

    def promote(self, name: str, version: str | int, stage: str = "production") -> int:
        """Point ``stage`` of ``name`` at ``version``; returns the version number."""
        number = self.resolve(name, version)
        stages = self.stages(name)
        stages[stage] = number
        tmp = self.root / name / (STAGES_FILE + ".tmp")
        tmp.write_text(json.dumps(stages, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.root / name / STAGES_FILE)
        return number
