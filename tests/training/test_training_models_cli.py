"""`linecheck models list|show|promote` on a registry built in the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.model.card import ModelCard, OnnxInfo
from linecheck.model.registry import Registry

runner = CliRunner()


def _register(registry: Registry, tmp_path: Path, name: str, map50: float, escape: float) -> int:
    weights = tmp_path / f"{name}-{map50}.pt"
    weights.write_bytes(b"weights")
    card = ModelCard(
        name=name,
        version=1,
        kind="pv",
        classes=["crack", "finger_interruption", "dark_cell", "broken_corner"],
        imgsz=320,
        onnx=OnnxInfo(imgsz=320),
        metrics={"mAP50": map50, "escape_rate": escape},
    )
    return registry.register(card, {"weights.pt": weights}).card.version


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "models")
    _register(reg, tmp_path, "pv", 0.61, 0.04)
    _register(reg, tmp_path, "pv", 0.72, 0.02)
    reg.promote("pv", 1)
    return reg


def test_list_shows_production_metrics(registry: Registry) -> None:
    result = runner.invoke(
        app, ["models", "list", "--models-dir", str(registry.root)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.strip("│ ").startswith("pv"))
    cells = [c.strip() for c in row.strip("│").split("│")]
    assert cells[:3] == ["pv", "1, 2", "1"]
    assert cells[4:] == ["320", "0.61", "0.04"]  # metrics of the production version, not the latest


def test_list_of_an_empty_registry(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path / "none")])
    assert result.exit_code == 0 and "no models registered" in result.output


@pytest.mark.parametrize(("version", "expected"), [("production", 1), ("latest", 2), ("2", 2)])
def test_show_prints_the_card(registry: Registry, version: str, expected: int) -> None:
    result = runner.invoke(
        app, ["models", "show", "pv", "--version", version, "--models-dir", str(registry.root)]
    )
    assert result.exit_code == 0, result.output
    card = ModelCard.from_dict(json.loads(result.output))
    assert card == registry.get("pv", expected, built=False).card


def test_promote_moves_the_stage(registry: Registry) -> None:
    result = runner.invoke(app, ["models", "promote", "pv", "2", "--models-dir", str(registry.root)])
    assert result.exit_code == 0, result.output
    assert "was 1" in result.output
    assert registry.stages("pv") == {"production": 2}
    result = runner.invoke(
        app, ["models", "promote", "pv", "1", "--stage", "staging", "--models-dir", str(registry.root)]
    )
    assert result.exit_code == 0 and registry.stages("pv") == {"production": 2, "staging": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["promote", "pv", "9"], "no version 9"),
        (["promote", "nope", "1"], "'nope' is not in the registry"),
        (["promote", "pv", "1", "--stage", "12"], "stage='12'"),
        (["promote", "pv", "1", "--stage", "bad stage"], "stage='bad stage'"),
        (["show", "pv", "--version", "staging"], "no version at stage 'staging'"),
    ],
)
def test_bad_requests_fail_naming_the_value(registry: Registry, args: list[str], message: str) -> None:
    before = registry.stages("pv")
    result = runner.invoke(app, ["models", *args, "--models-dir", str(registry.root)])
    assert result.exit_code == 1
    assert message in result.output
    assert registry.stages("pv") == before  # nothing already accepted is lost
