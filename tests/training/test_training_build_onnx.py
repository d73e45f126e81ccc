"""`linecheck models build`: the committed starter models hold weights only; their graphs are built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.errors import ExportError, RegistryError
from linecheck.model.registry import CARD_FILE, STAGES_FILE, WEIGHTS_FILE, Registry
from linecheck.training.export import build_registry_onnx

pytestmark = pytest.mark.slow

STARTERS = Path(__file__).resolve().parents[2] / "models"


def _weights_only_copy(tmp_path: Path, name: str = "bearing") -> tuple[Registry, Path]:
    """A registry holding one starter model's weights and card, as a fresh clone has them."""
    source = Registry(STARTERS)
    number = source.resolve(name)
    target = tmp_path / "models" / name / str(number)
    target.mkdir(parents=True)
    for file in (WEIGHTS_FILE, CARD_FILE):
        shutil.copy2(STARTERS / name / str(number) / file, target / file)
    shutil.copy2(STARTERS / name / STAGES_FILE, target.parent / STAGES_FILE)
    return Registry(tmp_path / "models"), target


def test_a_weights_only_version_is_refused_until_built_then_runs(tmp_path: Path) -> None:
    registry, folder = _weights_only_copy(tmp_path)
    with pytest.raises(RegistryError, match="linecheck models build"):
        registry.get("bearing")
    listed = runner.invoke(app, ["models", "list", "--models-dir", str(registry.root)])
    assert listed.exit_code == 0, listed.output  # listing does not need the graph

    result = runner.invoke(app, ["models", "build", "--models-dir", str(registry.root)])
    assert result.exit_code == 0, result.output
    assert "1 graph(s) built" in result.output
    version = registry.get("bearing")
    card = version.card
    assert card.onnx is not None and version.onnx == folder / card.onnx.file
    session = ort.InferenceSession(str(version.onnx), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(0).random((2, 3, card.imgsz, card.imgsz), dtype=np.float32)
    (output,) = session.run([card.onnx.output_name], {card.onnx.input_name: frames})
    assert output.shape[:2] == (2, 4 + len(card.classes))  # dynamic batch, one row per box + class

    again = runner.invoke(app, ["models", "build", "--models-dir", str(registry.root)])
    assert "0 graph(s) built" in again.output  # a built registry is left alone


def test_a_graph_that_does_not_match_its_card_is_removed_and_named(tmp_path: Path) -> None:
    registry, folder = _weights_only_copy(tmp_path)
    raw = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    raw["onnx"]["input_name"] = "pixels"
    (folder / CARD_FILE).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ExportError, match="'pixels'"):
        build_registry_onnx(registry)
    assert not (folder / raw["onnx"]["file"]).exists()


def test_only_detectors_are_rebuilt_from_weights(tmp_path: Path) -> None:
    registry, folder = _weights_only_copy(tmp_path)
    raw = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
    raw["onnx"]["output_layout"] = "classify"
    (folder / CARD_FILE).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ExportError, match="only detectors"):
        build_registry_onnx(registry)


runner = CliRunner()
