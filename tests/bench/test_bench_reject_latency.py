"""bench/reject_latency.py at its smallest size: every output measured, no late unit passed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from linecheck.inspect.outputs.peers import Mosquitto, broker_reachable

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_reject_latency_prints_one_json_line_with_every_output() -> None:
    if not broker_reachable("mqtt://127.0.0.1:1883") and Mosquitto.available() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but neither an MQTT broker nor mosquitto is available")
        pytest.skip("no MQTT broker and no mosquitto")
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(ROOT / "var" / "ultralytics"))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "reject_latency.py"),
            *("--detector", "fixed", "--infer-ms", "5", "--units", "8", "--warmup", "1", "--rate", "4"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["units"] == 8 and figures["late_passed"] == 0 and figures["gpu_target_ms"] == "8-15"
    outputs = figures["outputs"]
    assert set(outputs) == {"decision", "opcua", "mqtt", "modbus", "http"}
    for name in ("decision", "opcua", "mqtt", "http"):
        assert outputs[name]["count"] == 8, (name, outputs[name])
        assert 0 < outputs[name]["p50_ms"] <= outputs[name]["p99_ms"] <= outputs[name]["max_ms"]
    assert outputs["modbus"]["count"] == figures["rejects"]
    assert outputs["decision"]["p50_ms"] <= outputs["opcua"]["p50_ms"]
