"""The demo's PV line: its detector and the cell classifier trained from its own cells, through Triton.

The cell classifier (trained once per session, as ``linecheck demo`` trains it at its first start)
runs on every cell of each module, served next to the starter detector by real embedded Triton;
simulated modules go through the inspector to the real API, which must store ``defective_cell``
defects with the row and column of their cell, under the union's model version.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from demo_helpers import api_get, demo_line_stack, inspect_all

from linecheck.config import LineConfig, load_lines
from linecheck.inspect.demo_anomaly import write_lines
from linecheck.inspect.demo_cells import (
    CELL_CLASS,
    CELL_MODEL,
    GOOD_CLASS,
    GOOD_PER_DEFECTIVE,
    with_cell_classifier,
    write_cell_crops,
)
from linecheck.inspect.demo_models import ModelTally
from linecheck.inspect.demo_stack import DemoStack
from linecheck.inspect.geometry import cell_boxes
from linecheck.inspect.service import SourceSpec
from linecheck.model.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
MODULES = 6


@pytest.fixture(scope="module")
def pv_line(lines: dict[str, LineConfig]) -> LineConfig:
    return with_cell_classifier(lines["pv-01"])


def test_cell_crops_are_cut_as_the_inspector_cuts_cells_and_labelled_by_the_drawn_defects(
    lines: dict[str, LineConfig], tmp_path: Path
) -> None:
    counts = write_cell_crops(lines["pv-01"], tmp_path, seed=3, frames=2)
    files = {cls: sorted((tmp_path / cls).glob("*.png")) for cls in (CELL_CLASS, GOOD_CLASS)}
    assert counts == {cls: len(paths) for cls, paths in files.items()}
    assert 1 <= counts[CELL_CLASS] <= 2 * 4 and counts[GOOD_CLASS] == GOOD_PER_DEFECTIVE * counts[CELL_CLASS]
    camera = lines["pv-01"].cameras[0]
    frame = np.zeros((camera.height, camera.width, 3), np.uint8)
    sizes = {(x2 - x1, y2 - y1) for x1, y1, x2, y2 in cell_boxes(lines["pv-01"], frame)}
    for path in files[CELL_CLASS] + files[GOOD_CLASS]:
        height, width = cv2.imread(str(path)).shape[:2]
        assert (width, height) in sizes, path.name


def test_written_demo_line_runs_the_classifier_on_every_cell(pv_line: LineConfig, tmp_path: Path) -> None:
    write_lines([pv_line], ROOT / "configs" / "lines", tmp_path)
    line = load_lines(tmp_path)["pv-01"]
    assert line.classes[-1] == CELL_CLASS and line.threshold(CELL_CLASS) == 0.5
    assert [(m.name, m.per_cell) for m in line.extra_models] == [(CELL_MODEL, True)]
    assert CELL_CLASS in line.options.b_grade_classes  # type: ignore[union-attr]


def test_the_trained_classifier_is_registered_with_its_cells_and_metrics(demo_cells_cache: Path) -> None:
    card = Registry(demo_cells_cache / "seed-1" / "models").get(CELL_MODEL, "production").card
    assert card.classes == [CELL_CLASS] and card.onnx.output_layout == "classify"  # type: ignore[union-attr]
    assert card.training["parity"]["passed"] and card.metrics["images"] > 0
    assert card.metrics["auroc"] >= 0.9  # dark cells, cracks and broken corners on synthetic modules


@pytest.fixture(scope="module")
def stack(
    pv_line: LineConfig, demo_cells_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoStack]:
    workdir = tmp_path_factory.mktemp("demo-cells-stack")
    with demo_line_stack(pv_line, demo_cells_cache / "seed-1" / "models", workdir) as running:
        yield running


@pytest.mark.slow
@pytest.mark.triton
def test_demo_pv_line_stores_defective_cells_with_their_row_and_column(
    stack: DemoStack, pv_line: LineConfig, tmp_path: Path
) -> None:
    assert stack.models[CELL_MODEL] == "1" and stack.model_classes[CELL_MODEL] == (CELL_CLASS,)
    tally = ModelTally({pv_line.id: [(m, stack.model_classes[m]) for m in ("pv", CELL_MODEL)]})
    source = SourceSpec(line_id=pv_line.id, station="el", uri=f"synth://pv?seed=1&units={MODULES}&rate=0")
    inspect_all(stack, pv_line, source, tmp_path / "inspector", [tally.observe])

    inspected = api_get(stack, "/v1/inspections", line_id=pv_line.id, limit=100)["items"]
    stored = [s for s in inspected if s["verdict"] != "not_inspected"]
    assert stored and all(s["model_version"].endswith(f"+{CELL_MODEL}:1") for s in stored)
    failed = [s["id"] for s in stored if s["verdict"] == "fail"]
    defects = [
        d for inspection_id in failed for d in api_get(stack, f"/v1/inspections/{inspection_id}")["defects"]
    ]
    cells = [d for d in defects if d["class_name"] == CELL_CLASS]
    assert cells, "the cell classifier flagged no cell of the demo's defective modules"
    rows, cols = pv_line.options.rows, pv_line.options.cols  # type: ignore[union-attr]
    assert all(0 <= d["location"]["row"] < rows and 0 <= d["location"]["col"] < cols for d in cells)
    figures = tally.summary()[pv_line.id][CELL_MODEL]
    assert figures["frames"] == len(stored) and figures["defects"] == len(cells)
    assert figures["defective_frames_failed"] >= 1
