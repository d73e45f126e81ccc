"""Geometry found in every frame (``geometry_mode: auto``): PV cells and bearing zones follow the product
when it is moved, scaled or tilted; a frame without it falls back to the line YAML's, counted; a cell
classifier runs on every cell crop and flags cells."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from insp_helpers import TableDetector, image_key
from pydantic import ValidationError

from linecheck.config import LineConfig, ModelRef
from linecheck.datasets.synth.bearing import BearingGenerator
from linecheck.datasets.synth.pv import PVGenerator
from linecheck.errors import InvalidFieldError
from linecheck.inspect.detectors import _with_extras
from linecheck.inspect.geometry import measure
from linecheck.inspect.kinds import logic_for
from linecheck.inspect.messages import CodedFrame, InferredFrame, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.verdict import judge
from linecheck.kinds import FrameView, Kind, get_kind
from linecheck.kinds.bearing import BearingOptions
from linecheck.kinds.pv import PVOptions
from linecheck.messages import CodeStatus, Detections, Frame
from linecheck.model.cells import CellClassifier
from linecheck.model.union import UnionDetector
from linecheck.serving.api.services.ingest import _check_item, parse_ingest_body

S = 320
Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]


def _turned(image: Image, angle: float) -> tuple[Image, Matrix]:
    matrix = cv2.getRotationMatrix2D((S / 2, S / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (S, S), borderValue=(0, 0, 0)), matrix


def _moved(matrix: Matrix, x: float, y: float) -> tuple[float, float]:
    return tuple(float(v) for v in matrix @ np.array([x, y, 1.0]))  # type: ignore[return-value]


def _probe(x: float, y: float) -> list[float]:
    return [x - 2, y - 2, x + 2, y + 2]


def _frame(line: LineConfig, image: Image, seq: int = 0) -> Frame:
    return Frame(line_id=line.id, station="cam1", seq=seq, captured_at=datetime.now(UTC), image=image)


def _judged(line: LineConfig, frame: Frame, boxes: Sequence[Sequence[float]]) -> InspectionResult:
    """The judge's result for ``frame``, one defect per box, the frame measured as the code reader does."""
    coded = CodedFrame(
        frame=frame,
        line=line,
        code="X1",
        code_status=CodeStatus.TRIGGER,
        received_at=time.monotonic(),
        geometry=measure(line, frame.image),
    )
    found = Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.full(len(boxes), 0.9, np.float32),
        class_id=np.zeros(len(boxes), np.int64),
        class_names=tuple(line.classes),
    )
    inferred = InferredFrame(coded=coded, detections=found, model_name="m", model_version="1", latency_ms=1.0)
    return judge(inferred, logic_for(line))


def _pv_line(mode: str, **pv: object) -> LineConfig:
    return LineConfig(id="pv-auto", kind="pv", pv={"rows": 6, "cols": 10, "geometry_mode": mode, **pv})


