"""Products (recipes) on the line: each unit judged with its product's thresholds, geometry and grades."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import pytest
from insp_helpers import TableDetector, truth_table, wait_until

from linecheck.config import LineConfig
from linecheck.datasets.synth import iter_units
from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.inspect.detectors import triton_factories
from linecheck.inspect.gate import RejectGate
from linecheck.inspect.geometry import bind, cell_boxes
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.products import product_of
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.trigger_requests import TriggerRequests
from linecheck.inspect.triggers import TriggerBoard
from linecheck.kinds import Kind

#: Odd serials are the 6x20 half-cut module, judged strictly; the rest the line's 6x10.
PRODUCTS: list[dict[str, Any]] = [
    {"id": "M10-60", "name": "60-cell module"},
    {
        "id": "M10-120H",
        "name": "120 half-cut cells",
        "code_pattern": r"PV\d{11}[13579]",
        "pv": {
            "cols": 20,
            "b_grade_classes": ["finger_interruption"],
            "c_grade_classes": ["broken_corner", "dark_cell", "crack"],
        },
        "thresholds": {"finger_interruption": 0.95},
    },
]


def _pv(lines: dict[str, LineConfig], **extra: Any) -> LineConfig:
    data = lines["pv-01"].model_dump(mode="json")
    return LineConfig.model_validate({**data, "products": PRODUCTS, **extra})


def _payloads(svc: InspectorService) -> list[dict[str, Any]]:
    assert svc.outbox is not None
    return [row.payload for row in svc.outbox.rows()]


def test_each_unit_is_judged_with_its_products_thresholds_cells_and_grades(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    line = _pv(lines, default_product="M10-60")
    units = list(itertools.islice(iter_units("pv", seed=3, line=lines["pv-01"]), 8))
    detector = TableDetector(Kind.PV, truth_table(line, seed=3, units=8))
    svc = InspectorService(
        [line],
        detectors={"pv": lambda: detector},
        settings=settings,
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri="synth://pv?seed=3&units=8&rate=0")],
    )
    svc.start()
    assert svc.wait_sources(60) and svc.drain(60)
    status = svc.status()["lines"]["pv-01"]
    payloads = _payloads(svc)
    svc.stop()
    by_code = {p["code"]: p for p in payloads}
    assert sorted(by_code) == sorted(u.code for u in units)
    base = lines["pv-01"]
    for unit in units:
        payload = by_code[unit.code]
        half_cut = int(unit.code[-1]) % 2 == 1
        assert payload["product"] == ("M10-120H" if half_cut else "M10-60")
        classes = [base.classes[i] for f in unit.frames for i in f.class_ids]
        # the half-cut product's finger_interruption threshold (0.95) is above the detector's 0.9
        expected = [c for c in classes if not (half_cut and c == "finger_interruption")]
        assert sorted(d["class_name"] for d in payload["defects"]) == sorted(expected), unit.code
        assert payload["verdict"] == ("fail" if expected else "pass")
        for defect in payload["defects"]:  # cells of the product's grid: 20 columns on the half-cut
            x1, _, x2, _ = defect["bbox"]
            left, right = 0.02 * 640, 0.98 * 640
            cols = 20 if half_cut else 10
            expected_col = int(((x1 + x2) / 2 - left) / ((right - left) / cols))
            assert abs(defect["location"]["col"] - expected_col) <= 1, (unit.code, defect)
            assert defect["location"]["col"] < cols
        if half_cut and "crack" in expected:  # the product's own grade rule: a crack is C there, B on 60-cell
            assert "grade C" in payload["reason"]
    assert any(int(u.code[-1]) % 2 == 1 and any(len(f.boxes) for f in u.frames) for u in units)
    assert status["product"] == "M10-60" and status["products"] == ["M10-60", "M10-120H"]


def test_a_changeover_applies_to_the_frames_read_after_it(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    line = _pv(lines)
    svc = InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV)},
        settings=settings,
        client=None,
        sources=[],
    )
    requests = TriggerRequests(svc.board, None)
    assert svc.board.product("pv-01") is None  # no default_product: the line's own config
    answer = requests.answer({"line_id": "pv-01", "product": "M10-60"})
    assert answer == {"line_id": "pv-01", "product": "M10-60", "previous_product": None}
    assert svc.status()["lines"]["pv-01"]["product"] == "M10-60"
    assert svc.status()["lines"]["pv-01"]["changeovers"] == 1
    frame_code = "PV000000000002"  # an even serial: no product claims it by its code
    assert product_of(line, code=frame_code, trigger=None, board=svc.board) == "M10-60"
    assert product_of(line, code="PV000000000003", trigger=None, board=svc.board) == "M10-120H"
    requests.answer({"line_id": "pv-01", "product": None})
    assert product_of(line, code=frame_code, trigger=None, board=svc.board) is None


def test_a_product_the_line_does_not_make_is_refused_naming_it_and_nothing_changes(
    lines: dict[str, LineConfig],
) -> None:
    line = _pv(lines, default_product="M10-60")
    board = TriggerBoard()
    board.expect(line.id, line.code_pattern, products=["M10-60", "M10-120H"], default_product="M10-60")
    requests = TriggerRequests(board, None)
    with pytest.raises(InvalidFieldError) as err:
        requests.answer({"line_id": "pv-01", "product": "M12-66", "code": "PV000000000009"})
    assert err.value.field == "product" and err.value.value == "M12-66"
    assert "M10-120H" in str(err.value)
    assert board.product("pv-01") == "M10-60" and board.current("pv-01") is None  # all or nothing
    with pytest.raises(InvalidFieldError) as err:
        requests.answer({"line_id": "pv-01", "product": 7})
    assert err.value.field == "product"
    with pytest.raises(InvalidFieldError) as err:
        line.for_product("M12-66")
    assert err.value.field == "product" and err.value.value == "M12-66"


def test_a_plc_job_names_its_units_product(lines: dict[str, LineConfig]) -> None:
    line = _pv(lines)
    gate = RejectGate([line], metrics=InspectorMetrics())
    try:
        requests = TriggerRequests(TriggerBoard(), gate.job)
        answer = requests.answer({"line_id": "pv-01", "trigger_id": "M-1", "product": "M10-120H"})
        assert answer["product"] == "M10-120H"
        trigger = gate.job("pv-01", trigger_id="M-2", product="M10-60")
        assert trigger.product == "M10-60"
        # the job's product wins over the code's (the PLC knows what it loaded)
        assert product_of(line, code="PV000000000003", trigger=trigger, board=None) == "M10-60"
        with pytest.raises(InvalidFieldError) as err:
            gate.job("pv-01", trigger_id="M-3", product="nope")
        assert err.value.field == "product"
    finally:
        gate.close()


def test_the_cell_model_cuts_each_frame_in_its_products_grid(lines: dict[str, LineConfig]) -> None:
    line = _pv(lines)
    image = np.zeros((640, 640, 3), np.uint8)
    other = np.zeros((640, 640, 3), np.uint8)
    bind(line.for_product("M10-120H"), image)
    bind(line.for_product("M10-60"), other)  # the same grid as the line's own
    assert len(cell_boxes(line, image)) == 6 * 20
    assert len(cell_boxes(line, other)) == 6 * 10
    assert len(cell_boxes(line, np.zeros((640, 640, 3), np.uint8))) == 6 * 10  # unbound: the line's


def test_products_with_their_own_model_get_their_own_detector(lines: dict[str, LineConfig]) -> None:
    own = [*PRODUCTS, {"id": "M12-66", "model": {"name": "pv-m12"}}]
    line = _pv(lines, products=own)
    assert sorted(triton_factories([line])) == ["pv", "pv-m12"]
    clash = [*PRODUCTS, {"id": "M12-66", "model": {"name": "pv", "version": "3"}}]
    with pytest.raises(ConfigError) as err:
        triton_factories([_pv(lines, products=clash)])
    assert "product M12-66" in str(err.value) and "different versions" in str(err.value)


def test_the_plc_changes_the_line_over_with_opc_ua_prepare_product(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    from asyncua.ua import UaStatusCodeError

    from linecheck.inspect.outputs.opcua_client import OpcUaWatcher
    from linecheck.inspect.outputs.peers import free_port

    endpoint = f"opc.tcp://127.0.0.1:{free_port('127.0.0.1')}/linecheck"
    outputs = {"reject_deadline_ms": 5000, "opcua": {"vision_system": "ELStation", "start_continuous": False}}
    products = [{"id": "M10-60"}, {"id": "M10-66", "pv": {"rows": 6, "cols": 11}}]
    line = _pv(lines, products=products, outputs=outputs, default_product="M10-60")
    table = truth_table(line, seed=8, units=3)
    svc = InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV, table)},
        settings=settings.model_copy(update={"opcua_endpoint": endpoint, "opcua_users": {"plc": "pw"}}),
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri="synth://pv?seed=8&units=3&rate=1")],
    )
    svc.start()
    watcher = OpcUaWatcher(endpoint, [line.id], username="plc", password="pw").start()
    product_node = f"{line.id}.RecipeManagement.ProductId"
    try:
        assert watcher.read(product_node) == "M10-60"
        internal, error = watcher.prepare_product(line.id, "M10-66")
        assert error == 0 and internal.startswith("M10-66 (pv@")
        assert svc.board.product(line.id) == "M10-66"
        assert wait_until(lambda: watcher.read(product_node) == "M10-66")
        with pytest.raises(UaStatusCodeError):  # a product the line does not make
            watcher.prepare_product(line.id, "M12-72")
        assert svc.board.product(line.id) == "M10-66"
        state = f"{line.id}.VisionStateMachine.CurrentState"
        assert wait_until(lambda: watcher.read(state).Text == "Ready")
        job = watcher.call(line.id, "StartSingleJob", "M-7", "", -1)
        assert wait_until(lambda: any(e["JobId"] == job for e in watcher.events(line.id)))
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        recorded = {r.id: r.payload for r in svc.outbox.rows()}
    finally:
        watcher.stop()
        svc.stop()
    [event] = [e for e in watcher.events(line.id) if e["JobId"] == job]
    assert event["ProductId"] == "M10-66" and recorded[job]["product"] == "M10-66"
    assert json.loads(event["ResultContent"])["product"] == "M10-66"


def test_a_job_whose_frame_never_came_is_recorded_as_the_product_the_line_was_on(
    lines: dict[str, LineConfig],
) -> None:
    from linecheck.inspect.messages import InspectionResult

    line = _pv(lines, outputs={"reject_deadline_ms": 20}, default_product="M10-60")
    board = TriggerBoard()
    board.expect(line.id, line.code_pattern, products=["M10-60", "M10-120H"], default_product="M10-60")
    records: list[InspectionResult] = []
    gate = RejectGate([line], metrics=InspectorMetrics(), record=records.append, board=board)
    gate.start()
    try:
        gate.job(line.id, trigger_id="M-1", code="PV000000000042")  # even: the line's current product
        gate.job(line.id, trigger_id="M-2", code="PV000000000043")  # odd: its code says half-cut
        gate.job(line.id, trigger_id="M-3", product="M10-60", code="PV000000000045")  # the PLC's word
        assert wait_until(lambda: len(records) == 3)
    finally:
        gate.close()
    assert {r.trigger_id: r.product for r in records} == {"M-1": "M10-60", "M-2": "M10-120H", "M-3": "M10-60"}
    assert all(r.to_payload()["product"] == r.product for r in records)
