"""`linecheck train|val|export|export-int8` refuse bad input before any work, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from lc_training_data import NAMES, write_tiny_dataset
from typer.testing import CliRunner

from linecheck.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def bearing_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-bearing")
    write_tiny_dataset(root, NAMES, train=2, val=1, test=1, imgsz=64)
    return root


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--line", "weaving-9"], "line='weaving-9'"),
        (["--line", "pv"], "data.names="),
        (["--line", "bearing", "--imgsz", "100"], "imgsz=100"),
        (["--line", "bearing", "--device", "gpu0"], "device='gpu0'"),
        (["--line", "bearing", "--model", "yolov8n.pt"], "model='yolov8n.pt'"),
        (["--line", "bearing", "--model", "yolov99z"], "model='yolov99z.yaml'"),
        (["--line", "bearing", "--name", "Bad/Name"], "name='Bad/Name'"),
    ],
)
def test_train_refuses_bad_input(bearing_data: Path, tmp_path: Path, extra: list[str], message: str) -> None:
    args = [
        "train",
        "--data",
        str(bearing_data),
        "--epochs",
        "1",
        "--models-dir",
        str(tmp_path / "m"),
        *extra,
    ]
    result = runner.invoke(app, [*args, "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 1, result.output
    assert message in result.output.replace("\n", "")
    assert not (tmp_path / "m").exists()  # nothing registered


def test_train_refuses_a_missing_dataset(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--line", "bearing", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no data.yaml" in " ".join(result.output.split())  # rich wraps lines


@pytest.mark.parametrize("command", [["val", "ghost", "--data", "."], ["export", "ghost"]])
def test_val_and_export_name_the_missing_model(tmp_path: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--models-dir", str(tmp_path)])
    assert result.exit_code == 1 and "'ghost' is not in the registry" in result.output


def test_export_int8_names_the_missing_model(bearing_data: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export-int8", "ghost", "--data", str(bearing_data), "--models-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "'ghost' is not in the registry" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export-int8", "bearing"], "Missing option '--data'"),
        (["export-int8", "bearing", "--data", ".", "--fp16"], "No such option: --fp16"),
        (["export", "bearing", "--int8"], "No such option: --int8"),  # one command per output
    ],
)
def test_int8_has_its_own_command_and_needs_a_dataset(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--models-dir", str(tmp_path / "m")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lc_image_data import write_class_folders

    return write_class_folders(tmp_path_factory.mktemp("cli-cells"), 4, size=32)


@pytest.mark.parametrize("task", ["classify", "anomaly"])
@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("0,1", "device='0,1': this task trains on one device"),
        ("cuda", "device='cuda': expected 'cpu', a CUDA index"),
        ("7", "device='7': this host has"),  # no host here has an eighth GPU
    ],
)
def test_image_tasks_train_on_one_device_of_this_host(
    cells: Path, tmp_path: Path, task: str, device: str, message: str
) -> None:
    data = cells / "functional" if task == "anomaly" else cells
    args = ["train", "--task", task, "--line", "pv", "--data", str(data), "--device", device]
    result = runner.invoke(app, [*args, "--epochs", "1", "--models-dir", str(tmp_path / "m")])
    assert result.exit_code == 1, result.output
    assert message in " ".join(result.output.split())
    assert not list((tmp_path / "m").glob("*/*/model_card.json"))  # nothing registered
