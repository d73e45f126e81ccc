"""`linecheck inspect` and `linecheck demo` as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from insp_helpers import LiveApi
from lc_processes import stacks_then_kill
from typer.testing import CliRunner

from linecheck.cli.main import app
from linecheck.inspect.outbox import Outbox

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--line", "loom-7"], "no such line"),
        (["--line", "pv-01", "--source", "a", "--source", "b"], "one per line"),
        (["--line", "pv-01", "--source", "ftp://x"], "unknown scheme"),
        (["--line", "pv-01", "--runtime", "tensorrt"], "expected triton or onnx"),
    ],
)
def test_inspect_refuses_bad_arguments_by_name(args: list[str], needle: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", *args, "--inspector-dir", str(tmp_path), "--quiet"])
    assert result.exit_code == 1
    assert needle in result.output


def test_inspect_records_every_frame_even_without_a_server(tmp_path: Path, live_api: LiveApi) -> None:
    # No Triton at this address: every frame must still be recorded (not_inspected) and sent.
    result = runner.invoke(
        app,
        [
            "inspect",
            "--line",
            "bearing-01",
            "--source",
            "synth://bearing?seed=3&units=4&rate=0",
            "--triton-url",
            "127.0.0.1:9",
            "--api-url",
            live_api.url,
            "--api-key",
            live_api.line_key,
            "--inspector-dir",
            str(tmp_path / "insp"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 frame(s)" in result.output and "0 pending, 4 sent" in result.output
    stored = live_api.inspections(line_id="bearing-01")
    assert sorted(s["code"] for s in stored) == [f"BR{i:010d}" for i in range(1, 5)]
    assert {s["verdict"] for s in stored} == {"not_inspected"}
    assert Outbox(tmp_path / "insp" / "outbox.sqlite").counts()["sent"] == 4


def test_demo_help_offers_to_leave_the_trained_models_out() -> None:
    result = runner.invoke(app, ["demo", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--no-anomaly" in result.output and "WORKDIR/anomaly/" in result.output
    assert "--no-cells" in result.output and "WORKDIR/cells/" in result.output


def test_inspect_folder_with_a_trigger_file_gives_roll_codes(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"f{i}.png"), np.full((64, 64, 3), 40 * i, np.uint8))
    roll = tmp_path / "roll.txt"
    roll.write_text("RL0000000777\n")
    result = runner.invoke(
        app,
        [
            "inspect",
            "--line",
            "textile-01",
            "--source",
            str(frames),
            "--triton-url",
            "127.0.0.1:9",
            "--no-send",
            "--trigger-file",
            str(roll),
            "--inspector-dir",
            str(tmp_path / "insp"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [r.payload for r in Outbox(tmp_path / "insp" / "outbox.sqlite").rows()]
    assert [(r["code"], r["code_status"]) for r in rows] == [("RL0000000777", "trigger")] * 3
    assert [r["roll_offset_m"] for r in rows] == [0.0, 0.125, 0.25]  # 30 m/min at 4 fps


@pytest.mark.slow
@pytest.mark.triton
def test_demo_runs_writes_its_summary_and_keeps_the_api_up_until_interrupted(
    tmp_path: Path, demo_anomaly_cache: Path, demo_cells_cache: Path
) -> None:
    """`linecheck demo` as `make demo` runs it (a process; Ctrl-C ends it), with --summary-json."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from linecheck.serving.api.testing import free_port

    port = free_port()
    shutil.copytree(demo_anomaly_cache, tmp_path / "demo" / "anomaly")  # trained once per session
    shutil.copytree(demo_cells_cache, tmp_path / "demo" / "cells")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linecheck.cli.main",
            "demo",
            "--duration",
            "8",
            "--summary-json",
            str(tmp_path / "summary.json"),
            "--port",
            str(port),
            "--workdir",
            str(tmp_path / "demo"),
            "--rate-scale",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "150"},
    )
    try:
        output = b""
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while b"Press Ctrl-C" not in output:
            assert proc.poll() is None and time.monotonic() < deadline, output.decode()[-2000:]
            output += proc.stdout.read1(65536)
        text = output.decode()
        assert f"http://127.0.0.1:{port}/docs" in text and "/review" in text and "/review/audit" in text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(
                "demo still running 120 s after Ctrl-C; its threads:\n" + stacks_then_kill(proc)[-8000:]
            )
        assert code == 0
        output += proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    _check_demo_summary(tmp_path / "summary.json", output.decode())
    from linecheck.config import load_lines
    from linecheck.inspect.demo import DEMO_PASS_SAMPLE

    written = load_lines(tmp_path / "demo" / "lines")  # what the demo's API registered
    assert {lid: line.audit.pass_sample if line.audit else None for lid, line in written.items()} == {
        lid: DEMO_PASS_SAMPLE for lid in ("textile-01", "bearing-01", "pv-01")
    }
    assert [lid for lid, line in written.items() if line.verification] == ["bearing-01"]


