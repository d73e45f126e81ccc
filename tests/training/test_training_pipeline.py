"""End to end on a tiny generated dataset: offline train -> ONNX -> parity -> registry -> val -> export."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from lc_training_data import ROOT, TrainedModel
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.errors import ExportError
from linecheck.model.processing import preprocess
from linecheck.model.registry import Registry
from linecheck.training.dataset import load_dataset
from linecheck.training.export import export_engine, export_onnx
from linecheck.training.parity import check_parity, compare, noise_images, sample_images

pytestmark = pytest.mark.slow
runner = CliRunner()


def _registry(trained: TrainedModel) -> Registry:
    assert trained.returncode == 0, trained.output
    return Registry(trained.models_dir)


def test_training_ran_with_network_impossible(trained: TrainedModel) -> None:
    assert trained.returncode == 0, trained.output
    assert trained.attempts == [], f"network was attempted: {trained.attempts}"
    (run_dir,) = [p for p in trained.runs_dir.iterdir() if p.is_dir()]
    for plot in ("results.png", "labels.jpg", "confusion_matrix.png", "BoxPR_curve.png"):
        assert (run_dir / plot).is_file(), (
            f"plot {plot} missing from {sorted(p.name for p in run_dir.iterdir())}"
        )
    user_dir = trained.config_dir / "Ultralytics"
    assert (user_dir / "Arial.ttf").stat().st_size > 100_000  # a real font, placed locally


def test_registered_version_round_trips(trained: TrainedModel) -> None:
    registry = _registry(trained)
    assert registry.names() == ["bearing"]
    assert registry.versions("bearing") == [1]
    assert registry.stages("bearing") == {"production": 1}
    by_stage, by_number = registry.get("bearing", "production"), registry.get("bearing", 1)
    assert by_stage.card == by_number.card
    card = by_stage.card
    dataset = load_dataset(trained.data)
    assert card.classes == list(dataset.names)
    assert card.imgsz == 64 and card.kind == "bearing" and card.architecture == "yolov8n"
    assert card.dataset["sha256"] == dataset.fingerprint()
    assert card.dataset["images"] == {"train": 8, "val": 4, "test": 6}
    assert "--epochs 1" in card.training["command"] and "--imgsz 64" in card.training["command"]
    assert card.training["epochs_run"] == 1
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    if head.returncode != 0:
        assert card.git_commit == ""
    else:  # others may commit while the test runs: the recorded commit must be HEAD or an ancestor
        assert len(card.git_commit) == 40
        ancestor = ["git", "merge-base", "--is-ancestor", card.git_commit, "HEAD"]
        assert subprocess.run(ancestor, cwd=ROOT, check=False).returncode == 0
    assert card.onnx is not None and card.onnx.dynamic_batch and card.onnx.output_layout == "raw"
    assert card.training["parity"]["passed"] is True
    for key in ("mAP50", "mAP50_95", "per_class", "escape_rate", "false_reject_rate", "thresholds"):
        assert key in card.metrics
    assert card.metrics["thresholds"] == {"scratch": 0.35, "dent": 0.35, "rust": 0.35, "crack": 0.25}
    assert by_stage.weights.is_file() and by_stage.onnx.is_file()
    on_disk = json.loads((by_stage.path / "model_card.json").read_text())
    assert on_disk["version"] == 1 and on_disk["metrics"]["mAP50"] == card.metrics["mAP50"]


def test_val_writes_report_and_plots(trained: TrainedModel, tmp_path: Path) -> None:
    registry = _registry(trained)
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "val",
            "bearing",
            "--data",
            str(trained.data),
            "--out",
            str(out),
            "--runtime",
            "torch",
            "--models-dir",
            str(registry.root),
            "--line",
            "bearing-01",
            "--update-card",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("report.json", "confusion_matrix.png", "pr_curve.png"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    dataset = load_dataset(trained.data)
    labelled = [bool(dataset.classes_in(p)) for p in dataset.images("test")]
    units = report["units"]
    assert units["defective_units"] == sum(labelled) and units["good_units"] == labelled.count(False)
    assert 0.0 <= units["escape_rate"] <= 1.0 and 0.0 <= units["false_reject_rate"] <= 1.0
    assert units["escapes"] == round(units["escape_rate"] * units["defective_units"])
    assert len(report["confusion_matrix"]) == len(dataset.names) + 1  # + background
    assert set(report["per_class"]) == set(dataset.names)
    card = registry.get("bearing", 1).card
    assert card.metrics["runtime"] == "torch"  # --update-card wrote this evaluation


def test_val_rejects_unknown_split(trained: TrainedModel, tmp_path: Path) -> None:
    registry = _registry(trained)
    result = runner.invoke(
        app,
        [
            "val",
            "bearing",
            "--data",
            str(trained.data),
            "--split",
            "holdout",
            "--out",
            str(tmp_path),
            "--models-dir",
            str(registry.root),
        ],
    )
    assert result.exit_code == 1
    assert "holdout" in result.output


@pytest.mark.parametrize("nms", [False, True], ids=["raw", "nms"])
def test_onnx_export_matches_pytorch(trained: TrainedModel, tmp_path: Path, nms: bool) -> None:
    weights = _registry(trained).get("bearing").weights
    exported = export_onnx(weights, tmp_path, imgsz=64, nms=nms, max_batch=4)
    assert exported.info.dynamic_batch and exported.info.output_layout == ("nms" if nms else "raw")
    graph = onnx.load(str(exported.path)).graph
    assert graph.input[0].name == exported.info.input_name
    images = sample_images(load_dataset(trained.data).images("test"), limit=3)
    report = check_parity(weights, exported.path, exported.info, images, tolerance=1e-2)
    assert report.passed and report.images == 3 and report.output_shape[0] == 3


def test_onnx_batch_is_dynamic_and_per_image(trained: TrainedModel) -> None:
    onnx_path = _registry(trained).get("bearing").onnx
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    batch, _ = preprocess(noise_images(3, 64, seed=11), 64)
    (together,) = session.run(None, {"images": batch})
    assert together.shape[0] == 3
    for i in range(3):
        (alone,) = session.run(None, {"images": batch[i : i + 1]})
        np.testing.assert_allclose(alone[0], together[i], atol=1e-4)
    assert not np.allclose(together[0], together[1]) and not np.allclose(together[1], together[2])


def test_parity_fails_on_a_tampered_graph(trained: TrainedModel, tmp_path: Path) -> None:
    mv = _registry(trained).get("bearing")
    assert mv.card.onnx is not None
    model = onnx.load(str(mv.onnx))
    for weights in model.graph.initializer:  # perturb every float weight of the graph
        if weights.data_type == onnx.TensorProto.FLOAT and len(weights.dims) == 4:
            array = onnx.numpy_helper.to_array(weights) * 1.1
            weights.CopyFrom(onnx.numpy_helper.from_array(array.astype(np.float32), weights.name))
    tampered = tmp_path / "tampered.onnx"
    onnx.save(model, str(tampered))
    images = noise_images(2, 64)
    report = compare(mv.weights, tampered, mv.card.onnx, images, tolerance=1e-2)
    assert report.max_abs_diff > 1e-2 and not report.passed
    with pytest.raises(ExportError, match="max_abs_diff"):
        check_parity(mv.weights, tampered, mv.card.onnx, images, tolerance=1e-2)


def test_export_cli_registers_a_new_fp16_version(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _registry(trained)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # the export must leave no scratch files in the caller's directory
    result = runner.invoke(
        app,
        [
            "export",
            "bearing",
            "--fp16",
            "--register",
            "--out",
            str(tmp_path),
            "--data",
            str(trained.data),
            "--models-dir",
            str(registry.root),
        ],
    )
    assert result.exit_code == 0, result.output
    new = registry.get("bearing", "latest")
    assert new.card.version == 2 and new.card.onnx is not None and new.card.onnx.fp16
    assert new.card.metrics == {} and new.card.training["derived_from"]["version"] == 1
    assert registry.stages("bearing") == {"production": 1}  # exporting never promotes
    session = ort.InferenceSession(str(new.onnx), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"  # fp16 weights, float32 I/O
    assert sorted(p.name for p in cwd.iterdir()) == []


def test_parity_never_passes_non_finite_outputs(trained: TrainedModel, tmp_path: Path) -> None:
    mv = _registry(trained).get("bearing")
    assert mv.card.onnx is not None
    model = onnx.load(str(mv.onnx))
    for weights in model.graph.initializer:
        if weights.data_type == onnx.TensorProto.FLOAT and len(weights.dims) == 4:
            array = np.full(onnx.numpy_helper.to_array(weights).shape, np.nan, np.float32)
            weights.CopyFrom(onnx.numpy_helper.from_array(array, weights.name))
            break
    broken = tmp_path / "nan.onnx"
    onnx.save(model, str(broken))
    report = compare(mv.weights, broken, mv.card.onnx, noise_images(2, 64), tolerance=1e9)
    assert report.max_abs_diff == float("inf") and not report.passed


def test_engine_export_needs_cuda(trained: TrainedModel, tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this host has CUDA; the refusal is for CPU-only hosts")
    with pytest.raises(ExportError, match="CUDA"):
        export_engine(_registry(trained).get("bearing").weights, tmp_path, imgsz=64)


def test_an_hours_limit_ends_training_before_its_epochs(tiny_dataset: Path, tmp_path: Path) -> None:
    """--hours: Ultralytics sets the epoch count from the measured epoch time (here: a limit shorter
    than one epoch, so it stops after the first of four)."""
    from linecheck.training.train import TrainOptions, run_training

    options = TrainOptions(epochs=4, imgsz=64, batch=8, workers=0, hours=1e-6, plots=False)
    run = run_training(options, load_dataset(tiny_dataset), tmp_path / "runs", name="timed")
    assert run.args["time"] == 1e-6
    assert run.epochs_run == 1 < options.epochs
