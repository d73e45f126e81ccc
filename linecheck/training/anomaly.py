"""``linecheck train --task anomaly --data GOOD_DIR``: PatchCore-style anomaly detection from good images.

No defect labels: patches of defect-free images, described by the pretrained backbone (stages 2
and 3, stride 8 and 16, locally averaged and concatenated), go into a memory bank, thinned by
greedy k-centre coreset selection. A patch's anomaly score is its distance to the nearest bank
patch (``torch.cdist``-style arithmetic in the graph, so ONNX and Triton compute it too); the map
is smoothed, and an image scores its map's peak. The threshold ``t`` is calibrated on held-back
good images to a stated false-reject rate: ``t`` is the smallest score that at most
``target_frr`` of them exceed. The graph answers ``s / (s + t)`` (layout ``anomaly``): above 0.5
a region is a defect of class ``anomaly``. Wide frames (line-scan fabric) are cut into native
tiles with ``--tile``; a frame then scores its highest tile.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from linecheck.datasets.images import read_image
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.image_files import list_images
from linecheck.model.backbones import DEFAULT_BACKBONE, create_model, get_backbone, normalise_imagenet
from linecheck.model.image_outputs import ANOMALY_CLASS
from linecheck.model.processing import letterbox_batch, normalise
from linecheck.model.registry import ModelVersion, Registry
from linecheck.training.devices import parse_gpus, torch_device
from linecheck.training.image_metrics import best_f1, decision_metrics
from linecheck.training.image_models import (
    GraphCard,
    OnnxRunner,
    check_graph_parity,
    export_graph,
    load_letterboxed,
    register_graph,
    seed_everything,
    tiles_of,
)
from linecheck.training.pipeline import display_path
from linecheck.training.targets import Target

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Most patches that enter coreset selection (a random sample of them when there are more).
MAX_PATCHES = 120_000
#: With fewer held-back images than this, each training image is also scored against the bank without
#: its own patches, and those scores join the calibration set.
CROSS_FIT_BELOW = 10


@dataclass(frozen=True, kw_only=True)
class AnomalyOptions:
    """Options of the anomaly task."""

    backbone: str = DEFAULT_BACKBONE
    imgsz: int = 256
    tile: int = 0
    target_frr: float = 0.01
    calib_fraction: float = 0.2
    coreset: int = 4096
    seed: int = 0
    #: ``cpu`` or one CUDA index (``0``): features, coreset and calibration run there; the bank is exported
    #: from the CPU.
    device: str = "cpu"

    def __post_init__(self) -> None:
        get_backbone(self.backbone)
        parse_gpus(self.device, single=True)
        if self.imgsz < 64 or self.imgsz % 32:
            raise InvalidFieldError("imgsz", self.imgsz, "expected a multiple of 32, at least 64")
        if not 0.0 <= self.target_frr < 0.5:
            raise InvalidFieldError("target_frr", self.target_frr, "expected a rate in [0, 0.5)")
        if not 0.0 < self.calib_fraction < 0.9:
            raise InvalidFieldError("calib_fraction", self.calib_fraction, "expected a fraction in (0, 0.9)")
        if self.coreset < 16:
            raise InvalidFieldError("coreset", self.coreset, "expected >= 16 patches")
        if self.tile < 0:
            raise InvalidFieldError("tile", self.tile, "expected 0 (whole frames) or a tile size in pixels")


def _patch_features(backbone: str, pretrained: bool = True) -> nn.Module:
    import torch
    from torch import nn

    class PatchFeatures(nn.Module):
        """Serving input -> ``(N, D, imgsz/8, imgsz/8)`` locally aware patch descriptors."""

        def __init__(self) -> None:
            super().__init__()
            self.body = create_model(backbone, features_only=True, out_indices=(2, 3), pretrained=pretrained)
            self.pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            mid, deep = self.body(normalise_imagenet(images))
            mid, deep = self.pool(mid), self.pool(deep)
            deep = nn.functional.interpolate(deep, size=mid.shape[-2:], mode="bilinear", align_corners=False)
            return torch.cat([mid, deep], dim=1)

    return PatchFeatures()


def _gaussian_kernel(sigma: float = 1.0, size: int = 5) -> npt.NDArray[np.float32]:
    axis = np.arange(size, dtype=np.float32) - size // 2
    kernel = np.exp(-(axis**2) / (2 * sigma**2))
    kernel = np.outer(kernel, kernel)
    return (kernel / kernel.sum()).astype(np.float32)


def anomaly_graph(features: nn.Module, bank: torch.Tensor, threshold: float) -> nn.Module:
    """The exported module: serving input -> ``(N, h, w)`` map of ``s / (s + threshold)``."""
    import torch
    from torch import nn

    class AnomalyGraph(nn.Module):
        bank: torch.Tensor
        bank_sq: torch.Tensor
        blur: torch.Tensor
        threshold: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.features = features
            self.register_buffer("bank", bank.contiguous())
            self.register_buffer("bank_sq", (bank * bank).sum(1)[None, :])
            self.register_buffer("blur", torch.from_numpy(_gaussian_kernel())[None, None])
            self.register_buffer("threshold", torch.tensor(float(threshold)))

        def distances(self, images: torch.Tensor) -> torch.Tensor:
            """``(N, h, w)`` smoothed nearest-neighbour distances of each patch to the bank."""
            return self.patch_distances(self.features(images), self.bank, self.bank_sq)

        def patch_distances(
            self, feats: torch.Tensor, bank: torch.Tensor, bank_sq: torch.Tensor
        ) -> torch.Tensor:
            """``(N, h, w)`` smoothed distances of patch descriptors ``feats`` to ``bank``."""
            n, d, h, w = feats.shape
            query = feats.permute(0, 2, 3, 1).reshape(-1, d)
            sq = (query * query).sum(1, keepdim=True) - 2.0 * query @ bank.t() + bank_sq
            nearest = sq.clamp_min(0.0).min(dim=1).values.sqrt().reshape(n, 1, h, w)
            pad = int(self.blur.shape[-1]) // 2
            smooth = nn.functional.conv2d(nn.functional.pad(nearest, [pad] * 4, mode="replicate"), self.blur)
            return smooth[:, 0]

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            dist = self.distances(images)
            return dist / (dist + self.threshold)

    return AnomalyGraph()


def greedy_coreset(patches: torch.Tensor, size: int, *, seed: int = 0) -> torch.Tensor:
    """Indices of ``size`` patches chosen by greedy k-centre (on a 128-d random projection).

    Runs on one thread: each of the ``size`` steps is a short memory-bound pass over the patches that
    gains little from a second thread, and on a busy 2-core machine a second thread waiting for a core
    made every step about four times slower (``bench/anomaly_quickstart.py``, ``bench/RESULTS.md``).
    """
    import torch

    if patches.shape[0] <= size:
        return torch.arange(patches.shape[0], device=patches.device)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _greedy_k_centre(patches, size, seed)
    finally:
        torch.set_num_threads(threads)


def _greedy_k_centre(patches: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    import torch

    gen = torch.Generator().manual_seed(seed)  # drawn on the CPU: the same choice on any device
    dims = min(128, patches.shape[1])
    projected = patches @ torch.randn(patches.shape[1], dims, generator=gen).to(patches.device) / dims**0.5
    norms = (projected * projected).sum(1)

    def squared_to(index: int) -> torch.Tensor:
        # |p - c|^2 = |p|^2 - 2 p.c + |c|^2: one matrix-vector product (cdist is far slower for one point)
        return norms - 2.0 * (projected @ projected[index]) + norms[index]

    chosen = [int(torch.randint(patches.shape[0], (1,), generator=gen))]
    nearest = squared_to(chosen[-1])
    for _ in range(size - 1):
        chosen.append(int(nearest.argmax()))
        nearest = torch.minimum(nearest, squared_to(chosen[-1]))
    return torch.tensor(chosen, device=patches.device)


def calibrate_threshold(scores: list[float], target_frr: float) -> float:
    """Smallest threshold that at most ``target_frr`` of the good ``scores`` exceed (strictly)."""
    if not scores:
        raise InvalidFieldError("scores", scores, "expected at least one calibration score")
    ordered = sorted(scores)
    allowed = int(np.floor(target_frr * len(ordered) + 1e-9))  # good images that may exceed it
    return float(ordered[len(ordered) - 1 - allowed])


def _batched(module: Any, frames: npt.NDArray[np.uint8], batch: int = 8, device: Any = "cpu") -> torch.Tensor:
    """``module`` over ``frames`` in batches on ``device``; the results stay there."""
    import torch

    with torch.no_grad():
        return torch.cat(
            [
                module(torch.from_numpy(normalise(frames[i : i + batch])).to(device))
                for i in range(0, len(frames), batch)
            ]
        )


def frame_scores(graph: nn.Module, paths: list[Path], imgsz: int, tile: int) -> list[float]:
    """Raw image scores (peak smoothed distance, over the tiles of each image)."""
    scores: list[float] = []
    for path in paths:
        frames, _ = letterbox_batch(tiles_of(read_image(path), tile), imgsz)
        scores.append(float(_batched(graph.distances, frames, device=graph.threshold.device).amax()))
    return scores


@dataclass(frozen=True, kw_only=True)
class AnomalyFit:
    """A fitted model and what calibration found."""

    graph: nn.Module
    threshold: float
    calibration_scores: list[float]
    loo_scores: list[float]
    train_images: list[Path]
    calib_images: list[Path]
    bank_size: int
    patches: int
    seconds: float


def fit_anomaly(good: list[Path], options: AnomalyOptions, *, pretrained: bool = True) -> AnomalyFit:
    """Build the memory bank from part of ``good`` and calibrate the threshold on the rest."""
    import torch

    if len(good) < 3:
        raise DatasetError(
            f"need at least 3 good images (2 to learn from, 1 to calibrate), found {len(good)}"
        )
    device = torch_device(options.device)
    seed_everything(options.seed)
    started = time.monotonic()
    order = list(good)
    random.Random(options.seed).shuffle(order)
    n_calib = min(len(order) - 2, max(1, round(len(order) * options.calib_fraction)))
    calib, train = sorted(order[:n_calib]), sorted(order[n_calib:])
    features = _patch_features(options.backbone, pretrained).eval().to(device)
    per_image = [letterbox_batch(tiles_of(read_image(p), options.tile), options.imgsz)[0] for p in train]
    feats = _batched(features, np.concatenate(per_image), device=device)
    frame_owner = torch.tensor(np.repeat(np.arange(len(train)), [len(f) for f in per_image]), device=device)
    owner = frame_owner.repeat_interleave(feats.shape[2] * feats.shape[3])
    patches = feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])
    if patches.shape[0] > MAX_PATCHES:
        gen = torch.Generator().manual_seed(options.seed)
        keep = torch.randperm(patches.shape[0], generator=gen)[:MAX_PATCHES].to(device)
        patches, owner = patches[keep], owner[keep]
    chosen = greedy_coreset(patches, options.coreset, seed=options.seed)
    bank, bank_owner = patches[chosen].clone(), owner[chosen]
    graph = anomaly_graph(features, bank, 1.0).eval().to(device)
    scores = frame_scores(graph, calib, options.imgsz, options.tile)
    loo = _leave_one_out(graph, feats, frame_owner, bank, bank_owner) if len(calib) < CROSS_FIT_BELOW else []
    threshold = calibrate_threshold(scores + loo, options.target_frr)
    graph.threshold.fill_(threshold)  # type: ignore[operator]
    return AnomalyFit(
        graph=graph.to("cpu"), threshold=threshold, calibration_scores=[round(s, 5) for s in scores],
        loo_scores=[round(s, 5) for s in loo], train_images=train, calib_images=calib,
        bank_size=int(bank.shape[0]), patches=int(patches.shape[0]),
        seconds=round(time.monotonic() - started, 1),
    )  # fmt: skip


def _leave_one_out(
    graph: nn.Module,
    feats: torch.Tensor,
    frame_owner: torch.Tensor,
    bank: torch.Tensor,
    bank_owner: torch.Tensor,
) -> list[float]:
    """Score each training image against the bank without its own patches (cross-fitted calibration)."""
    import torch

    scores: list[float] = []
    with torch.no_grad():
        for image in range(int(frame_owner.max()) + 1):
            others = bank[bank_owner != image]
            if not len(others):
                continue
            own = feats[frame_owner == image]
            dist = graph.patch_distances(own, others, (others * others).sum(1)[None, :])  # type: ignore[operator]
            scores.append(float(dist.amax()))
    return scores


def labelled_images(folder: Path) -> tuple[list[Path], list[int]]:
    """Images under ``folder``'s class folders: 0 for a good folder name, 1 for any other."""
    from linecheck.datasets.classify_layout import GOOD_NAMES

    paths: list[Path] = []
    labels: list[int] = []
    for sub in sorted(p for p in Path(folder).iterdir() if p.is_dir()):
        for image in list_images(sub):
            paths.append(image)
            labels.append(0 if sub.name in GOOD_NAMES else 1)
    if not paths or len(set(labels)) < 2:
        raise DatasetError(
            f"expected good ({'/'.join(GOOD_NAMES[:3])}...) and defect class folders with images", path=folder
        )
    return paths, labels