def _module(truth: PVOptions, angle: float, seed: int) -> tuple[Image, list[list[float]], list[dict]]:
    """A module of ``truth``'s grid turned by ``angle``; probes all over its cells and its defects."""
    rendered = PVGenerator(seed=seed, imgsz=S, layouts=(truth,)).sample(
        np.random.default_rng(seed), n_defects=3, code="PV000000000001"
    )
    image, matrix = _turned(rendered.image, angle)
    grid = truth.grid(S, S)
    points = [((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in rendered.boxes.tolist()]
    for row in range(grid.rows):
        for col in range(grid.cols):
            x1, y1, x2, y2 = grid.cell_box(row, col)
            for fx, fy in ((0.5, 0.5), (0.2, 0.2), (0.8, 0.2), (0.2, 0.8), (0.8, 0.8)):
                points.append((x1 + fx * (x2 - x1), y1 + fy * (y2 - y1)))
    probes, cells = [], []
    for x, y in points:
        row, col = grid.nearest_cell(x, y)
        probes.append(_probe(*_moved(matrix, x, y)))
        cells.append({"row": row, "col": col})
    return image, probes, cells


@pytest.mark.parametrize(
    ("grid_box", "angle"),
    [
        ((0.10, 0.08, 0.90, 0.70), 0.0),  # smaller and moved
        ((0.06, 0.05, 0.94, 0.75), 2.0),  # tilted
        ((0.15, 0.12, 0.97, 0.78), -1.5),  # moved right and down, tilted the other way
    ],
)
def test_auto_pv_lines_locate_every_cell_in_the_grid_found_where_the_yaml_grid_is_wrong(grid_box, angle):
    image, probes, cells = _module(PVOptions(grid_box=grid_box), angle, seed=4)
    auto = _judged(_pv_line("auto"), _frame(_pv_line("auto"), image), probes)
    assert [d.location for d in auto.defects] == [{**cell, "geometry": "found"} for cell in cells]
    assert auto.reason is not None and "geometry" not in auto.reason
    fixed = _judged(_pv_line("fixed"), _frame(_pv_line("fixed"), image), probes)
    wrong = sum(d.location != cell for d, cell in zip(fixed.defects, cells, strict=True))
    assert wrong > len(cells) // 5, f"the YAML grid misplaces the moved module's cells ({wrong})"
    assert all("geometry" not in d.location for d in fixed.defects)


def _ring(truth: BearingOptions, angle: float) -> tuple[Image, list[list[float]], list[str]]:
    """A ring of ``truth``'s geometry turned about the frame centre; probes in every zone, their zones."""
    rendered = BearingGenerator(seed=2, imgsz=S, config=truth).sample(
        np.random.default_rng(1), n_defects=2, code="BR0000000001"
    )
    image, matrix = _turned(rendered.image, angle)
    ring = truth.geometry(S, S)
    radii = {
        "bore": 0.5 * ring.r_inner,
        "inner_race": (ring.r_inner + ring.r_split) / 2,
        "outer_race": (ring.r_split + ring.r_outer) / 2,
        "face": ring.r_outer + 8,
    }
    probes, zones = [], []
    for zone, radius in radii.items():
        for theta in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            x, y = ring.cx + radius * np.cos(theta), ring.cy + radius * np.sin(theta)
            if 3 <= x <= S - 3 and 3 <= y <= S - 3:
                probes.append(_probe(*_moved(matrix, x, y)))
                zones.append(zone)
    return image, probes, zones


@pytest.mark.parametrize(
    ("centre", "radius", "angle"), [((0.42, 0.56), 0.36, 0.0), ((0.57, 0.45), 0.40, 25.0)]
)
def test_auto_bearing_lines_name_zones_on_the_ring_found_where_the_yaml_ring_is_wrong(centre, radius, angle):
    image, probes, zones = _ring(BearingOptions(centre=centre, outer_radius_frac=radius), angle)
    auto_line = LineConfig(id="br-auto", kind="bearing", bearing={"geometry_mode": "auto"})
    auto = _judged(auto_line, _frame(auto_line, image), probes)
    assert [d.location for d in auto.defects] == [{"zone": z, "geometry": "found"} for z in zones]
    fixed_line = LineConfig(id="br-fixed", kind="bearing")
    fixed = _judged(fixed_line, _frame(fixed_line, image), probes)
    assert sum(d.location["zone"] != z for d, z in zip(fixed.defects, zones, strict=True)) >= 4


def _empty_station() -> Image:
    """What the camera sees with no product under it: a dim, noisy, even background."""
    noise = np.random.default_rng(0).normal(30, 4, (S, S, 1))
    return np.repeat(np.clip(noise, 0, 255).astype(np.uint8), 3, axis=2)


@pytest.mark.parametrize(("kind", "section"), [("pv", "pv"), ("bearing", "bearing")])
def test_a_frame_without_the_product_falls_back_to_the_yaml_geometry_and_says_so(kind, section):
    line = LineConfig(id="x-auto", kind=kind, **{section: {"geometry_mode": "auto"}})
    dark = _empty_station()
    result = _judged(line, _frame(line, dark), [_probe(S / 2, S / 2)])
    (defect,) = result.defects
    assert defect.location["geometry"] == "fixed"
    expected = LineConfig(id="x-fixed", kind=kind)
    assert _judged(expected, _frame(expected, dark), [_probe(S / 2, S / 2)]).defects[0].location == {
        k: v for k, v in defect.location.items() if k != "geometry"
    }
    assert result.reason is not None and "geometry not found in the frame" in result.reason


@pytest.mark.parametrize(
    ("kind", "section", "make"),
    [
        (
            "pv",
            {"rows": 6, "cols": 10},
            lambda: _module(PVOptions(grid_box=(0.10, 0.08, 0.90, 0.70)), 2.0, 4),
        ),
        ("bearing", {}, lambda: _ring(BearingOptions(centre=(0.42, 0.56), outer_radius_frac=0.36), 0.0)),
    ],
)
def test_the_inspection_event_carries_the_geometry_found_in_its_frame(tmp_path: Path, kind, section, make):
    image, probes, _ = make()
    auto = {kind: {**section, "geometry_mode": "auto"}}
    line = LineConfig(id=f"{kind}-auto", kind=kind, code_pattern="^X[0-9]$", **auto)  # _judged's code
    result = _judged(line, _frame(line, image), probes)
    outbox = Outbox(tmp_path / "outbox.db")
    try:
        sent = outbox.get(outbox.add(result))
    finally:
        outbox.close()
    assert sent is not None
    geometry = sent.payload["geometry"]
    spec = get_kind(kind)
    found = measure(line, image)
    assert found is not None and found.source == "found"
    assert geometry == spec.geometry_to_json(found.value)
    back = spec.geometry_from_json(geometry, line.options, width=S, height=S)
    assert back == found.value  # the API places a corrected box with the frame's own geometry
    view = FrameView(width=S, height=S, geometry=back)
    assert [{**spec.locate(p, view, line.options), "geometry": "found"} for p in probes] == [
        d.location for d in result.defects
    ]
    [item] = parse_ingest_body(json.dumps(sent.payload).encode(), max_batch=1).items
    errors: list[InvalidFieldError] = []
    _check_item(item, line, "", errors)
    assert errors == [] and item.geometry == geometry


@pytest.mark.parametrize("mode", ["auto", "fixed"])
def test_no_geometry_is_sent_when_the_line_yamls_placed_the_defects(mode):
    line = _pv_line(mode)
    result = _judged(line, _frame(line, _empty_station()), [_probe(S / 2, S / 2)])
    assert result.geometry is None and "geometry" not in result.to_payload()


def test_a_frame_is_measured_once_and_fixed_lines_are_not_measured():
    line = _pv_line("auto")
    image = PVGenerator(seed=1, imgsz=S).sample(np.random.default_rng(0), n_defects=0).image
    first = measure(line, image)
    assert first is not None and first.source == "found"
    assert measure(line, image) is first
    assert measure(line, image.copy()) is not first
    assert measure(_pv_line("fixed"), image) is None


def test_the_service_measures_every_frame_and_counts_the_fallbacks(tmp_path: Path) -> None:
    line = _pv_line("auto").model_copy(update={"code_source": "trigger"})
    folder = tmp_path / "frames"
    folder.mkdir()
    table: dict = {}
    truth: dict[str, list[dict]] = {}
    cases = [
        ((0.10, 0.08, 0.90, 0.70), 0.0),
        ((0.06, 0.05, 0.94, 0.75), 2.0),
        ((0.15, 0.12, 0.97, 0.78), -1.5),
    ]
    for i, (grid_box, angle) in enumerate(cases):
        image, probes, cells = _module(PVOptions(grid_box=grid_box), angle, seed=10 + i)
        cv2.imwrite(str(folder / f"{i}.png"), image)
        table[image_key(image)] = (np.asarray(probes, np.float32), np.zeros(len(probes), np.int64))
        truth[f"{i}.png"] = [{**cell, "geometry": "found"} for cell in cells]
    dark = _empty_station()
    cv2.imwrite(str(folder / "9-dark.png"), dark)
    table[image_key(dark)] = (np.asarray([_probe(S / 2, S / 2)], np.float32), np.zeros(1, np.int64))
    seen: list[InspectionResult] = []
    files: dict[str, str] = {}

    def observe(result: InspectionResult, inferred: InferredFrame) -> None:
        seen.append(result)
        files[result.id] = Path(inferred.coded.frame.meta["file"]).name

    metrics = InspectorMetrics()
    service = InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV, table)},
        settings=InspectorSettings(inspector_dir=tmp_path / "inspector", api_url="http://127.0.0.1:9"),
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri=str(folder))],
        metrics=metrics,
        observers=[observe],
    )
    with service:
        assert service.wait_sources(60) and service.drain(60)
        status = service.status()
        scraped = metrics.registry.get_sample_value(
            "linecheck_inspector_geometry_fallbacks_total", {"line": line.id}
        )
    assert len(seen) == 4
    for result in seen:
        name = files[result.id]
        if name == "9-dark.png":
            assert [d.location["geometry"] for d in result.defects] == ["fixed"]
            assert result.reason is not None and "geometry not found" in result.reason
        else:
            assert [d.location for d in result.defects] == truth[name]
    assert metrics.total("geometry_fallbacks", line.id) == 1
    assert status["lines"][line.id]["geometry_fallbacks"] == 1
    assert scraped == 1.0


