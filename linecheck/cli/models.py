"""`linecheck models list|show|promote|build|shadow`: the model registry, and the lines' shadow models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from linecheck.cli.common import ModelsDir, console, errors_exit, open_registry
from linecheck.errors import InvalidFieldError

app = typer.Typer(
    help="Model registry: list, show, promote versions and build their ONNX graphs.", no_args_is_help=True
)


def _fmt(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


@app.command("list")
def list_models(models_dir: ModelsDir = None) -> None:
    """Table of registered models: versions, production version, classes, imgsz, mAP50, escape rate."""
    registry = open_registry(models_dir)
    table = Table(title=f"models in {registry.root}")
    for column in ("name", "versions", "production", "classes", "imgsz", "mAP50", "escape rate"):
        table.add_column(column)
    with errors_exit():
        for name in registry.names():
            stages = registry.stages(name)
            shown = registry.get(name, stages.get("production", "latest"), built=False)
            card = shown.card
            table.add_row(
                name,
                ", ".join(str(v) for v in registry.versions(name)),
                _fmt(stages.get("production")),
                ", ".join(card.classes),
                str(card.imgsz),
                _fmt(card.metrics.get("mAP50")),
                _fmt(card.metrics.get("escape_rate")),
            )
    console.print(table)
    if not registry.names():
        console.print(f"no models registered under {registry.root}")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Registry model name.")],
    version: Annotated[str, typer.Option(help="Version number, 'latest' or a stage.")] = "production",
    models_dir: ModelsDir = None,
) -> None:
    """Print a version's model card as JSON."""
    with errors_exit():
        mv = open_registry(models_dir).get(name, version, built=False)
    typer.echo(mv.card.to_json(), nl=False)


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Registry model name.")],
    version: Annotated[str, typer.Argument(help="Version number (or 'latest').")],
    stage: Annotated[str, typer.Option(help="Stage to point at the version.")] = "production",
    models_dir: ModelsDir = None,
) -> None:
    """Point a stage (default production) of a model at one of its versions."""
    registry = open_registry(models_dir)
    with errors_exit():
        if not stage.replace("-", "").replace("_", "").isalnum() or stage.isdigit() or stage == "latest":
            raise InvalidFieldError(
                "stage", stage, "expected letters, digits, '-' or '_' (not a number, not 'latest')"
            )
        previous = registry.stages(name).get(stage)
        number = registry.promote(name, version, stage)
    was = f" (was {previous})" if previous is not None else ""
    console.print(f"{name}: {stage} -> version {number}{was}")


@app.command("build")
def build(models_dir: ModelsDir = None) -> None:
    """Export the ONNX graph of every version committed as weights only (make install runs this)."""
    from linecheck.training.export import build_registry_onnx

    registry = open_registry(models_dir)
    with errors_exit():
        built = build_registry_onnx(registry)
    for exported in built:
        console.print(f"built {exported.path} (input {exported.input_shape}, output {exported.output_shape})")
    console.print(f"{len(built)} graph(s) built under {registry.root}; the others were already there")


@app.command("shadow")
def shadow(
    inspector_dir: Path | None = typer.Option(
        None, "--inspector-dir", help="the inspector's folder (default: LINECHECK_INSPECTOR_DIR)"
    ),
    line: str | None = typer.Option(None, "--line", "-l", help="only this line"),
    as_json: bool = typer.Option(False, "--json", help="print the summaries as one JSON list"),
) -> None:
    """How the lines' shadow models judged the frames the lines inspected, beside production.

    ``production only``: units production failed that the candidate would have passed (escapes it would
    add); ``shadow only``: units it would have failed that production passed (catches or false rejects:
    look at them in the shadow's disagreements.jsonl and images/ before promoting).
    """
    import json

    from linecheck.inspect.settings import InspectorSettings
    from linecheck.inspect.shadow import read_summaries
    from linecheck.settings_env import read_settings

    with errors_exit():
        folder = inspector_dir or read_settings(InspectorSettings).inspector_dir
        summaries = [s for s in read_summaries(folder) if line in (None, s.get("line_id"))]
    if as_json:
        print(json.dumps(summaries))
        return
    if not summaries:
        console.print(f"no shadow model has judged a frame under {folder} (a line's shadow: entries)")
        return
    table = Table(title=f"shadow models under {folder}")
    for column in (
        "line",
        "shadow",
        "version",
        "frames",
        "agree",
        "production only",
        "shadow only",
        "skipped",
    ):
        table.add_column(column, justify="left" if column in ("line", "shadow") else "right")
    for s in summaries:
        compared = int(s.get("compared", 0))
        agree = int(s.get("both_pass", 0)) + int(s.get("both_fail", 0))
        skipped = s.get("skipped") or {}
        table.add_row(
            str(s.get("line_id")),
            str(s.get("shadow")),
            str(s.get("model_version")),
            str(compared),
            f"{agree / compared:.1%}" if compared else "-",
            str(s.get("production_only", 0)),
            str(s.get("shadow_only", 0)),
            ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "0",
        )
    console.print(table)
    for s in summaries:
        defects = s.get("defects") or {}
        classes = sorted(set(defects.get("production", {})) | set(defects.get("shadow", {})))
        if classes:
            counts = ", ".join(
                f"{c} {defects.get('production', {}).get(c, 0)}/{defects.get('shadow', {}).get(c, 0)}"
                for c in classes
            )
            console.print(f"{s.get('line_id')} {s.get('shadow')} defects production/shadow: {counts}")
        console.print(f"  disagreements: {s['folder']}/disagreements.jsonl")
