"""``linecheck train --task classify``: an image-level classifier on the pretrained backbone.

Data: the layout ``linecheck data convert --from csv`` writes (``DIR/{train,val,test}/<class>/``)
or plain image folders (``DIR/<class>/``, split here per class with a fixed seed). One class is
the good one (``--good-class``, else the first of
``linecheck.datasets.classify_layout.GOOD_NAMES`` found); the others are
defect classes. The exported graph takes the serving input and answers ``(N, 1, defect classes)``
probabilities (layout ``classify``): a PV cell or a fabric frame is rejected when a defect class
reaches the line threshold, exactly as a detection would.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from linecheck.datasets.classify_layout import GOOD_NAMES, class_folders
from linecheck.datasets.probabilities import read_probabilities
from linecheck.datasets.split import split_sizes
from linecheck.errors import DatasetError, InvalidFieldError
from linecheck.model.backbones import DEFAULT_BACKBONE, create_model, get_backbone, normalise_imagenet
from linecheck.model.processing import normalise
from linecheck.model.registry import ModelVersion, Registry
from linecheck.training.devices import bf16_autocast, parse_gpus, torch_device
from linecheck.training.image_metrics import auroc, decision_metrics
from linecheck.training.image_models import (
    GraphCard,
    OnnxRunner,
    check_graph_parity,
    export_graph,
    load_letterboxed,
    register_graph,
    seed_everything,
    to_input,
)
from linecheck.training.pipeline import display_path
from linecheck.training.targets import Target

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Folder names taken as the good class when ``--good-class`` is not given.
SPLITS = ("train", "val", "test")
#: Test-time views the exported classifier can average (``ClassifyOptions.tta``).
TTA_VIEWS = (1, 2, 4, 8)


@dataclass(frozen=True, kw_only=True)
class ClassifySet:
    """An image-level dataset: every class, the good one, and ``(path, class index)`` per split."""

    root: Path
    classes: tuple[str, ...]
    good_class: str
    splits: dict[str, list[tuple[Path, int]]]
    #: Annotated defect probability per image (resolved path), from ``probabilities.csv`` when given.
    probabilities: dict[Path, float] = field(default_factory=dict)

    @property
    def defect_classes(self) -> tuple[str, ...]:
        """The classes that reject a unit, in class order."""
        return tuple(c for c in self.classes if c != self.good_class)

    def summary(self) -> dict[str, Any]:
        """Images per split and class (for the model card)."""
        return {
            "path": display_path(self.root),
            "classes": list(self.classes),
            "good_class": self.good_class,
            "images": {
                split: dict(sorted(Counter(self.classes[i] for _, i in rows).items()))
                for split, rows in self.splits.items()
            },
        }


def load_classify_set(
    root: Path, *, good_class: str | None = None, seed: int = 0, val: float = 0.15, test: float = 0.15
) -> ClassifySet:
    """Read ``root`` as split class folders or plain class folders (split here).

    Raises:
        DatasetError: no class folders, a class without images, or no good class.

    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("expected a folder of class folders (or train/val/test of them)", path=root)
    per_split: dict[str, dict[str, list[Path]]] = {}
    if (root / "train").is_dir():
        per_split = {s: class_folders(root / s) for s in SPLITS if (root / s).is_dir()}
    else:
        rng = random.Random(seed)
        per_split = {s: {} for s in SPLITS}
        for name, files in class_folders(root).items():
            order = list(files)
            rng.shuffle(order)
            sizes = split_sizes(len(order), val, test) if len(order) >= 3 else {"train": len(order)}
            start = 0
            for split in SPLITS:
                per_split[split][name] = order[start : start + sizes.get(split, 0)]
                start += sizes.get(split, 0)
    classes = tuple(sorted({c for folders in per_split.values() for c in folders}))
    if len(classes) < 2:
        raise DatasetError(f"expected at least two class folders, found {list(classes)}", path=root)
    empty = [c for c in classes if not per_split.get("train", {}).get(c)]
    if empty:
        raise DatasetError(f"class folders without training images: {empty}", path=root)
    good = good_class or next((c for c in GOOD_NAMES if c in classes), None)
    if good is None or good not in classes:
        raise DatasetError(
            f"good class {good_class!r} is not one of {list(classes)}"
            if good_class
            else f"no good class among {list(classes)}: name it with --good-class (one of the folders)",
            path=root,
        )
    splits = {
        split: [(p, classes.index(c)) for c, files in sorted(folders.items()) for p in files]
        for split, folders in per_split.items()
        if any(folders.values())
    }
    if "val" not in splits:
        rows = list(splits["train"])
        random.Random(seed).shuffle(rows)
        cut = max(1, round(len(rows) * val))
        splits["val"], splits["train"] = rows[:cut], rows[cut:]
    probabilities = read_probabilities(root)
    return ClassifySet(
        root=root, classes=classes, good_class=good, splits=splits, probabilities=probabilities
    )


