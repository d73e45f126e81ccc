"""A tiny YOLO dataset of coloured shapes on noise, generated in the test (never downloaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from linecheck.kinds import Kind, get_kind

ROOT = Path(__file__).resolve().parent.parent.parent
NAMES = get_kind(Kind.BEARING).classes

COLOURS = ((40, 40, 230), (40, 200, 40), (230, 60, 40), (30, 220, 230))


@dataclass(frozen=True)
class TrainedModel:
    """What the session's offline `linecheck train` left behind."""

    data: Path
    models_dir: Path
    runs_dir: Path
    config_dir: Path
    attempts: list[str]
    returncode: int
    output: str


def write_tiny_dataset(
    root: Path,
    names: Sequence[str],
    *,
    train: int = 8,
    val: int = 4,
    test: int = 6,
    imgsz: int = 96,
    seed: int = 0,
) -> Path:
    """Write images/labels for train/val/test and a data.yaml; every 3rd image is defect-free."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", val), ("test", test)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image = rng.integers(100, 150, (imgsz, imgsz, 3), dtype=np.uint8)
            rows = []
            if i % 3 != 2:
                for _ in range(int(rng.integers(1, 3))):
                    cls = int(rng.integers(0, len(names)))
                    w, h = (int(v) for v in rng.integers(imgsz // 6, imgsz // 3, 2))
                    x, y = int(rng.integers(0, imgsz - w)), int(rng.integers(0, imgsz - h))
                    if cls % 2:
                        cv2.ellipse(
                            image, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, COLOURS[cls % 4], -1
                        )
                    else:
                        cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), COLOURS[cls % 4], -1)
                    rows.append(
                        f"{cls} {(x + w / 2) / imgsz:.6f} {(y + h / 2) / imgsz:.6f} "
                        f"{w / imgsz:.6f} {h / imgsz:.6f}"
                    )
            cv2.imwrite(str(root / "images" / split / f"{split}_{i:03d}.png"), image)
            (root / "labels" / split / f"{split}_{i:03d}.txt").write_text(
                "".join(r + "\n" for r in rows), encoding="utf-8"
            )
    names_yaml = "".join(f"  {i}: {n}\n" for i, n in enumerate(names))
    (root / "data.yaml").write_text(
        f"path: .\ntrain: images/train\nval: images/val\ntest: images/test\nnames:\n{names_yaml}",
        encoding="utf-8",
    )
    return root / "data.yaml"


def run_offline_cli(
    work: Path, args: Sequence[str], *, data: Path = Path(), timeout: float = 600
) -> TrainedModel:
    """``linecheck ARGS`` in a subprocess where every network call is refused and recorded, with a
    brand-new Ultralytics config dir (``work/ultralytics``) and data dir (``work/var``)."""
    attempts_file = work / "attempts.json"
    env = dict(
        os.environ,
        YOLO_OFFLINE="1",
        YOLO_CONFIG_DIR=str(work / "ultralytics"),
        LINECHECK_DATA_DIR=str(work / "var"),
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("lc_offline_cli.py")), str(attempts_file), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    attempts = json.loads(attempts_file.read_text()) if attempts_file.is_file() else ["<no record>"]
    return TrainedModel(
        data=data,
        models_dir=work / "models",
        runs_dir=work / "runs",
        config_dir=work / "ultralytics",
        attempts=attempts,
        returncode=done.returncode,
        output=done.stdout + done.stderr,
    )
