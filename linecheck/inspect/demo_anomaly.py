"""The demo's anomaly model: trained at the first start from the simulated textile line's good frames.

A new line starts with an anomaly model (good frames are free), so the demo's textile line runs
one next to its detector: :func:`ensure_anomaly_model` renders :data:`GOOD_FRAMES` defect-free
frames of the line's own fabrics (same seed, same frame size), trains ``textile-anomaly`` on them
exactly as ``linecheck train --task anomaly`` does (fit, calibrate to :data:`TARGET_FRR`, export ONNX,
parity check, register, promote) into a registry of its own under ``WORKDIR/anomaly/seed-N/``, and
reuses it on later runs while its card's options are the same. :func:`with_anomaly_model` gives the
line with the model as an extra model (class ``anomaly``, threshold 0.5: the calibrated one), and
:func:`write_lines` writes the line configs the demo's API syncs.

Caching and training go through :func:`linecheck.inspect.demo_training.ensure_trained`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import yaml

from linecheck.config import LineConfig, ModelRef, load_line
from linecheck.datasets.synth.generators import make_generator
from linecheck.datasets.synth.seeding import Purpose, rng_for
from linecheck.inspect.demo_training import ensure_trained
from linecheck.kinds import parse_kind
from linecheck.model.image_outputs import ANOMALY_CLASS
from linecheck.model.registry import Registry
from linecheck.training.anomaly import AnomalyOptions

log = logging.getLogger(__name__)

#: Registry name of the demo's anomaly model (``linecheck train --task anomaly``'s default for textile).
ANOMALY_MODEL = "textile-anomaly"
#: Defect-free frames rendered to learn from (a fifth of them held back to calibrate the threshold).
GOOD_FRAMES = 36
#: Whole 640 px frames letterboxed to 256 (a 32 x 32 map), a 1024-patch bank, 1 % false rejects.
OPTIONS = AnomalyOptions(imgsz=256, coreset=1024, target_frr=0.01)
TARGET_FRR = OPTIONS.target_frr
#: First ``Purpose.SAMPLE`` stream index of the good frames (apart from ``linecheck data synth``'s).
GOOD_STREAM = 1_000_000


def cache_dir(workdir: Path, seed: int) -> Path:
    """Where the model for synthetic seed ``seed`` is kept (not wiped by a new demo run)."""
    return workdir / "anomaly" / f"seed-{seed}"


def write_good_frames(line: LineConfig, folder: Path, *, seed: int, count: int = GOOD_FRAMES) -> list[Path]:
    """``count`` defect-free frames of ``line``'s synthetic product (its fabrics at its frame size)."""
    kind = parse_kind(line.kind)
    camera = line.cameras[0]
    generator = make_generator(line.kind, seed=seed, imgsz=max(camera.width, camera.height), line=line)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        rendered = generator.sample(rng_for(seed, kind, Purpose.SAMPLE, GOOD_STREAM + index), n_defects=0)
        path = folder / f"good-{index:03d}.png"
        cv2.imwrite(str(path), rendered.image)
        paths.append(path)
    return paths


def ensure_anomaly_model(line: LineConfig, workdir: Path, *, seed: int, lines_dir: Path) -> tuple[Path, bool]:
    """The registry root holding the demo's anomaly model for ``seed``, and whether it was trained now."""

    def train(root: Path) -> None:
        from linecheck.training.anomaly import train_anomaly
        from linecheck.training.image_models import task_command
        from linecheck.training.targets import resolve_target

        good = root / "good"
        write_good_frames(line, good, seed=seed)
        command = task_command("anomaly", line.id, good, ANOMALY_MODEL, OPTIONS)
        command += f" --promote  # by linecheck demo, synthetic seed {seed}"
        train_anomaly(
            resolve_target(line.id, name=ANOMALY_MODEL, lines_dir=lines_dir), good, OPTIONS,
            registry=Registry(root / "models"), command=command, runs_dir=root / "runs", promote="production",
        )  # fmt: skip

    return ensure_trained(cache_dir(workdir, seed), ANOMALY_MODEL, OPTIONS, train)


def with_anomaly_model(line: LineConfig) -> LineConfig:
    """``line`` with the demo's anomaly model as an extra model (its class last, threshold 0.5)."""
    data = line.model_dump(mode="json")
    data["classes"] = [*line.classes, ANOMALY_CLASS]
    data["thresholds"] = {**line.thresholds, ANOMALY_CLASS: 0.5}
    data["extra_models"] = [
        *data.get("extra_models", []),
        ModelRef(name=ANOMALY_MODEL, tile=0).model_dump(mode="json"),
    ]
    return LineConfig.model_validate(data)


def write_lines(lines: Sequence[LineConfig], source_dir: Path, target_dir: Path) -> None:
    """Every line config of ``source_dir`` into ``target_dir``, those of ``lines`` as given."""
    shutil.rmtree(target_dir, ignore_errors=True)
    target_dir.mkdir(parents=True)
    given = {line.id for line in lines}
    for path in sorted(source_dir.glob("*.yaml")):
        if load_line(path).id not in given:
            shutil.copyfile(path, target_dir / path.name)
    for line in lines:
        text = yaml.safe_dump(line.model_dump(mode="json"), sort_keys=False)
        (target_dir / f"{line.id}.yaml").write_text(
            f"# {line.id} as the demo runs it (written by linecheck demo)\n{text}", encoding="utf-8"
        )
