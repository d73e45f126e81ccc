"""The demo's own models record the `linecheck train` command a user would run to get them again."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from linecheck.cli.main import app
from linecheck.inspect import demo_anomaly, demo_cells
from linecheck.model.registry import Registry


def _parsed(command: str) -> dict[str, Any]:
    """The ``linecheck train`` parameters the CLI reads from ``command`` (parsed, not run)."""
    words = shlex.split(command, comments=True)
    assert words[:2] == ["linecheck", "train"]
    train = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    return dict(train.make_context("train", words[2:]).params)


@pytest.mark.parametrize("which", ["anomaly", "cells"])
def test_a_demo_models_card_command_parses_back_to_the_demos_options(
    which: str, demo_anomaly_cache: Path, demo_cells_cache: Path
) -> None:
    if which == "anomaly":
        cache, name, options = demo_anomaly_cache, demo_anomaly.ANOMALY_MODEL, demo_anomaly.OPTIONS
    else:
        cache, name, options = demo_cells_cache, demo_cells.CELL_MODEL, demo_cells.OPTIONS
    card = Registry(cache / "seed-1" / "models").get(name, "production").card
    command = card.training["command"]
    assert command.endswith("# by linecheck demo, synthetic seed 1")
    params = _parsed(command)
    assert params["name"] == name and params["promote"] is not None
    assert type(options)(**{f.name: params[f.name] for f in dataclasses.fields(options)}) == options
