"""What the classification and anomaly tasks share: image folders, batches, ONNX export, parity, registration.

Both tasks train a PyTorch module that takes the serving input (letterboxed RGB in [0, 1],
``(N, 3, imgsz, imgsz)``, made by :func:`linecheck.model.processing.preprocess`) and returns the
declared output layout, so ONNX Runtime, Triton and the PyTorch module answer the same tensors.
"""

from __future__ import annotations

import dataclasses
import random
import shlex
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from linecheck.datasets.images import read_image
from linecheck.errors import DatasetError, ExportError
from linecheck.model.card import ModelCard, OnnxInfo
from linecheck.model.layout import OutputLayout
from linecheck.model.processing import letterbox_batch, normalise
from linecheck.model.registry import WEIGHTS_FILE, ModelVersion, Registry
from linecheck.training.parity import ParityReport
from linecheck.training.pipeline import display_path, git_commit

if TYPE_CHECKING:
    from torch import nn

    from linecheck.training.anomaly import AnomalyOptions
    from linecheck.training.classify import ClassifyOptions

#: Parity tolerance between PyTorch and ONNX Runtime per layout (float32 graphs). The anomaly map's
#: nearest-patch distances come from ``|q|^2 - 2 q.b + |b|^2`` and a square root, whose rounding
#: differs by kernel; 0.01 in confidence units is far below any decision (the threshold is 0.5).
PARITY_TOLERANCE: dict[str, float] = {"classify": 1e-3, "anomaly": 1e-2}


def task_command(
    task: str, line: str, data: Path, name: str, options: ClassifyOptions | AnomalyOptions
) -> str:
    """The ``linecheck train`` command line that reproduces a classify or anomaly run with ``options``."""
    parts = [
        "linecheck",
        "train",
        "--task",
        task,
        "--line",
        line,
        "--data",
        display_path(data),
        "--name",
        name,
    ]
    for option in dataclasses.fields(options):
        value, flag = getattr(options, option.name), option.name.replace("_", "-")
        if isinstance(value, bool):  # typer's --x/--no-x flags: written when not the default
            parts += [] if value == option.default else [f"--{flag}" if value else f"--no-{flag}"]
        elif value is not None and not (option.name == "tile" and value == 0):
            parts += [f"--{flag}", str(value)]
    return shlex.join(parts)


def tiles_of(image: npt.NDArray[np.uint8], tile: int) -> list[npt.NDArray[np.uint8]]:
    """``image`` cut into ``tile``-pixel squares at native resolution (the last row/column overlaps).

    An image no larger than ``tile`` (or ``tile`` 0) is returned whole.
    """
    from linecheck.model.tiling import tile_origins

    height, width = image.shape[:2]
    if tile <= 0 or (height <= tile and width <= tile):
        return [image]
    return [image[y : y + tile, x : x + tile] for x, y in tile_origins(width, height, tile, overlap=0)]


def load_letterboxed(paths: Sequence[Path], imgsz: int, *, tile: int = 0) -> npt.NDArray[np.uint8]:
    """Letterboxed uint8 BGR ``(N, imgsz, imgsz, 3)`` of the images (or of their tiles)."""
    images = [t for p in paths for t in tiles_of(read_image(Path(p)), tile)]
    if not images:
        raise DatasetError("no images to load")
    batch, _ = letterbox_batch(images, imgsz)
    return batch


def to_input(batch: npt.NDArray[np.uint8]) -> Any:
    """Letterboxed uint8 BGR frames -> the float32 model input tensor (same arithmetic as serving)."""
    import torch

    return torch.from_numpy(normalise(batch))


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def export_graph(module: nn.Module, path: Path, *, imgsz: int, opset: int = 17) -> Path:
    """Export ``module`` (serving input -> declared output) to ONNX with a dynamic batch axis."""
    import torch

    module = module.eval()
    example = torch.rand(1, 3, imgsz, imgsz)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                (example,),
                str(path),
                input_names=["images"],
                output_names=["output0"],
                dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many internal types
        raise ExportError(f"ONNX export of {type(module).__name__} failed: {exc}") from exc
    return path


def check_graph_parity(
    module: nn.Module, onnx_path: Path, batch: npt.NDArray[np.uint8], layout: OutputLayout
) -> ParityReport:
    """Run PyTorch and ONNX Runtime on the same frames; raise ExportError over tolerance."""
    import onnxruntime as ort
    import torch

    inputs = normalise(batch)
    with torch.no_grad():
        expected = module.eval()(torch.from_numpy(inputs)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    actual = np.asarray(session.run(None, {"images": inputs})[0])
    finite = np.isfinite(expected).all() and np.isfinite(actual).all() and expected.shape == actual.shape
    diff = float(np.abs(expected - actual).max()) if finite else float("inf")
    tolerance = PARITY_TOLERANCE.get(layout, 1e-3)
    report = ParityReport(
        max_abs_diff=diff,
        tolerance=tolerance,
        images=len(batch),
        layout=layout,
        output_shape=actual.shape,
    )
    if not report.passed:
        raise ExportError(
            f"{onnx_path}: ONNX Runtime differs from PyTorch by {diff:.3g} (tolerance {tolerance:g})"
        )
    return report


class OnnxRunner:
    """ONNX Runtime on a registered graph, fed the serving input (what Triton's backend runs)."""

    def __init__(self, version: ModelVersion) -> None:
        """Open the version's graph on the CPU."""
        import onnxruntime as ort

        self._session = ort.InferenceSession(str(version.onnx), providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, frames: npt.NDArray[np.uint8], batch: int = 16) -> npt.NDArray[np.float32]:
        """Outputs for letterboxed uint8 BGR ``frames``, run ``batch`` at a time."""
        run = self._session.run
        parts = [
            np.asarray(run(None, {self._input: normalise(frames[i : i + batch])})[0], np.float32)
            for i in range(0, len(frames), batch)
        ]
        return np.concatenate(parts)


@dataclass(frozen=True, kw_only=True)
class GraphCard:
    """The parts of a card that differ between the classification and anomaly tasks."""

    name: str
    kind: str
    classes: tuple[str, ...]
    imgsz: int
    layout: OutputLayout
    architecture: str
    dataset: dict[str, Any]
    training: dict[str, Any]


def register_graph(
    registry: Registry, spec: GraphCard, *, module: nn.Module, onnx_path: Path, promote: str | None
) -> ModelVersion:
    """Register ``module``'s state dict and its ONNX graph as a new version (and promote it)."""
    import torch

    weights = onnx_path.with_name(WEIGHTS_FILE)
    torch.save(module.state_dict(), weights)
    card = ModelCard(
        name=spec.name,
        version=1,
        kind=spec.kind,
        classes=list(spec.classes),
        imgsz=spec.imgsz,
        architecture=spec.architecture,
        onnx=OnnxInfo(imgsz=spec.imgsz, output_layout=spec.layout, opset=17),
        dataset=spec.dataset,
        training=spec.training,
        git_commit=git_commit(),
    )
    version = registry.register(card, {WEIGHTS_FILE: weights, "model.onnx": onnx_path})
    if promote:
        registry.promote(spec.name, version.card.version, promote)
    return version