def evaluate_anomaly(version: ModelVersion, paths: list[Path], labels: list[int]) -> dict[str, Any]:
    """Image AUROC, F1 and escape / false-reject rates at the calibrated threshold (ONNX Runtime)."""
    tile = int(version.card.training.get("options", {}).get("tile", 0))
    runner = OnnxRunner(version)
    scores = []
    for path in paths:
        frames, _ = letterbox_batch(tiles_of(read_image(path), tile), version.card.imgsz)
        scores.append(float(runner(frames).max()))
    metrics = decision_metrics(scores, labels, 0.5 + 1e-6)
    metrics["best_f1"] = best_f1(scores, labels)
    metrics["runtime"] = "onnx"
    return metrics


def train_anomaly(
    target: Target,
    good_dir: Path,
    options: AnomalyOptions,
    *,
    registry: Registry,
    command: str,
    runs_dir: Path,
    promote: str | None = None,
    eval_dir: Path | None = None,
) -> tuple[ModelVersion, AnomalyFit, dict[str, Any] | None]:
    """Fit, calibrate, export ONNX, check parity, register (and promote, evaluate) an anomaly model."""
    good = list_images(Path(good_dir)) if Path(good_dir).is_dir() else []
    if not good:
        raise DatasetError("expected a folder of defect-free images", path=good_dir)
    fit = fit_anomaly(good, options)
    run_dir = Path(runs_dir) / f"{target.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    onnx_path = export_graph(fit.graph, run_dir / "model.onnx", imgsz=options.imgsz)
    probe = load_letterboxed(fit.calib_images[:2], options.imgsz, tile=options.tile)[:4]
    parity = check_graph_parity(fit.graph, onnx_path, probe, "anomaly")
    spec = GraphCard(
        name=target.name,
        kind=target.kind,
        classes=(ANOMALY_CLASS,),
        imgsz=options.imgsz,
        layout="anomaly",
        architecture=f"PatchCore-style bank ({fit.bank_size} patches) on {options.backbone} stages 2+3",
        dataset={"path": display_path(Path(good_dir)), "good_images": len(good),
                 "train_images": len(fit.train_images), "calibration_images": len(fit.calib_images)},
        training={
            "task": "anomaly", "command": command, "options": asdict(options), "threshold": fit.threshold,
            "target_false_reject_rate": options.target_frr, "calibration_scores": fit.calibration_scores,
            "leave_one_out_scores": fit.loo_scores,
            "bank_size": fit.bank_size, "patches": fit.patches, "seconds": fit.seconds,
            "parity": parity.to_dict(), "run_dir": str(run_dir),
        },
    )  # fmt: skip
    version = register_graph(registry, spec, module=fit.graph, onnx_path=onnx_path, promote=promote)
    metrics = None
    if eval_dir is not None:
        paths, labels = labelled_images(eval_dir)
        metrics = evaluate_anomaly(version, paths, labels)
        registry.update_metrics(target.name, version.card.version, metrics)
    return version, fit, metrics
