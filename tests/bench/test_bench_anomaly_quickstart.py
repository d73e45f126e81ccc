"""bench/anomaly_quickstart.py at its smallest: every CLI step runs and is timed, every frame is judged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.triton]


def test_anomaly_quickstart_prints_one_json_line_with_each_steps_time(tmp_path: Path) -> None:
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(ROOT / "var" / "ultralytics"))
    args = ["--good-frames", "4", "--frames", "3", "--defective", "0.5", "--width", "1024", "--height", "128"]
    args += ["--tile", "128", "--coreset", "128", "--work", str(tmp_path / "work")]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "anomaly_quickstart.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    log = tmp_path / "work" / "cli.log"
    assert done.returncode == 0, (
        done.stdout[-3000:] + done.stderr[-3000:] + (log.read_text() if log.exists() else "")
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(figures["steps_s"]) == ["train", "build", "start", "inspect"]
    assert all(seconds > 0 for seconds in figures["steps_s"].values())
    assert figures["total_s"] == pytest.approx(sum(figures["steps_s"].values()), abs=0.01)
    assert (figures["frames"], figures["results"], figures["tiles_per_frame"]) == (3, 3, 11)
    assert sum(figures["verdicts"].values()) == 3 and "not_inspected" not in figures["verdicts"]
    assert figures["model"]["parity_passed"] and figures["good_images"] == 4
    assert 0 <= figures["defective_failed"] <= figures["defective_frames"] <= 3
    # the models/ and var/ of the checkout are not touched
    assert (tmp_path / "work" / "models" / "fabric-anomaly").is_dir()