class DarkCellClassifier:
    """A cell classifier: ``defective_cell`` when the crop is mostly dark (an EL dark cell)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    class_names = ("defective_cell",)
    model_name = "pv-cls"
    model_version = "1"

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        self.calls.append(len(images))
        out = []
        for crop in images:
            dark = float(np.median(crop)) < 60
            h, w = crop.shape[:2]
            out.append(
                Detections(
                    xyxy=np.asarray([[0, 0, w, h]] if dark else [], np.float32).reshape(-1, 4),
                    confidence=np.asarray([0.95] if dark else [], np.float32),
                    class_id=np.zeros(int(dark), np.int64),
                    class_names=self.class_names,
                )
            )
        return out

    def close(self) -> None:
        pass


def _cell_line(mode: str) -> LineConfig:
    return LineConfig(
        id="pv-cells",
        kind="pv",
        classes=["crack", "finger_interruption", "dark_cell", "broken_corner", "defective_cell"],
        model=ModelRef(name="pv"),
        extra_models=[ModelRef(name="pv-cls", per_cell=True)],
        pv={"rows": 6, "cols": 10, "geometry_mode": mode},
    )


def _dark_cells(truth: PVOptions, cells: Sequence[tuple[int, int]], angle: float, seed: int) -> Image:
    image = (
        PVGenerator(seed=seed, imgsz=S, layouts=(truth,))
        .sample(np.random.default_rng(seed), n_defects=0)
        .image
    )
    grid = truth.grid(S, S)
    for row, col in cells:
        x1, y1, x2, y2 = grid.cell_box(row, col)
        image[y1:y2, x1:x2] = 12
    return _turned(image, angle)[0]


@pytest.mark.parametrize(
    ("mode", "grid_box", "angle"),
    [("fixed", PVOptions().grid_box, 0.0), ("auto", (0.08, 0.06, 0.92, 0.72), 1.5)],
)
def test_a_cell_classifier_runs_on_every_cell_in_one_call_and_flags_cells(mode, grid_box, angle):
    line = _cell_line(mode)
    classifier = DarkCellClassifier()
    models = {"pv": TableDetector(Kind.PV), "pv-cls": classifier}
    detector = _with_extras(line, lambda name, version, classes: models[name])
    assert isinstance(detector, UnionDetector) and isinstance(detector.detectors[1], CellClassifier)
    dark = [[(1, 2), (4, 9)], [(0, 0)]]
    frames = [
        _frame(line, _dark_cells(PVOptions(grid_box=grid_box), d, angle, seed=i), i)
        for i, d in enumerate(dark)
    ]
    for frame in frames:
        measure(line, frame.image)  # the code reader's measurement, found again by the classifier
    answers = detector.detect([f.image for f in frames])
    assert classifier.calls == [2 * 60], "every cell of every frame in one call"
    for frame, cells, found in zip(frames, dark, answers, strict=True):
        coded = CodedFrame(
            frame=frame,
            line=line,
            code="X1",
            code_status=CodeStatus.TRIGGER,
            received_at=time.monotonic(),
            geometry=measure(line, frame.image),
        )
        result = judge(
            InferredFrame(coded=coded, detections=found, model_name="pv", model_version="1", latency_ms=1.0),
            logic_for(line),
        )
        located = sorted((d.location["row"], d.location["col"]) for d in result.defects)
        assert located == sorted(cells)
        assert {d.class_name for d in result.defects} == {"defective_cell"}
        if mode == "auto":
            assert all(d.location["geometry"] == "found" for d in result.defects)


@pytest.mark.parametrize(
    ("section", "extra", "message"),
    [
        ({"bearing": {}}, {"per_cell": True}, "have no cells"),
        ({"pv": {}}, {"per_cell": True, "tile": 64}, "exclude each other"),
        ({"pv": {"geometry_mode": "sometimes"}}, {}, "geometry_mode"),
    ],
)
def test_line_yaml_geometry_and_per_cell_mistakes_are_named(section, extra, message):
    kind = next(iter(section))
    with pytest.raises(ValidationError, match=message):
        LineConfig(
            id="x",
            kind=kind,
            classes=["crack", "defective_cell"] if kind == "pv" else ["scratch", "defective_cell"],
            extra_models=[ModelRef(name="cls", **extra)],
            **section,
        )


@pytest.mark.parametrize(
    ("kind", "location", "accepted"),
    [
        ("pv", {"row": 1, "col": 2, "geometry": "found"}, True),
        ("bearing", {"zone": "bore", "geometry": "fixed"}, True),
        ("pv", {"row": 1, "col": 2}, True),
        ("pv", {"row": 1, "col": 2, "geometry": "guessed"}, False),
    ],
)
def test_the_api_accepts_the_geometry_a_location_was_found_with(kind, location, accepted):
    model = get_kind(kind).location_model
    if accepted:
        assert model.model_validate(location).model_dump(exclude_none=True) == location
    else:
        with pytest.raises(ValidationError, match="geometry"):
            model.model_validate(location)
