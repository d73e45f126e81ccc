"""``linecheck train`` end to end: train, export ONNX, check parity, register, evaluate, promote.

A version directory is complete when it is registered (weights, ONNX, card); evaluation then
only adds the card's ``metrics``, as the registry allows.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from linecheck.config import PROJECT_ROOT, get_path_settings
from linecheck.errors import InvalidFieldError, RegistryError
from linecheck.model.card import ONNX_FILE, ModelCard
from linecheck.model.registry import WEIGHTS_FILE, ModelVersion, Registry
from linecheck.training.dataset import YoloDataset, load_dataset
from linecheck.training.evaluate import EvalReport, Runtime, evaluate
from linecheck.training.export import export_onnx
from linecheck.training.parity import ParityReport, check_parity, default_tolerance, sample_images
from linecheck.training.targets import Target
from linecheck.training.train import TrainOptions, TrainRun, options_dict, run_training

PARITY_IMAGES = 4


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """Everything ``linecheck train`` produced."""

    version: ModelVersion
    run: TrainRun
    parity: ParityReport
    report: EvalReport | None
    promoted_to: str | None


def git_commit(root: Path = PROJECT_ROOT) -> str:
    """``git rev-parse HEAD`` of the checkout, or ``""`` outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def display_path(path: Path) -> str:
    """``path`` relative to the project root when inside it (cards stay portable), else absolute."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_relative_to(PROJECT_ROOT) else str(resolved)


def canonical_command(line_or_kind: str, data: Path, options: TrainOptions, *, name: str | None) -> str:
    """The ``linecheck train`` command line that reproduces a run with these options."""
    parts = ["linecheck", "train", "--line", line_or_kind, "--data", display_path(data)]
    if name:
        parts += ["--name", name]
    parts += ["--model", options.model, "--epochs", str(options.epochs), "--imgsz", str(options.imgsz)]
    parts += ["--batch", str(options.batch), "--device", options.device, "--seed", str(options.seed)]
    parts += ["--patience", str(options.patience), "--workers", str(options.workers)]
    if options.amp != "auto":
        parts += ["--amp", options.amp]
    if options.cache:
        parts.append("--cache")
    if options.hours is not None:
        parts += ["--hours", f"{options.hours:g}"]
    return shlex.join(parts)


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch
    import ultralytics

    return {
        "ultralytics": ultralytics.__version__,
        "torch": str(torch.__version__),
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def build_card(
    target: Target,
    dataset: YoloDataset,
    run: TrainRun,
    options: TrainOptions,
    *,
    command: str,
    onnx_info: Any,
) -> ModelCard:
    """The card of a freshly trained version (``version`` is assigned by the registry)."""
    summary = dataset.summary()
    summary["data_yaml"] = display_path(dataset.yaml_path)
    return ModelCard(
        name=target.name,
        version=1,
        kind=target.kind,
        classes=list(target.classes),
        imgsz=options.imgsz,
        architecture=run.architecture,
        onnx=onnx_info,
        dataset=summary,
        training={
            "command": command,
            "options": options_dict(options),
            "ultralytics_args": {k: v for k, v in run.args.items() if k not in {"project", "name", "data"}},
            "epochs_run": run.epochs_run,
            "seconds": run.seconds,
            "val_metrics": run.val_metrics,
            "run_dir": display_path(run.run_dir),
            "line": target.line_id,
            "software": _versions(),
        },
        git_commit=git_commit(),
    )


def train_and_register(
    target: Target,
    data: Path,
    options: TrainOptions,
    *,
    registry: Registry,
    command: str | None = None,
    runs_dir: Path | None = None,
    eval_split: str | None = "test",
    runtime: Runtime = "onnx",
    promote: str | None = None,
) -> TrainResult:
    """Train ``target`` on ``data`` and register the result as the model's next version.

    Args:
        target: the registry model and thresholds (see :func:`linecheck.training.targets.resolve_target`).
        data: dataset folder or its ``data.yaml``.
        options: training options.
        registry: where to register.
        command: the command line recorded in the card (default: the equivalent ``linecheck train``).
        runs_dir: where Ultralytics' run folders go (default ``<data_dir>/runs/train``).
        eval_split: split to evaluate on after registering (``None`` to skip; falls back to
            ``val`` when the dataset has no test split).
        runtime: runtime for evaluation (``onnx`` is what gets served).
        promote: stage to point at the new version (e.g. ``production``), or ``None``.

    """
    dataset = load_dataset(data)
    if dataset.names != target.classes:
        raise InvalidFieldError(
            "data.names", list(dataset.names), f"model {target.name!r} expects classes {list(target.classes)}"
        )
    runs_dir = runs_dir or get_path_settings().data_dir / "runs" / "train"
    run = run_training(options, dataset, runs_dir, name=target.name)
    exported = export_onnx(run.best, run.run_dir / "export", imgsz=options.imgsz)
    parity_split = "val" if "val" in dataset.splits else "train"
    images = sample_images(dataset.images(parity_split), limit=PARITY_IMAGES)
    parity = check_parity(
        run.best, exported.path, exported.info, images, tolerance=default_tolerance(exported.info)
    )
    card = build_card(
        target,
        dataset,
        run,
        options,
        command=command or canonical_command(target.line_id or target.kind, data, options, name=None),
        onnx_info=exported.info,
    )
    card.training["parity"] = parity.to_dict()
    version = registry.register(card, {WEIGHTS_FILE: run.best, ONNX_FILE: exported.path})
    report: EvalReport | None = None
    if eval_split is not None:
        split = eval_split if eval_split in dataset.splits else "val"
        out_dir = run.run_dir / "eval"
        report = evaluate(
            version, dataset, thresholds=target.thresholds, out_dir=out_dir, split=split, runtime=runtime
        )
        metrics = report.card_metrics() | {"report_dir": display_path(out_dir)}
        registry.update_metrics(target.name, version.card.version, metrics)
        version = registry.get(target.name, version.card.version)
    if promote:
        registry.promote(target.name, version.card.version, promote)
    return TrainResult(version=version, run=run, parity=parity, report=report, promoted_to=promote)


def register_export(
    registry: Registry,
    source: ModelVersion,
    onnx_path: Path,
    onnx_info: Any,
    parity: ParityReport,
) -> ModelVersion:
    """Register a re-export of ``source`` (same weights, new ONNX) as the model's next version.

    Versions are immutable, so a different export (fp16, NMS in the graph, another opset) is a
    new version; its card keeps the training record, says where it came from and starts with
    no metrics (evaluate it with ``linecheck val --update-card``).
    """
    return register_derived(registry, source, onnx_path, onnx_info, derived_from={"parity": parity.to_dict()})


def register_derived(
    registry: Registry,
    source: ModelVersion,
    onnx_path: Path,
    onnx_info: Any,
    *,
    derived_from: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    architecture: str | None = None,
) -> ModelVersion:
    """Register a new ONNX graph built from ``source`` (same weights) as the model's next version.

    The card keeps ``source``'s training record and adds ``training.derived_from`` (``source``'s
    version number and ``derived_from``); ``metrics`` are those measured on the new graph, if any.
    The new version is never promoted here.
    """
    card = ModelCard.from_dict(json.loads(source.card.to_json()), source=source.path)
    card.onnx = onnx_info
    card.metrics = dict(metrics or {})
    if architecture is not None:
        card.architecture = architecture
    card.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    card.git_commit = git_commit()
    card.training = dict(card.training) | {"derived_from": {"version": source.card.version, **derived_from}}
    if not source.weights.is_file():
        raise RegistryError(f"model {card.name} v{source.card.version} has no weights file {source.weights}")
    return registry.register(card, {WEIGHTS_FILE: source.weights, ONNX_FILE: onnx_path})
