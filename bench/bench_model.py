"""The one model every path of a pipeline benchmark runs: a registry version, or a cached stand-in.

A registry version (``models/<name>/`` by default: the starter models) is used when it has both
``weights.pt`` (for Ultralytics) and its ONNX export (for ONNX Runtime and Triton). Without one,
a stand-in is built once: Ultralytics' ``yolov8n.yaml`` with 4 classes and its initial (untrained)
weights, saved as ``weights.pt``, exported with linecheck's own exporter and registered in a
private registry under ``var/bench/models/`` (cached by Ultralytics version and input size).
Untrained weights find nothing, so post-processing is cheaper than with a trained model: the
result says which model ran.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linecheck.config import PROJECT_ROOT
from linecheck.errors import RegistryError
from linecheck.kinds import Kind, get_kind
from linecheck.model.card import ModelCard, OnnxInfo
from linecheck.model.registry import ModelVersion, Registry

BENCH_DIR = PROJECT_ROOT / "var" / "bench"
STANDIN_NAME = "bench"


@dataclass(frozen=True, kw_only=True)
class BenchModel:
    """A registered model with both a PyTorch checkpoint and an ONNX graph."""

    registry: Registry
    version: ModelVersion
    origin: str

    @property
    def name(self) -> str:
        """Registry name."""
        return self.version.card.name

    @property
    def imgsz(self) -> int:
        """Square input size of the ONNX graph (and of the Ultralytics predict calls)."""
        card = self.version.card
        return card.onnx.imgsz if card.onnx else card.imgsz

    @property
    def classes(self) -> list[str]:
        """Class names, in id order."""
        return list(self.version.card.classes)

    @property
    def weights(self) -> Path:
        """Ultralytics checkpoint."""
        return self.version.weights

    @property
    def onnx(self) -> Path:
        """ONNX graph."""
        return self.version.onnx

    def describe(self) -> str:
        """``textile v1 (registry models/), imgsz 320, raw output``."""
        card = self.version.card
        layout = card.onnx.output_layout if card.onnx else "?"
        return f"{card.name} v{card.version} ({self.origin}), imgsz {self.imgsz}, {layout} output"


def from_registry(root: Path, name: str, version: str = "production") -> BenchModel | None:
    """The registry's ``name`` at ``version`` if it has weights and a raw-layout ONNX export, else None."""
    registry = Registry(root)
    try:
        found = registry.get(name, version)
    except RegistryError:
        return None
    card = found.card
    usable = (
        found.weights.is_file()
        and found.onnx.is_file()
        and card.onnx is not None
        and card.onnx.output_layout == "raw"
    )
    return BenchModel(registry=registry, version=found, origin=f"registry {root}") if usable else None


def _build_standin(workdir: Path, imgsz: int, classes: list[str]) -> tuple[Path, Path]:
    """Write ``weights.pt`` (yolov8n, untrained, ``len(classes)`` classes) and export ``model.onnx``."""
    import yaml

    from linecheck.training.export import export_onnx
    from linecheck.training.offline import prepare_ultralytics

    prepare_ultralytics()
    from ultralytics import YOLO
    from ultralytics.utils import ROOT as UL_ROOT

    spec = yaml.safe_load((UL_ROOT / "cfg" / "models" / "v8" / "yolov8.yaml").read_text())
    spec["nc"] = len(classes)
    arch = workdir / "bench-yolov8n.yaml"  # the "n" before ".yaml" picks the nano scale
    arch.write_text(yaml.safe_dump(spec))
    yolo = YOLO(str(arch))
    net: Any = yolo.model
    net.names = dict(enumerate(classes))
    weights = workdir / "weights.pt"
    yolo.save(str(weights))
    exported = export_onnx(weights, workdir, imgsz=imgsz)
    return weights, exported.path


def standin(imgsz: int, kind: Kind = Kind.TEXTILE, cache: Path = BENCH_DIR / "models") -> BenchModel:
    """The cached stand-in model (yolov8n, untrained) at ``imgsz``, built on first use."""
    import ultralytics

    classes = list(get_kind(kind).classes)
    root = cache / f"ultralytics-{ultralytics.__version__}-yolov8n-{kind.value}-{imgsz}"
    found = from_registry(root, STANDIN_NAME, "latest")
    if found is not None:
        return found
    shutil.rmtree(root, ignore_errors=True)
    work = root / "build"
    work.mkdir(parents=True)
    weights, onnx = _build_standin(work, imgsz, classes)
    card = ModelCard(
        name=STANDIN_NAME,
        version=1,
        kind=kind.value,
        classes=classes,
        imgsz=imgsz,
        architecture="yolov8n (untrained stand-in for benchmarks)",
        onnx=OnnxInfo(imgsz=imgsz, output_layout="raw", dynamic_batch=True),
    )
    registry = Registry(root)
    version = registry.register(card, {"weights.pt": weights, "model.onnx": onnx})
    registry.promote(STANDIN_NAME, version.card.version)
    shutil.rmtree(work, ignore_errors=True)
    return BenchModel(registry=registry, version=version, origin=f"stand-in {root}")


def resolve(name: str, *, registry_root: Path, imgsz: int) -> BenchModel:
    """The registry model ``name`` when usable, else the stand-in at ``imgsz`` with ``name``'s classes."""
    found = from_registry(registry_root, name)
    if found is not None:
        return found
    kind = Kind(name) if name in {k.value for k in Kind} else Kind.TEXTILE
    return standin(imgsz, kind)
