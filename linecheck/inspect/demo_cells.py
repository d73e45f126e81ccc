"""The demo's PV cell classifier: trained at the first start from the simulated PV line's own cells.

A PV line with cell-level labels runs ``linecheck train --task classify`` on cell crops next to its
detector, on every cell of a module (``per_cell: true``). :func:`ensure_cell_classifier` renders
:data:`FRAMES` module frames of the line (same seed, its layout and frame size), cuts each into its
cells exactly as the inspector does, labels a cell ``defective_cell`` when the inspector would
place a drawn defect in it (the cell holding its box centre; else ``functional``, of which it keeps
:data:`GOOD_PER_DEFECTIVE` per defective cell), and trains ``pv-cls`` on them as the CLI does (fit,
export ONNX, parity check, register, promote) into a registry of its own under
``WORKDIR/cells/seed-N/``, reused on later runs while its card's options are the same.
:func:`with_cell_classifier` gives the line with the model as an extra per-cell model (class
``defective_cell``, threshold 0.5, a B-grade class).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from linecheck.config import LineConfig, ModelRef
from linecheck.datasets.synth.generators import make_generator
from linecheck.datasets.synth.seeding import Purpose, rng_for
from linecheck.inspect.demo_training import ensure_trained
from linecheck.inspect.geometry import frame_view
from linecheck.kinds import get_kind, parse_kind
from linecheck.kinds.base import Box, FrameView, KindSpec
from linecheck.model.registry import Registry
from linecheck.training.classify import ClassifyOptions

#: Registry name of the demo's cell classifier (``linecheck train --task classify``'s default for pv).
CELL_MODEL = "pv-cls"
#: The classifier's defect class (its class folder), added to the line's classes.
CELL_CLASS = "defective_cell"
GOOD_CLASS = "functional"
#: Module frames rendered to cut cells from, and defects drawn on each.
FRAMES = 24
DEFECTS_PER_FRAME = 4
#: Defect-free cells kept per defective one (a module has ~15x more of them). A module is failed when any
#: of its 60 cells is: with 3 per defective cell (and 6 epochs) 9 of 30 defect-free modules failed, with 12
#: (and 12 epochs) 1 of 30, every defective module still caught.
GOOD_PER_DEFECTIVE = 12
#: Cells letterboxed to 64 px (a demo cell is about 60 x 48). Four stages kept at their ImageNet weights
#: (the default is two): 63 s of first-start training on the demo's one thread instead of 75 s, and the same
#: check of 30 defect-free and 30 defective modules (none failed, all caught); with 5-6 frozen, or fewer
#: epochs, good cells fail.
OPTIONS = ClassifyOptions(epochs=12, imgsz=64, batch=16, freeze=4)
#: First ``Purpose.SAMPLE`` stream index of the frames (apart from the anomaly model's and the dataset's).
CELL_STREAM = 2_000_000


def cache_dir(workdir: Path, seed: int) -> Path:
    """Where the classifier for synthetic seed ``seed`` is kept (not wiped by a new demo run)."""
    return workdir / "cells" / f"seed-{seed}"


def _cell(spec: KindSpec[Any], box: Box, view: FrameView, line: LineConfig) -> tuple[int, int]:
    """Where the inspector places ``box``: the cell holding its centre."""
    where = spec.locate(box, view, line.options)
    return where["row"], where["col"]


def write_cell_crops(line: LineConfig, folder: Path, *, seed: int, frames: int = FRAMES) -> dict[str, int]:
    """Cell crops of ``frames`` simulated modules in ``folder/<class>/``; the count per class."""
    kind = parse_kind(line.kind)
    camera = line.cameras[0]
    generator = make_generator(line.kind, seed=seed, imgsz=max(camera.width, camera.height), line=line)
    spec = get_kind(line.kind)
    defective: list[tuple[str, np.ndarray]] = []
    good: list[tuple[str, np.ndarray]] = []
    for index in range(frames):
        rendered = generator.sample(
            rng_for(seed, kind, Purpose.SAMPLE, CELL_STREAM + index), n_defects=DEFECTS_PER_FRAME
        )
        view = frame_view(line, rendered.image)
        flagged = {_cell(spec, box, view, line) for box in rendered.boxes}
        for number, box in enumerate(spec.cell_boxes(view, line.options)):
            x1, y1, x2, y2 = box
            crop = (f"frame{index:03d}-cell{number:02d}.png", rendered.image[y1:y2, x1:x2])
            (defective if _cell(spec, box, view, line) in flagged else good).append(crop)
    order = rng_for(seed, kind, Purpose.SPLIT, CELL_STREAM).permutation(len(good))
    kept = [good[i] for i in sorted(order[: GOOD_PER_DEFECTIVE * max(1, len(defective))])]
    for cls, crops in ((CELL_CLASS, defective), (GOOD_CLASS, kept)):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for name, image in crops:
            cv2.imwrite(str(folder / cls / name), image)
    return {CELL_CLASS: len(defective), GOOD_CLASS: len(kept)}


def ensure_cell_classifier(
    line: LineConfig, workdir: Path, *, seed: int, lines_dir: Path
) -> tuple[Path, bool]:
    """The registry root holding the demo's cell classifier for ``seed``, and whether it was trained now."""

    def train(root: Path) -> None:
        from linecheck.training.classify import train_classifier
        from linecheck.training.image_models import task_command
        from linecheck.training.targets import resolve_target

        cells = root / "cells"
        write_cell_crops(line, cells, seed=seed)
        command = task_command("classify", line.id, cells, CELL_MODEL, OPTIONS)
        command += f" --promote  # by linecheck demo, synthetic seed {seed}"
        train_classifier(
            resolve_target(line.id, name=CELL_MODEL, lines_dir=lines_dir), cells, OPTIONS,
            registry=Registry(root / "models"), command=command, runs_dir=root / "runs", promote="production",
        )  # fmt: skip

    return ensure_trained(cache_dir(workdir, seed), CELL_MODEL, OPTIONS, train)


def with_cell_classifier(line: LineConfig) -> LineConfig:
    """``line`` with the demo's cell classifier on every cell (its class last, threshold 0.5, grade B)."""
    data = line.model_dump(mode="json")
    data["classes"] = [*line.classes, CELL_CLASS]
    data["thresholds"] = {**line.thresholds, CELL_CLASS: 0.5}
    data["extra_models"] = [
        *data.get("extra_models", []),
        ModelRef(name=CELL_MODEL, per_cell=True).model_dump(mode="json"),
    ]
    data["pv"]["b_grade_classes"] = [*data["pv"]["b_grade_classes"], CELL_CLASS]
    return LineConfig.model_validate(data)
