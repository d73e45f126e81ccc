"""bench/real_data.py on a generated root in the published layouts (ELPV CSV, AITEX folders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "training"))
from lc_image_data import texture, with_defect  # noqa: E402

pytestmark = pytest.mark.slow


def _fake_root(root: Path) -> Path:
    rng = np.random.default_rng(0)
    cells = root / "elpv-cells"
    (cells / "images").mkdir(parents=True)
    rows = []
    for i in range(24):
        defective = i % 3 == 0
        image = texture(rng, 48, 48)
        cv2.imwrite(
            str(cells / "images" / f"cell{i:04d}.png"), with_defect(rng, image) if defective else image
        )
        rows.append(f"images/cell{i:04d}.png  {1.0 if defective else 0.0}  mono")
    (cells / "labels.csv").write_text("\n".join(rows) + "\n")
    fabric = root / "aitex-fabric"
    (fabric / "no_defect" / "roll-a").mkdir(parents=True)
    (fabric / "defect").mkdir()
    for i in range(6):
        cv2.imwrite(str(fabric / "no_defect" / "roll-a" / f"{i:04d}_000_01.png"), texture(rng, 256, 512))
    for i in range(2):
        cv2.imwrite(str(fabric / "defect" / f"{i:04d}_002_01.png"), with_defect(rng, texture(rng, 256, 512)))
    return root


def test_real_data_bench_prints_one_json_line_with_elpv_and_aitex_figures(tmp_path):
    env = dict(os.environ, YOLO_OFFLINE="1", YOLO_CONFIG_DIR=str(ROOT / "var" / "ultralytics"))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "real_data.py"),
            "--root",
            str(_fake_root(tmp_path / "root")),
            "--quick",
            "--skip",
            "neu",
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr + (tmp_path / "work" / "cli.log").read_text()
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"accuracy", "f1", "escape_rate"} <= set(result["elpv"])
    assert result["aitex"]["per_fabric"]["01"]["defect_test"] == 2
    assert "neu_det" not in result