@dataclass(frozen=True, kw_only=True)
class ClassifyOptions:
    """Training options of the classification task."""

    backbone: str = DEFAULT_BACKBONE
    pretrained: bool = True
    epochs: int = 10
    imgsz: int = 224
    #: Small sets want optimiser steps more than big batches (ELPV, 650 cells: 16 beat 32 on validation).
    batch: int = 16
    lr: float = 5e-4
    seed: int = 0
    good_class: str | None = None
    #: Stages kept at their ImageNet weights (with the stem; BatchNorm statistics too): the high-resolution
    #: early stages are the costly part of a CPU backward pass and transfer as they are.
    freeze: int = 2
    #: Views of each image the exported graph averages (1; 2: + mirror; 4: + flips; 8: + transposes, the
    #: dihedral group the training augmentation draws from). Costs that many forward passes per image.
    tta: int = 1
    #: Train on the annotated defect probabilities (``probabilities.csv``) as soft targets where given: an
    #: image a third of the experts called defective teaches 1/3, not 0 (one defect class only). Off by
    #: default: on ELPV it tied on validation and did not move test accuracy (bench/RESULTS.md).
    soft_labels: bool = False
    #: ``cpu`` or one CUDA index (``0``): bfloat16 autocast there when the GPU supports it.
    device: str = "cpu"

    def __post_init__(self) -> None:
        get_backbone(self.backbone)
        parse_gpus(self.device, single=True)
        if self.tta not in TTA_VIEWS:
            raise InvalidFieldError("tta", self.tta, f"expected one of {list(TTA_VIEWS)}")
        if not 0 <= self.freeze <= 7:
            raise InvalidFieldError("freeze", self.freeze, "expected 0..7 stages")
        for name in ("epochs", "imgsz", "batch"):
            if getattr(self, name) < 1:
                raise InvalidFieldError(name, getattr(self, name), "expected >= 1")
        if self.imgsz % 32:
            raise InvalidFieldError("imgsz", self.imgsz, "expected a multiple of 32")


