"""Train a YOLO detector with Ultralytics, offline, into a run folder under ``var/``.

Models are built from an architecture YAML (``yolov8n`` -> ``yolov8n.yaml``, from scratch) or
from one of our own checkpoints; nothing is downloaded. ``--device 0,1,2,3`` runs Ultralytics
DDP across those GPUs; ``cpu`` works for small runs.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from linecheck.errors import InvalidFieldError, TrainingError
from linecheck.training.dataset import YoloDataset
from linecheck.training.devices import check_gpus, parse_gpus
from linecheck.training.offline import check_architecture, prepare_ultralytics, resolve_model_spec

AmpMode = Literal["auto", "off", "bf16"]


@dataclass(frozen=True, kw_only=True)
class TrainOptions:
    """Training hyper-parameters exposed by ``linecheck train``.

    Attributes:
        model: architecture (``yolov8n``, ``yolo11s.yaml``, a YAML file) or a local ``.pt`` checkpoint.
        epochs: training epochs.
        imgsz: square training size (multiple of 32).
        batch: images per batch (over all GPUs with DDP).
        device: ``cpu``, one CUDA index ``0`` or several ``0,1,2,3`` (DDP).
        workers: dataloader workers per process (Ultralytics caps it at the CPU count).
        seed: random seed (Ultralytics trains deterministically by default).
        patience: epochs without improvement before stopping early.
        amp: ``auto`` (bf16 on CUDA when supported, off on CPU), ``off`` or ``bf16``. FP16 AMP
            is not offered: its check downloads a reference model.
        cache: cache decoded images in RAM (fast for small datasets).
        hours: wall-clock limit of the training itself; Ultralytics then sets the epoch count from
            the measured epoch time so that the schedule ends in time (more than ``epochs`` when
            they are fast, fewer when slow). ``None``: exactly ``epochs``.
        plots: write Ultralytics' training plots into the run folder.

    """

    model: str = "yolov8n"
    epochs: int = 100
    imgsz: int = 640
    batch: int = 16
    device: str = "cpu"
    workers: int = 8
    seed: int = 0
    patience: int = 50
    amp: AmpMode = "auto"
    cache: bool = False
    hours: float | None = None
    plots: bool = True

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch", 1), ("workers", 0), ("patience", 0), ("seed", 0)):
            value = getattr(self, name)
            if value < low:
                raise InvalidFieldError(name, value, f"expected >= {low}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise InvalidFieldError("imgsz", self.imgsz, "expected a multiple of 32, at least 32")
        parse_gpus(self.device)
        if self.amp not in ("auto", "off", "bf16"):
            raise InvalidFieldError("amp", self.amp, "expected auto, off or bf16")
        if self.hours is not None and not 0 < self.hours <= 1000:
            raise InvalidFieldError("hours", self.hours, "expected a limit above 0 and at most 1000")

    @property
    def gpus(self) -> list[int]:
        """CUDA device indices (empty for CPU)."""
        return parse_gpus(self.device)


@dataclass(frozen=True, kw_only=True)
class TrainRun:
    """Outcome of one training run.

    Attributes:
        run_dir: Ultralytics' run folder (plots, ``results.csv``, ``weights/``).
        best: best checkpoint (optimizer already stripped by Ultralytics).
        epochs_run: epochs completed (fewer than asked when early stopping hit).
        seconds: wall time of the run.
        val_metrics: Ultralytics' final validation numbers for ``best`` on the val split.
        args: the arguments passed to Ultralytics.
        architecture: the network's architecture YAML stem (``yolov8n``).

    """

    run_dir: Path
    best: Path
    epochs_run: int
    seconds: float
    val_metrics: dict[str, float]
    args: dict[str, Any]
    architecture: str


def check_devices(options: TrainOptions) -> None:
    """Fail early, naming the field, when the requested devices cannot be used here."""
    check_gpus(options.device, options.gpus)
    if len(options.gpus) > 1 and importlib.util.find_spec("cloudpickle") is None:
        raise TrainingError(
            "multi-GPU (DDP) training needs the 'cloudpickle' package (pip install 'cloudpickle>=3.1.1'); "
            "linecheck never installs packages at run time"
        )


def _amp_setting(options: TrainOptions) -> bool | str:
    if options.amp == "off" or not options.gpus:
        return False
    if options.amp == "bf16":
        return "bf16"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else False


def ultralytics_args(
    options: TrainOptions, data_yaml: Path, run_dir: Path, *, from_checkpoint: bool = False
) -> dict[str, Any]:
    """Keyword arguments for ``YOLO.train`` (offline-safe, reproducible, into ``run_dir``).

    ``from_checkpoint``: the model is one of our ``.pt`` files, whose weights seed the training
    (fine-tuning); otherwise the network starts from random weights.
    """
    return {
        "data": str(data_yaml),
        "epochs": options.epochs,
        "imgsz": options.imgsz,
        "batch": options.batch,
        "device": options.device,
        "workers": options.workers,
        "seed": options.seed,
        "deterministic": True,
        "patience": options.patience,
        "amp": _amp_setting(options),
        "cache": "ram" if options.cache else False,
        "time": options.hours,
        "plots": options.plots,
        "pretrained": from_checkpoint,  # False makes Ultralytics drop a checkpoint's weights
        "project": str(run_dir.parent),
        "name": run_dir.name,
        "exist_ok": False,
        "verbose": False,
    }


def run_training(options: TrainOptions, dataset: YoloDataset, runs_dir: Path, *, name: str) -> TrainRun:
    """Train on ``dataset`` into a new run folder ``runs_dir/<name>-<utc time>``."""
    from linecheck.training.detector_backbones import is_lite_architecture, register_detector_backbones

    lite = is_lite_architecture(options.model)
    if lite and len(options.gpus) > 1:
        raise InvalidFieldError(
            "device",
            options.device,
            f"{options.model} trains on one device: Ultralytics' DDP workers cannot build its backbone",
        )
    check_devices(options)
    spec = resolve_model_spec(options.model)
    check_architecture(spec)
    prepare_ultralytics()
    if lite:
        register_detector_backbones()
    from ultralytics import YOLO

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    runs_dir = Path(runs_dir).resolve()  # Ultralytics puts a relative project under its own runs dir
    run_dir = runs_dir / f"{name}-{stamp}"
    data_yaml = dataset.write_resolved_yaml(runs_dir / f".{name}-{stamp}.data.yaml")
    args = ultralytics_args(options, data_yaml, run_dir, from_checkpoint=spec.endswith(".pt"))
    started = time.monotonic()
    model = YOLO(spec, task="detect")
    try:
        model.train(**args)
    except Exception as exc:  # Ultralytics raises plain exceptions for data, device and model problems
        raise TrainingError(f"training {spec} on {dataset.yaml_path} failed: {exc}") from exc
    seconds = time.monotonic() - started
    trainer = model.trainer
    if trainer is None:
        raise TrainingError(f"training {spec} on {dataset.yaml_path} returned no trainer")
    best = Path(trainer.best)
    if not best.is_file():
        best = Path(trainer.last)
    if not best.is_file():
        raise TrainingError(f"training finished but wrote no checkpoint under {trainer.save_dir}")
    metrics = getattr(trainer, "metrics", None) or {}  # empty after DDP: workers ran in subprocesses
    return TrainRun(
        run_dir=Path(trainer.save_dir),
        best=best,
        epochs_run=epochs_completed(Path(trainer.save_dir)),
        seconds=round(seconds, 1),
        val_metrics={str(k): round(float(v), 4) for k, v in dict(metrics).items()},
        args={**args, "model": spec},
        architecture=_architecture(model, spec),
    )


def _architecture(model: Any, spec: str) -> str:
    yaml_cfg = getattr(getattr(model, "model", None), "yaml", None)
    source = yaml_cfg.get("yaml_file", spec) if isinstance(yaml_cfg, dict) else spec
    return Path(str(source)).stem


def epochs_completed(run_dir: Path) -> int:
    """Epochs recorded in the run's ``results.csv`` (one row per finished epoch)."""
    results = run_dir / "results.csv"
    if not results.is_file():
        return 0
    rows = [row for row in results.read_text(encoding="utf-8").splitlines()[1:] if row.strip()]
    return len(rows)


def options_dict(options: TrainOptions) -> dict[str, Any]:
    """The options as recorded in a model card."""
    return asdict(options)