def test_demo_exit_option_stops_after_the_summary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--exit reaches the demo's options (the run itself is the test above, which keeps the API up)."""
    import linecheck.inspect.demo as demo_module

    seen: list[object] = []

    class Recorded:
        def __init__(self, options: object, console: object) -> None:
            seen.append(options)

        def run(self) -> dict:
            return {"outbox": {"pending": 0}}

    monkeypatch.setattr(demo_module, "Demo", Recorded)
    for args, expected in ((["--exit"], True), ([], False)):
        result = runner.invoke(app, ["demo", *args, "--duration", "1", "--workdir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert seen[-1].exit_after is expected  # type: ignore[attr-defined]


def _check_demo_summary(summary_path: Path, output: str) -> None:
    """What a demo run with both trained models must have done (its summary JSON and its console)."""
    summary = json.loads(summary_path.read_text())
    assert summary["schema"] == "linecheck.demo.summary/1"
    assert set(summary["lines"]) == {"textile-01", "bearing-01", "pv-01"}
    assert summary["outbox"]["pending"] == 0 and summary["outbox"]["rejected"] == 0
    assert summary["totals"]["frames"] > 0 and summary["totals"]["verdicts"]["not_inspected"] == 0
    assert summary["latency_ms"]["p50"] is not None
    assert all(line["audit_samples"] >= 0 for line in summary["lines"].values())
    assert set(summary["models"]) == {"textile", "textile-anomaly", "bearing", "pv", "pv-cls"}
    assert output.count("reusing the one trained earlier") == 2
    # the textile line runs its detector and the anomaly model side by side; good frames stay good
    per_model = summary["per_model"]["textile-01"]
    assert set(per_model) == {"textile", "textile-anomaly"} and "Per model" in output
    assert per_model["textile-anomaly"]["frames"] == summary["lines"]["textile-01"]["frames"] - (
        summary["lines"]["textile-01"]["verdicts"].get("not_inspected", 0)
    )
    assert per_model["textile-anomaly"]["good_frames_failed"] <= 1
    # the PV line runs the cell classifier on every cell of each module next to its detector
    cells = summary["per_model"]["pv-01"]
    assert set(cells) == {"pv", "pv-cls"}
    assert cells["pv-cls"]["frames"] == summary["lines"]["pv-01"]["frames"] - (
        summary["lines"]["pv-01"]["verdicts"].get("not_inspected", 0)
    )
    assert summary["traces"] and all(t["inspections"] >= 1 for t in summary["traces"])
    # the bearing line ran its challenge parts first: the rabbit failed with its crack, the master passed
    assert list(summary["verification"]) == ["bearing-01"] and "Error-proofing" in output
    verification = summary["verification"]["bearing-01"]
    assert [(p["expect"], p["met"]) for p in verification["parts"]] == [("fail", True), ("pass", True)]
    assert verification["state"] == "verified" and summary["holds"] == []
    assert "GET /v1/trace/" in output
    # every line published over its outputs, and the demo's peers received it
    outputs = summary["outputs"]["lines"]
    assert set(outputs) == set(summary["lines"]) and "Line outputs" in output
    for line_id, line in outputs.items():
        rejects = sum(v for k, v in summary["lines"][line_id]["verdicts"].items() if k != "pass")
        assert line["opcua"]["events"] > 0 and "ContinuousExecution" in line["opcua"]["states"]
        assert line["modbus"]["pulses"] == rejects
        if "MQTT off" not in summary["outputs"]["broker"]:
            assert line["mqtt"]["results"] == summary["lines"][line_id]["frames"]
