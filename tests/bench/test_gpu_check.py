"""``bench/gpu_check.py`` in its CPU rehearsal mode: every part runs and the JSON has its figures.

The GPU host runs the same script on CUDA (issue 17); here the parts that need no GPU run at
their smallest size, so a mistake that a CPU could show does not cost device time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench_scripts import load_bench_script
from device_host import copy_device_tree, host_python3

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "gpu_check.py"


def _run(results: Path, work: Path, parts: str) -> tuple[int, str, dict]:
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(results),
            "--device",
            "cpu",
            "--quick",
            "--parts",
            parts,
            "--work",
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    report = json.loads((results / "gpu_check.json").read_text())
    return proc.returncode, proc.stdout + proc.stderr, report


@pytest.mark.slow  # ~20 s on an idle 2-core guest, more under load
def test_cpu_rehearsal_runs_raw_e2e_and_agreement(tmp_path: Path) -> None:
    code, output, report = _run(tmp_path / "out", tmp_path / "work", "raw,e2e,agreement")
    assert code == 0, output
    parts = report["parts"]
    assert parts["raw"]["best_fps"] > 0
    assert parts["e2e"]["best_fps"] > 0 and parts["e2e"]["stages_ms_per_batch"]["model_eager"] > 0
    agreement = parts["agreement"]
    # The torch port of the checkpoint computes what the registry's ONNX graph computes.
    assert agreement["torch_port_vs_onnx_max_abs"] < 0.05
    assert agreement["cpu_onnx_vs_device_fp32_at_card_imgsz"]["f1"] >= 0.9
    table = output.strip().splitlines()[-5:]  # the table comes last: a row per part
    assert [line.split()[0] for line in table] == ["raw", "e2e", "triton", "agreement", "images"], table


@pytest.mark.slow
@pytest.mark.triton
@pytest.mark.skipif(importlib.util.find_spec("pytriton") is None, reason="needs nvidia-pytriton")
def test_cpu_rehearsal_serves_through_triton(tmp_path: Path) -> None:
    code, output, report = _run(tmp_path / "out", tmp_path / "work", "agreement,triton")
    assert code == 0, output
    triton = report["parts"]["triton"]
    assert triton["best_fps"] > 0 and triton["flat_out"][0]["server"]["requests"] > 0
    assert triton["flat_out"][0]["errors"] == [] and triton["paced"]["errors"] == []
    assert triton["agreement_vs_in_process_fp32"]["f1"] >= 0.9
    # The gpu flavour needs the onnxruntime backend, which the bundled server lacks: the gap is recorded.
    assert "loaded" in triton["gpu_flavour"]


@pytest.mark.slow
def test_host_script_unpacks_the_packed_graph_and_runs_on_a_tree_without_it(tmp_path: Path) -> None:
    """gpu_check.sh as the GPU host runs it: the tracked tree (no model.onnx: git ignores it) plus the
    carried ``.gpu_pack``; the registry graph the agreement part reads comes from the pack."""
    gpu_pack = load_bench_script("gpu_pack")
    host = copy_device_tree(tmp_path / "host")
    assert not (host / "models" / "bearing" / "1" / "model.onnx").exists()
    gpu_pack.pack_graphs(host / ".gpu_pack" / "graphs")
    # Only the host's distributions and the wheels gpu_pack.py carries are importable (python -S).
    carried = [spec.split("==")[0] for spec in gpu_pack.WHEELS]
    sys.path.insert(0, str(ROOT / "bench"))
    from gpu_host_env import host_site

    site = host_site(tmp_path / "host_site", carried)
    bin_dir = host_python3(tmp_path / "bin", isolated=True).parent
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(site)}
    args = [
        "bash",
        "bench/gpu_check.sh",
        str(out),
        "--device",
        "cpu",
        "--quick",
        "--parts",
        "agreement,images",
    ]
    args += ["--work", str(tmp_path / "work")]
    proc = subprocess.run(args, cwd=host, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    graph = host / "models" / "bearing" / "1" / "model.onnx"
    assert graph.read_bytes() == (ROOT / "models" / "bearing" / "1" / "model.onnx").read_bytes()
    parts = json.loads((out / "gpu_check.json").read_text())["parts"]
    assert parts["agreement"]["torch_port_vs_onnx_max_abs"] < 0.05
    # linecheck's own classify and anomaly training loops ran with the host's packages (timm among them)
    images = parts["images"]
    assert images["cpu"]["classify_s"] > 0 and images["cpu"]["bank"] > 0 and images["cpu"]["threshold"] > 0
    assert proc.stdout.strip().splitlines()[-1].startswith("images")  # the table comes last
