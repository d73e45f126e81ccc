"""`linecheck data synth`: write a synthetic YOLO dataset for one line kind."""

from __future__ import annotations

from pathlib import Path

import typer

from linecheck.cli.common import errors_exit


def synth(
    out: Path = typer.Argument(..., help="Output folder (created; must be empty unless --overwrite)."),
    kind: str = typer.Option(..., "--kind", help="Line kind: textile, bearing or pv."),
    images: int = typer.Option(..., "--images", help="Number of images to generate."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical output."),
    imgsz: int = typer.Option(640, "--imgsz", help="Square image size in pixels."),
    val: float = typer.Option(0.2, "--val", help="Fraction of images in the validation split."),
    test: float = typer.Option(0.1, "--test", help="Fraction of images in the test split."),
    defect_free: float = typer.Option(0.2, "--defect-free", help="Fraction of images without defects."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace images and labels already in OUT."),
) -> None:
    """Generate a synthetic YOLO dataset (images, labels, data.yaml) of KIND into OUT."""
    from linecheck.datasets.synth import write_dataset  # heavy imports only when the command runs

    with errors_exit(code=2):
        data_yaml = write_dataset(
            kind,
            out,
            images=images,
            seed=seed,
            imgsz=imgsz,
            val=val,
            test=test,
            defect_free=defect_free,
            overwrite=overwrite,
        )
    typer.echo(str(data_yaml))


def register(app: typer.Typer) -> None:
    """Add ``synth`` to the ``data`` command group."""
    app.command("synth")(synth)
