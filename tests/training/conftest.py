"""Shared fixtures: a tiny generated dataset and one model trained on it (offline) per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lc_training_data import NAMES, ROOT, TrainedModel, write_tiny_dataset

HERE = Path(__file__).resolve().parent


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
    attempts_file = work / "attempts.json"
    env = dict(os.environ)
    env.update(
        YOLO_OFFLINE="1",
        YOLO_CONFIG_DIR=str(work / "ultralytics"),
        LINECHECK_DATA_DIR=str(work / "var"),
        PYTHONPATH=str(ROOT),
    )
    args = ["train", "--line", "bearing", "--data", str(tiny_dataset), "--epochs", "1", "--imgsz", "64"]
    args += ["--batch", "8", "--workers", "0", "--models-dir", str(work / "models")]
    args += ["--runs-dir", str(work / "runs"), "--promote"]
    done = subprocess.run(
        [sys.executable, str(HERE / "lc_offline_cli.py"), str(attempts_file), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    attempts = json.loads(attempts_file.read_text()) if attempts_file.is_file() else ["<no record>"]
    return TrainedModel(
        data=tiny_dataset,
        models_dir=work / "models",
        runs_dir=work / "runs",
        config_dir=work / "ultralytics",
        attempts=attempts,
        returncode=done.returncode,
        output=done.stdout + done.stderr,
    )
