"""On-disk model registry: ``<root>/<name>/<version>/`` with weights, ONNX and ``model_card.json``.

Versions are positive integers (Triton's model-repository convention), stages such as
``production`` are kept in ``<root>/<name>/stages.json``. A version directory, once
registered, is never modified except for its card's ``metrics`` (added by evaluation).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linecheck.errors import RegistryError
from linecheck.model.card import ONNX_FILE, ModelCard

CARD_FILE = "model_card.json"
STAGES_FILE = "stages.json"
WEIGHTS_FILE = "weights.pt"
#: The stage every model is served at under its own name.
SERVED_STAGE = "production"


def served_name(name: str, version: str | int = SERVED_STAGE) -> str:
    """The name Triton serves ``name`` at ``version`` under.

    The name itself at production, else ``<name>--<version>`` (``bearing--staging``, ``bearing--4``):
    how a shadow candidate is served beside the production version, by the repository builder, and
    asked for by the inspector.
    """
    return name if str(version) == SERVED_STAGE else f"{name}--{version}"


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

    @property
    def is_built(self) -> bool:
        """False when the version has its weights and an ONNX card entry but no ONNX file yet."""
        return self.card.onnx is None or self.onnx.is_file() or not self.weights.is_file()


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

    def get(self, name: str, version: str | int = "production", *, built: bool = True) -> ModelVersion:
        """Return a registered version by number, ``latest`` or stage.

        A version committed as its weights only (the ONNX graph is exported at build time, so the
        repository holds one format) is refused with the command that builds it, unless ``built``
        is false (listing, showing and building the registry itself).
        """
        number = self.resolve(name, version)
        path = self.root / name / str(number)
        card_path = path / CARD_FILE
        card = ModelCard.from_dict(json.loads(card_path.read_text(encoding="utf-8")), source=card_path)
        found = ModelVersion(card=card, path=path)
        if built and not found.is_built:
            raise RegistryError(
                f"model {name!r} version {number}: {found.onnx} is not built from {found.weights.name} yet; "
                f"run `linecheck models build` (`make install` does)"
            )
        return found

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
        mv = self.get(name, version, built=False)
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
