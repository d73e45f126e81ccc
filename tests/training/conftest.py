"""Shared fixtures: a tiny generated dataset and one model trained on it (offline) per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from lc_training_data import NAMES, TrainedModel, run_offline_cli, write_tiny_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-bearing")
    write_tiny_dataset(root, NAMES, train=8, val=4, test=6, imgsz=96, seed=3)
    return root


@pytest.fixture(scope="session")
def trained(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """One-epoch `linecheck train` at imgsz 64 in a subprocess where any network use is refused,
    with a brand-new Ultralytics config dir (no font, no settings) and plots on."""
    work = tmp_path_factory.mktemp("trained")
    args = ["train", "--line", "bearing", "--data", str(tiny_dataset), "--epochs", "1", "--imgsz", "64"]
    args += ["--batch", "8", "--workers", "0", "--models-dir", str(work / "models")]
    args += ["--runs-dir", str(work / "runs"), "--promote"]
    return run_offline_cli(work, args, data=tiny_dataset, timeout=300)
