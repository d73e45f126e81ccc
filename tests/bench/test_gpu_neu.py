"""bench/gpu_neu.py rehearsed on the CPU as the GPU host will run it: the packed set, the fp16 Lite0
package, and gpu_neu.sh on a copy of the tree with only the host's packages importable."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from bench_scripts import load_bench_script
from device_host import copy_device_tree, host_python3
from fake_sets import fake_voc

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_packed_lite0_weights_are_half_and_load_into_the_detector(tmp_path: Path) -> None:
    gpu_neu = load_bench_script("gpu_neu")
    gpu_neu.pack_lite(tmp_path)
    package = tmp_path / "site" / gpu_neu.LITE_PACKAGE
    (pth,) = package.rglob("*.pth")
    state = torch.load(pth, map_location="cpu", weights_only=True)
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    assert any(p.name.startswith(("LICENSE", "METADATA")) for p in (tmp_path / "site").rglob("*"))


def test_host_script_trains_the_packed_set_with_only_the_host_packages(tmp_path: Path) -> None:
    """gpu_neu.sh on a copy of the tree: `.gpu_neu` packed from a generated NEU-like VOC set, python3
    without site-packages and only the host's distributions (no polars) plus the carried ones."""
    gpu_neu = load_bench_script("gpu_neu")
    host_env = load_bench_script("gpu_host_env")
    host = copy_device_tree(tmp_path / "host")
    pack = host / ".gpu_neu"
    fake_voc(tmp_path / "root" / "neu-det-voc")
    images = gpu_neu.pack_data(tmp_path / "root", pack)
    assert (
        images == 14
        and (pack / "neu" / "data.yaml").is_file()
        and (pack / "lines" / "neu-det.yaml").is_file()
    )
    gpu_neu.pack_lite(pack)
    site = host_env.host_site(tmp_path / "host_site", gpu_neu.CARRIED)
    assert not (site / "polars").exists() and (site / "ultralytics").exists() and (site / "torch").exists()
    assert not (site / gpu_neu.LITE_PACKAGE).exists()  # it comes from .gpu_neu/site, as on the host
    bin_dir = host_python3(tmp_path / "bin", isolated=True).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(site)}
    out = tmp_path / "out"
    args = ["bash", "bench/gpu_neu.sh", str(out), "--device", "cpu", "--epochs", "1", "--imgsz", "64"]
    args += ["--batch", "8", "--workers", "0", "--no-cache", "--work", str(tmp_path / "work")]
    proc = subprocess.run(args, cwd=host, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "gpu_neu.json").read_text())
    assert report["epochs_run"] == 1 and report["polars_replaced"] is True
    assert 0.0 <= report["metrics"]["mAP50"] <= 1.0 and report["parity"]["passed"] is True
    assert (out / "results.csv").is_file() and "NEU-DET yolov8n-lite0 at 64" in proc.stdout
    card = json.loads(next((tmp_path / "work" / "models" / "neu-det").glob("*/model_card.json")).read_text())
    assert card["architecture"] == "yolov8n-lite0" and "--hours" in card["training"]["command"]
