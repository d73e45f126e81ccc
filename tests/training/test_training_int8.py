"""`linecheck export-int8`: quantize, gate against the FP32 graph, register; and the gate's rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from lc_training_data import TrainedModel
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.errors import InvalidFieldError
from linecheck.model.processing import DecodeOptions, preprocess
from linecheck.model.registry import ModelVersion, Registry
from linecheck.serving.triton.onnx_detector import OnnxDetector
from linecheck.training.dataset import load_dataset
from linecheck.training.int8_export import Int8Gate
from linecheck.training.parity import noise_images, sample_images
from linecheck.training.quantize import calibration_paths

runner = CliRunner()


@pytest.mark.parametrize(
    ("fp32_map", "int8_map", "fp32_escape", "int8_escape", "max_drop", "problems"),
    [
        (0.90, 0.89, 0.10, 0.10, 0.02, []),  # small drop, same escapes
        (0.90, 0.88, 0.10, 0.12, 0.02, []),  # both exactly at their limits
        (0.90, 0.85, 0.10, 0.10, 0.02, ["mAP50"]),
        (0.90, 0.90, 0.10, 0.20, 0.02, ["escape rate"]),
        (0.90, 0.80, 0.00, 0.50, 0.02, ["mAP50", "escape rate"]),
        (0.50, 0.60, 0.30, 0.10, 0.0, []),  # INT8 better on both
        (0.50, 0.50, 0.0, 0.0, -1.0, ["mAP50"]),  # a negative allowance refuses everything
    ],
)
def test_gate_table(fp32_map, int8_map, fp32_escape, int8_escape, max_drop, problems) -> None:
    gate = Int8Gate(
        split="val", fp32_map50=fp32_map, int8_map50=int8_map, fp32_escape_rate=fp32_escape,
        int8_escape_rate=int8_escape, max_map_drop=max_drop,
    )  # fmt: skip
    found = gate.problems()
    assert [p.split(" on ")[0] for p in found] == problems
    assert gate.passed is (not problems)
    record = gate.to_dict()
    assert record["passed"] is gate.passed and record["map_drop"] == round(fp32_map - int8_map, 4)
    if problems and problems[0] == "mAP50":  # both values and the allowance are named
        assert f"{fp32_map:.4f}" in found[0] and f"{int8_map:.4f}" in found[0]
        assert f"max_map_drop={max_drop:g}" in found[0]


def test_calibration_sample_is_deterministic(tmp_path: Path) -> None:
    paths = [tmp_path / f"img_{i:03d}.png" for i in range(50)]
    first = calibration_paths(list(reversed(paths)), 8)
    assert first == calibration_paths(paths, 8) and len(set(first)) == 8 and first == sorted(first)
    assert calibration_paths(paths[:5], 8) == paths[:5]  # fewer than asked: all of them
    with pytest.raises(InvalidFieldError, match="calib_images=0"):
        calibration_paths(paths, 0)


def _registry_copy(trained: TrainedModel, tmp_path: Path) -> Registry:
    """The session's registry, copied: other tests count the versions of the original."""
    assert trained.returncode == 0, trained.output
    shutil.copytree(trained.models_dir, tmp_path / "models")
    return Registry(tmp_path / "models")


def _export(registry: Registry, trained: TrainedModel, out: Path, *extra: str) -> tuple[int, str]:
    args = ["export-int8", "bearing", "--data", str(trained.data), "--calib-images", "4"]
    args += ["--out", str(out), "--models-dir", str(registry.root), *extra]
    result = runner.invoke(app, args)
    return result.exit_code, result.output


@pytest.mark.slow
def test_int8_export_registers_a_gated_float_io_version(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _registry_copy(trained, tmp_path)
    before = registry.versions("bearing")  # other tests may have registered exports already
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # quantization must leave no scratch files in the caller's directory
    # A one-epoch model's mAP is noise: the limits are wide, the gate's numbers are what is checked.
    code, output = _export(
        registry, trained, tmp_path / "out", "--register", "--max-map-drop", "1", "--max-escape-rise", "1"
    )
    assert code == 0, output
    assert sorted(p.name for p in cwd.iterdir()) == []
    new = registry.get("bearing", "latest")
    card = new.card
    assert card.version == before[-1] + 1 and registry.stages("bearing") == {"production": 1}  # not promoted
    assert card.onnx is not None and card.onnx.int8 and not card.onnx.fp16 and "INT8" in card.architecture
    derived = card.training["derived_from"]
    assert derived["version"] == 1 and derived["precision"] == "int8"
    assert derived["quantization"]["calibration"]["images"] == 4
    gate = card.metrics["quantization"]
    assert gate["passed"] and gate["split"] == "val" and gate["max_map_drop"] == 1
    for key in ("fp32_map50", "int8_map50", "fp32_escape_rate", "int8_escape_rate"):
        assert 0.0 <= gate[key] <= 1.0, key
    assert card.metrics["mAP50"] == gate["int8_map50"] and card.metrics["runtime"] == "onnx"
    assert json.loads((tmp_path / "out" / "gate.json").read_text())["int8_map50"] == gate["int8_map50"]

    session = ort.InferenceSession(str(new.onnx), providers=["CPUExecutionProvider"])
    assert [i.type for i in session.get_inputs()] == ["tensor(float)"]
    assert [o.type for o in session.get_outputs()] == ["tensor(float)"]
    assert any(node.op_type == "QuantizeLinear" for node in _graph_nodes(new.onnx))

    detector = OnnxDetector.from_registry(new, options=DecodeOptions(conf=0.0))
    try:
        images = sample_images(load_dataset(trained.data).images("test"), limit=3)
        found = detector.detect(images)
    finally:
        detector.close()
    assert len(found) == 3 and all(len(d) > 0 for d in found)  # conf 0: every image gets boxes
    assert all(np.isfinite(d.confidence).all() for d in found)

    from linecheck.serving.triton.python_model import TritonPythonModel

    server = TritonPythonModel()  # the embedded server's backend, without the server
    config = {
        "name": "bearing",
        "input": [{"name": "images", "data_type": "TYPE_FP32", "dims": [3, 64, 64]}],
        "output": [{"name": "output0", "data_type": "TYPE_FP32", "dims": [-1, -1]}],
    }
    server.initialize(
        {
            "model_config": json.dumps(config),
            "model_repository": str(new.path.parent),
            "model_version": str(card.version),
        }
    )
    assert server.input_dtype == np.float32
    batch, _ = preprocess(noise_images(2, 64), 64)
    np.testing.assert_allclose(server._run(batch), _infer(new, batch), rtol=0, atol=1e-4)


def _graph_nodes(path: Path) -> list[onnx.NodeProto]:
    return list(onnx.load(str(path), load_external_data=False).graph.node)


def _infer(version: ModelVersion, batch: np.ndarray) -> np.ndarray:
    detector = OnnxDetector.from_registry(version)
    try:
        return detector.infer(batch)
    finally:
        detector.close()


@pytest.mark.slow
def test_int8_gate_refuses_and_registers_nothing(trained: TrainedModel, tmp_path: Path) -> None:
    registry = _registry_copy(trained, tmp_path)
    before = registry.versions("bearing")
    code, output = _export(registry, trained, tmp_path / "out", "--register", "--max-map-drop", "-1")
    text = " ".join(output.split())
    assert code == 1, output
    assert "mAP50" in text and "(FP32)" in text and "(INT8)" in text and "max_map_drop=-1" in text
    assert "nothing registered" in text
    assert registry.versions("bearing") == before and registry.stages("bearing") == {"production": 1}
    gate = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert gate["passed"] is False and gate["max_map_drop"] == -1
