"""`linecheck train --task classify|anomaly` and `linecheck val` of those models (from cli/train.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from linecheck.cli.common import console
from linecheck.config import get_path_settings
from linecheck.model.registry import ModelVersion, Registry

if TYPE_CHECKING:
    from linecheck.training.anomaly import AnomalyOptions
    from linecheck.training.classify import ClassifyOptions
    from linecheck.training.targets import Target


def task_model_name(name: str | None, default: str, task: str) -> str:
    """``--name``, else ``<line's model>-<task>`` (never the detector's own registry name)."""
    return name or f"{default}-{'cls' if task == 'classify' else task}"


def _prepare(
    task: str,
    line: str,
    name: str | None,
    data: Path,
    runs_dir: Path | None,
    options: ClassifyOptions | AnomalyOptions,
) -> tuple[Target, str, Path]:
    """The registry target of a ``task`` model, its reproducing command line and its runs folder."""
    from linecheck.training.image_models import task_command
    from linecheck.training.targets import resolve_target

    target = resolve_target(line, name=task_model_name(name, resolve_target(line).name, task))
    command = task_command(task, line, data, target.name, options)
    return target, command, runs_dir or get_path_settings().data_dir / "runs" / task


def print_metrics(metrics: dict[str, Any] | None) -> None:
    """One summary line of image-level QA metrics."""
    if not metrics:
        return
    keys = ("accuracy", "class_accuracy", "f1", "auroc", "escape_rate", "false_reject_rate")
    shown = "  ".join(f"{k}={metrics[k]}" for k in keys if metrics.get(k) is not None)
    console.print(
        f"{shown}  ({metrics.get('defective_units')} defective, {metrics.get('good_units')} good images)"
    )


def run_classify(
    *,
    line: str,
    name: str | None,
    data: Path,
    registry: Registry,
    runs_dir: Path | None,
    promote: str | None,
    eval_split: str | None,
    options: ClassifyOptions,
) -> None:
    """Train, export, register and evaluate a classifier; print what was done."""
    from linecheck.training.classify import train_classifier

    target, command, runs = _prepare("classify", line, name, data, runs_dir, options)
    version, run, metrics = train_classifier(
        target,
        data,
        options,
        registry=registry,
        command=command,
        runs_dir=runs,
        eval_split=eval_split,
        promote=promote,
        log=lambda row: console.print(row),
    )
    _registered(version, f"{run.epochs_run} epochs (best {run.best_epoch}), {run.seconds} s", promote)
    print_metrics(metrics)
    validated = (metrics or {}).get("validated_threshold")
    if validated:
        shown = "  ".join(f"{k}={v}" for k, v in validated[validated["split"]].items() if v is not None)
        where = f"{validated['from_split']} ({validated['threshold']})"
        console.print(f"at the threshold validated on {where}: {shown}")


def run_anomaly(
    *,
    line: str,
    name: str | None,
    data: Path,
    registry: Registry,
    runs_dir: Path | None,
    promote: str | None,
    eval_data: Path | None,
    options: AnomalyOptions,
) -> None:
    """Fit, calibrate, export, register (and evaluate) an anomaly model; print what was done."""
    from linecheck.training.anomaly import train_anomaly

    target, command, runs = _prepare("anomaly", line, name, data, runs_dir, options)
    version, fit, metrics = train_anomaly(
        target,
        data,
        options,
        registry=registry,
        command=command,
        runs_dir=runs,
        promote=promote,
        eval_dir=eval_data,
    )
    _registered(
        version,
        f"{len(fit.train_images)} good images in the bank ({fit.bank_size} patches), "
        f"threshold {fit.threshold:.4g} calibrated on {len(fit.calib_images)} held-back good images "
        f"for a false-reject rate <= {options.target_frr:g}, "
        f"{fit.seconds} s",
        promote,
    )
    print_metrics(metrics)


def _registered(version: ModelVersion, what: str, promote: str | None) -> None:
    card = version.card
    console.print(f"registered [bold]{card.name}[/] version {card.version} at {version.path}: {what}")
    if promote:
        console.print(f"promoted {card.name} v{card.version} to {promote}")


def val_image_model(
    version: ModelVersion, data: Path, split: str, thresholds: dict[str, float]
) -> dict[str, Any]:
    """Evaluate a classifier on ``split`` of its layout, or an anomaly model on good/defect folders."""
    assert version.card.onnx is not None
    if version.card.onnx.output_layout == "classify":
        from linecheck.training.classify import evaluate_classifier, load_classify_set

        good = str(version.card.training.get("good_class") or "") or None
        dataset = load_classify_set(data, good_class=good)
        return evaluate_classifier(
            version, dataset, split, {c: thresholds.get(c, 0.5) for c in version.card.classes}
        )
    from linecheck.training.anomaly import evaluate_anomaly, labelled_images

    paths, labels = labelled_images(data)
    return evaluate_anomaly(version, paths, labels)