def _views(images: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` dihedral views of ``(N, C, H, W)`` square images, stacked view-major along the batch."""
    import torch

    views = [images]
    if count >= 2:
        views.append(images.flip(3))
    if count >= 4:
        views += [images.flip(2), images.flip(2).flip(3)]
    if count >= 8:
        views += [v.transpose(2, 3) for v in views]
    return torch.cat(views)


def _classifier_graph(net: nn.Module, defect_index: list[int], tta: int = 1) -> nn.Module:
    import torch
    from torch import nn

    class ClassifierGraph(nn.Module):
        """Serving input -> ``(N, 1, defect classes)`` softmax probabilities (averaged over ``tta`` views)."""

        defect_index: torch.Tensor

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.tta = tta
            self.register_buffer("defect_index", torch.tensor(defect_index, dtype=torch.long))

        def logits(self, images: torch.Tensor) -> torch.Tensor:
            return self.net(normalise_imagenet(images))

        def defect_score(self, logits: torch.Tensor) -> torch.Tensor:
            """The highest defect-class probability (what the line thresholds)."""
            return torch.softmax(logits, dim=1).index_select(1, self.defect_index).amax(dim=1)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            if self.tta == 1:
                probs = torch.softmax(self.logits(images), dim=1)
            else:
                logits = self.logits(_views(images, self.tta))
                probs = torch.softmax(logits, dim=1).reshape(self.tta, -1, logits.shape[1]).mean(dim=0)
            return probs.index_select(1, self.defect_index).unsqueeze(1)

    return ClassifierGraph()


def _augment(batch: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Random flips and quarter turns (square inputs), per image."""
    out = batch.copy()
    for i in range(len(out)):
        image = out[i]
        if rng.random() < 0.5:
            image = image[:, ::-1]
        if rng.random() < 0.5:
            image = image[::-1]
        out[i] = np.rot90(image, int(rng.integers(4)))
    return out


@dataclass(kw_only=True)
class ClassifyRun:
    """What one training run did."""

    epochs_run: int = 0
    seconds: float = 0.0
    best_epoch: int = 0
    history: list[dict[str, float | None]] = field(default_factory=list)
    #: Why training stopped before its last epoch (None: it ran them all).
    stopped: str | None = None
    #: Each time the network died and was rolled back: the epoch it died at, the epoch restored, the
    #: body's learning rate from then on (see :data:`RECOVERIES`).
    recoveries: list[dict[str, float]] = field(default_factory=list)
    #: Training images with an annotated probability strictly between 0 and 1, trained on it as their
    #: target rather than on their class folder (0: none, or ``soft_labels`` off).
    soft_targets: int = 0


def soft_targets(data: ClassifySet, rows: list[tuple[Path, int]]) -> npt.NDArray[np.float32] | None:
    """Each row's target over the classes (None: no row has a probability, or several defect classes).

    A row with an annotated defect probability ``p`` gets ``p`` on the defect class and ``1 - p`` on the
    good one; a row without gets its class. With several defect classes a probability names none of them.
    """
    if not data.probabilities or len(data.defect_classes) != 1:
        return None
    good, defect = data.classes.index(data.good_class), data.classes.index(data.defect_classes[0])
    targets = np.zeros((len(rows), len(data.classes)), np.float32)
    given = 0
    for i, (path, cls) in enumerate(rows):
        probability = data.probabilities.get(path.resolve())
        if probability is None:
            targets[i, cls] = 1.0
        else:
            targets[i, defect], targets[i, good] = probability, 1.0 - probability
            given += 1
    return targets if given else None


#: Epochs in a row with every validation score equal after which the network counts as dead.
DEAD_EPOCHS = 2
#: Times a dead network is rolled back to its best epoch, with a fresh optimiser at half the learning
#: rate, before training stops. ELPV at the default recipe (seed 0) died at epoch 3 of 12 after two
#: good epochs: without a way back, the run kept epoch 2 (validation 0.77).
RECOVERIES = 2


def _evaluate_loss(
    model: nn.Module, frames: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], batch: int, good: int
) -> tuple[float, float, float | None, float]:
    """Validation loss, class accuracy, defect-score AUROC and the scores' spread (max - min)."""
    import torch

    model.eval()
    device = next(model.parameters()).device
    losses, correct, scores = 0.0, 0, []
    with torch.no_grad(), bf16_autocast(device):
        for start in range(0, len(frames), batch):
            inputs = (
                to_input(frames[start : start + batch])
                .to(device)
                .contiguous(memory_format=torch.channels_last)
            )
            logits = model.logits(inputs).float()  # type: ignore[operator]
            target = torch.from_numpy(labels[start : start + batch]).to(device)
            losses += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(1) == target).sum())
            scores.append(model.defect_score(logits).cpu().numpy())  # type: ignore[operator]
    defective = labels != good
    found = np.concatenate(scores)
    return losses / len(frames), correct / len(frames), auroc(found, defective), float(np.ptp(found))


def fit_classifier(
    data: ClassifySet, options: ClassifyOptions, *, log: Any = None
) -> tuple[nn.Module, ClassifyRun]:
    """Fine-tune the backbone with a new head; keep the epoch with the best validation accuracy."""
    import torch

    device = torch_device(options.device)
    seed_everything(options.seed)
    started = time.monotonic()
    net = create_model(options.backbone, num_classes=len(data.classes), pretrained=options.pretrained)
    defect_index = [data.classes.index(c) for c in data.defect_classes]
    # channels-last runs the depthwise convolutions of a CPU training step faster (about 1.3-2x measured).
    model = _classifier_graph(net, defect_index, options.tta).to(device).to(memory_format=torch.channels_last)
    good = data.classes.index(data.good_class)
    train_x = load_letterboxed([p for p, _ in data.splits["train"]], options.imgsz)
    train_y = np.asarray([c for _, c in data.splits["train"]], np.int64)
    soft = soft_targets(data, data.splits["train"]) if options.soft_labels else None
    val_x = load_letterboxed([p for p, _ in data.splits["val"]], options.imgsz)
    val_y = np.asarray([c for _, c in data.splits["val"]], np.int64)
    counts = np.bincount(train_y, minlength=len(data.classes)).astype(np.float64)
    weights = torch.tensor(np.sqrt(counts.sum() / np.maximum(counts, 1.0)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=(weights / weights.mean()).to(device), label_smoothing=0.05)
    frozen = [net.get_submodule("conv_stem"), net.get_submodule("bn1")] if options.freeze else []
    frozen += list(net.get_submodule("blocks").children())[: options.freeze]
    for module in frozen:
        module.requires_grad_(False)
    head = list(net.get_submodule("classifier").parameters())
    body = [p for p in model.parameters() if p.requires_grad and all(p is not h for h in head)]
    # The new head learns ten times faster than the pretrained body.
    groups = [{"params": body, "lr": options.lr}, {"params": head, "lr": options.lr * 10}]
    optimizer = torch.optim.AdamW(groups, lr=options.lr, weight_decay=1e-4)
    steps = options.epochs * math.ceil(len(train_x) / options.batch)
    warmup = max(1, steps // 20)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )
    rng = np.random.default_rng(options.seed)
    run = ClassifyRun(soft_targets=0 if soft is None else int((soft.max(axis=1) < 1.0).sum()))
    best: tuple[bool, float, float] = (False, -1.0, 0.0)
    best_state: dict[str, Any] = {}
    dead = 0
    for epoch in range(1, options.epochs + 1):
        model.train()
        # Every BatchNorm keeps its ImageNet running statistics: statistics of a small batch of near-identical
        # inspection images (grey EL cells, one fabric) are far from the population's and the eval-mode
        # network then differs from the one trained (measured: train-mode loss 3x the eval-mode loss).
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
        order = rng.permutation(len(train_x))
        total = 0.0
        for start in range(0, len(order), options.batch):
            index = order[start : start + options.batch]
            if len(index) < 2:
                continue  # BatchNorm needs two images
            frames = _augment(train_x[index], rng)
            inputs = torch.from_numpy(normalise(frames)).contiguous(memory_format=torch.channels_last)
            gain = torch.empty(len(index), 1, 1, 1).uniform_(0.8, 1.2)  # drawn on the CPU: same on any device
            inputs = (inputs * gain).clamp_(0.0, 1.0).to(device)
            target = torch.from_numpy(train_y[index] if soft is None else soft[index]).to(device)
            with bf16_autocast(device):
                loss = loss_fn(model.logits(inputs).float(), target)  # type: ignore[operator]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(index)
        val_loss, val_acc, val_auroc, spread = _evaluate_loss(model, val_x, val_y, options.batch, good)
        run.history.append(
            {"epoch": epoch, "train_loss": round(total / len(train_x), 4), "val_loss": round(val_loss, 4),
             "val_accuracy": round(val_acc, 4), "seconds": round(time.monotonic() - started, 1),
             "val_auroc": None if val_auroc is None else round(val_auroc, 4)}
        )  # fmt: skip
        if log is not None:
            log(run.history[-1])
        alive = spread > 1e-6  # a dead network scores every image alike
        if (alive, val_acc, -val_loss) > best:  # a live epoch beats any dead one
            best = (alive, val_acc, -val_loss)
            best_state = copy.deepcopy(model.state_dict())
            run.best_epoch = epoch
        run.epochs_run = epoch
        # A dead network (saturated or zero activations) scores every image alike and does not come back
        # by itself (ELPV with --freeze 0 at batch 8: validation AUROC 0.50 from epoch 5 of 20).
        dead = 0 if alive else dead + 1
        if dead >= DEAD_EPOCHS and epoch < options.epochs:
            if best[0] and len(run.recoveries) < RECOVERIES:  # a live epoch to go back to
                model.load_state_dict(best_state)
                optimizer.state.clear()  # Adam's moments carried the step that killed it
                halved = [float(lr) / 2 for lr in scheduler.base_lrs]
                scheduler.base_lrs = list(halved)
                run.recoveries.append({"died_at": epoch, "restored": run.best_epoch, "lr": halved[0]})
                if log is not None:
                    log({"recovered": run.recoveries[-1]})
                dead = 0
                continue
            times = f" {len(run.recoveries) + 1} times" if run.recoveries else ""
            run.stopped = (
                f"every validation score was equal for {dead} epochs (to epoch {epoch}): the network "
                f"died{times}; kept epoch {run.best_epoch}. Lower --lr ({options.lr}), or raise --freeze "
                f"({options.freeze}) or --batch ({options.batch})"
            )
            if log is not None:
                log({"stopped": run.stopped})
            break
    model.load_state_dict(best_state)
    model = model.to("cpu").to(memory_format=torch.contiguous_format)  # exported and checked on the CPU
    run.seconds = round(time.monotonic() - started, 1)
    return model.eval(), run


def validated_threshold(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The reject threshold with the highest accuracy on labelled scores (the nearest to 0.5 among equals).

    Candidates are 0.5 and the midpoints between neighbouring distinct scores, so the answer does not
    sit on a validation image's own score.
    """
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    if s.shape != y.shape or not s.size:
        raise InvalidFieldError("labels", y.size, f"expected one per score ({s.size}), at least one")
    distinct = np.unique(s)
    candidates = np.unique(np.concatenate([[0.5], (distinct[1:] + distinct[:-1]) / 2]))
    accuracy = ((s[None, :] >= candidates[:, None]) == y[None, :]).mean(axis=1)
    best = candidates[accuracy == accuracy.max()]
    return float(best[np.argmin(np.abs(best - 0.5))])


def _defect_probabilities(
    version: ModelVersion, data: ClassifySet, split: str
) -> tuple[list[tuple[Path, int]], npt.NDArray[np.float32]]:
    rows = data.splits.get(split)
    if not rows:
        raise DatasetError(f"the dataset has no {split!r} split", path=data.root)
    frames = load_letterboxed([p for p, _ in rows], version.card.imgsz)
    return rows, OnnxRunner(version)(frames)[:, 0, :]


def threshold_check(
    version: ModelVersion, data: ClassifySet, *, calibrate: str, split: str
) -> dict[str, Any]:
    """One threshold for all defect classes chosen on ``calibrate`` (validation); its metrics on ``split``.

    For the line engineer: the line YAML's threshold stays what it is; the card records what the
    validation images suggest and what that threshold gives on held-out images.
    """
    found: dict[str, tuple[npt.NDArray[np.float64], list[int]]] = {}
    for name in (calibrate, split):
        rows, probs = _defect_probabilities(version, data, name)
        found[name] = (
            probs.max(axis=1).astype(np.float64),
            [int(c != data.classes.index(data.good_class)) for _, c in rows],
        )
    threshold = validated_threshold(*found[calibrate])
    keep = ("accuracy", "precision", "recall", "f1", "escape_rate", "false_reject_rate")
    result: dict[str, Any] = {"threshold": round(threshold, 4), "from_split": calibrate, "split": split}
    result[calibrate] = {
        k: decision_metrics(found[calibrate][0].tolist(), found[calibrate][1], threshold)[k] for k in keep
    }
    result[split] = {
        k: decision_metrics(found[split][0].tolist(), found[split][1], threshold)[k] for k in keep
    }
    return result


def evaluate_classifier(
    version: ModelVersion, data: ClassifySet, split: str, thresholds: dict[str, float]
) -> dict[str, Any]:
    """Unit-level QA metrics of a registered classifier (ONNX Runtime, as served) on ``split``.

    A unit is rejected when any defect class reaches its threshold (default 0.5).
    """
    rows, probs = _defect_probabilities(version, data, split)
    names = version.card.classes
    limits = np.asarray([thresholds.get(c, 0.5) for c in names], np.float64)
    margin = (probs - limits[None, :]).max(axis=1)  # >= 0: some class reached its threshold
    truth = [data.classes[c] for _, c in rows]
    labels = [int(t != data.good_class) for t in truth]
    metrics = decision_metrics(margin.tolist(), labels, 0.0)
    metrics["threshold"] = {c: float(t) for c, t in zip(names, limits, strict=True)}
    good_prob = 1.0 - probs.sum(axis=1, keepdims=True)
    predicted = np.concatenate([good_prob, probs], axis=1).argmax(axis=1)
    order = [data.good_class, *names]
    metrics["class_accuracy"] = round(
        float(np.mean([order[p] == t for p, t in zip(predicted, truth, strict=True)])), 4
    )
    metrics["class_recall"] = {
        c: round(float(np.mean([order[p] == c for p, t in zip(predicted, truth, strict=True) if t == c])), 4)
        for c in order
        if c in truth
    }
    metrics["split"] = split
    metrics["runtime"] = "onnx"
    return metrics


def train_classifier(
    target: Target,
    data_dir: Path,
    options: ClassifyOptions,
    *,
    registry: Registry,
    command: str,
    runs_dir: Path,
    eval_split: str | None = "test",
    promote: str | None = None,
    log: Any = None,
) -> tuple[ModelVersion, ClassifyRun, dict[str, Any] | None]:
    """Train, export ONNX, check parity, register, evaluate (and promote) a classifier."""
    data = load_classify_set(data_dir, good_class=options.good_class, seed=options.seed)
    model, run = fit_classifier(data, options, log=log)
    run_dir = Path(runs_dir) / f"{target.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    onnx_path = export_graph(model, run_dir / "model.onnx", imgsz=options.imgsz)
    probe = load_letterboxed([p for p, _ in data.splits["val"][:4]], options.imgsz)
    parity = check_graph_parity(model, onnx_path, probe, "classify")
    backbone = get_backbone(options.backbone)
    spec = GraphCard(
        name=target.name,
        kind=target.kind,
        classes=data.defect_classes,
        imgsz=options.imgsz,
        layout="classify",
        architecture=f"{options.backbone} classifier (timm {backbone.timm_name}"
        + (f", ImageNet weights from {backbone.pip_name})" if options.pretrained else ", from scratch)"),
        dataset=data.summary(),
        training={
            "task": "classify", "command": command, "options": asdict(options), "good_class": data.good_class,
            "all_classes": list(data.classes), "epochs_run": run.epochs_run, "best_epoch": run.best_epoch,
            "seconds": run.seconds, "history": run.history, "stopped": run.stopped,
            "recoveries": run.recoveries,
            "soft_targets": run.soft_targets, "parity": parity.to_dict(), "run_dir": str(run_dir),
        },
    )  # fmt: skip
    version = register_graph(registry, spec, module=model, onnx_path=onnx_path, promote=promote)
    metrics = None
    if eval_split and eval_split in data.splits:
        thresholds = {c: target.thresholds.get(c, 0.5) for c in data.defect_classes}
        metrics = evaluate_classifier(version, data, eval_split, thresholds)
        if eval_split != "val" and "val" in data.splits:
            metrics["validated_threshold"] = threshold_check(version, data, calibrate="val", split=eval_split)
        registry.update_metrics(target.name, version.card.version, metrics)
    return version, run, metrics
