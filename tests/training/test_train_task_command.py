"""The command line recorded in a classify / anomaly model card parses back to the options of its run."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from linecheck.cli.main import app
from linecheck.training.anomaly import AnomalyOptions
from linecheck.training.classify import ClassifyOptions
from linecheck.training.image_models import task_command


def _parsed(command: str) -> dict[str, Any]:
    """The ``linecheck train`` parameters the CLI reads from ``command`` (parsed, not run)."""
    words = shlex.split(command)
    assert words[:2] == ["linecheck", "train"]
    train = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    return dict(train.make_context("train", words[2:]).params)


@pytest.mark.parametrize(
    "options",
    [
        ClassifyOptions(),
        ClassifyOptions(pretrained=False, epochs=3, imgsz=256, batch=8, lr=0.002, seed=4, freeze=3, tta=4),
        ClassifyOptions(good_class="ok", soft_labels=True, device="0"),
        AnomalyOptions(),
        AnomalyOptions(
            imgsz=320, tile=128, target_frr=0.02, calib_fraction=0.3, coreset=512, seed=2, device="1"
        ),
    ],
    ids=["classify-defaults", "classify", "classify-good-class-gpu", "anomaly-defaults", "anomaly-tiled-gpu"],
)
def test_the_recorded_command_reproduces_the_options(options: ClassifyOptions | AnomalyOptions) -> None:
    task = "classify" if isinstance(options, ClassifyOptions) else "anomaly"
    command = task_command(task, "pv", Path("data/cells"), "pv-cls", options)
    params = _parsed(command)
    assert params["task"].value == task
    assert (params["line"], params["name"], params["data"]) == ("pv", "pv-cls", Path("data/cells"))
    rebuilt = type(options)(**{f.name: params[f.name] for f in dataclasses.fields(options)})
    assert rebuilt == options
