"""Modbus TCP reject output against pymodbus's own server: one coil pulse per rejected unit."""

from __future__ import annotations

import time

import pytest
from insp_helpers import TableDetector, truth_table

from linecheck.config import LineConfig
from linecheck.inspect.outputs.peers import ModbusGate, free_port
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind


def _line(line: LineConfig, outputs: dict) -> LineConfig:
    return LineConfig.model_validate({**line.model_dump(mode="json"), "outputs": outputs})


def _run(line: LineConfig, settings: InspectorSettings, *, units: int, delay_s: float = 0.0) -> dict:
    table = truth_table(line, seed=4, units=units)
    svc = InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV, table, delay_s=delay_s)},
        settings=settings.model_copy(update={"max_batch": 1}),
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri=f"synth://pv?seed=4&units={units}&rate=0")],
    )
    svc.start()
    try:
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        verdicts = [r.payload["verdict"] for r in svc.outbox.rows()]
        svc.outputs[0].close()  # deliver what is queued before reading the counters
        failures = svc.metrics.registry.get_sample_value(
            "linecheck_inspector_output_failures_total", {"output": "modbus", "line": line.id}
        )
    finally:
        svc.stop()
    return {"verdicts": verdicts, "status": svc.status()["outputs"]["modbus"], "failures": failures}


@pytest.mark.parametrize(
    ("deadline_ms", "delay_s"), [(None, 0.0), (50, 0.2)], ids=["judged-rejects", "fail-safe-rejects"]
)
def test_each_rejected_unit_pulses_the_gate_coil_once(
    lines: dict[str, LineConfig], settings: InspectorSettings, deadline_ms: float | None, delay_s: float
) -> None:
    with ModbusGate() as gate:
        line = _line(
            lines["pv-01"],
            {
                "reject_deadline_ms": deadline_ms,
                "modbus": {"host": "127.0.0.1", "port": gate.port, "unit_id": 1, "coil": 5, "pulse_ms": 15},
            },
        )
        run = _run(line, settings, units=6, delay_s=delay_s)
        time.sleep(0.05)
        rejects = sum(v != "pass" for v in run["verdicts"])
        assert rejects > 0 and gate.pulses(5) == rejects
        assert gate.state(5) is False  # every pulse was released
        assert {w.address for w in gate.writes} == {5} and {w.unit_id for w in gate.writes} == {1}
        last_on = None
        for write in gate.writes:  # each release comes pulse_ms after the last set (a reject extends it)
            if write.value:
                last_on = write.at
            else:
                assert last_on is not None and 0.010 <= write.at - last_on < 1.0
    assert run["status"]["delivered"] == rejects and run["status"]["failed"] == 0
    if deadline_ms is not None:
        assert run["verdicts"] == ["not_inspected"] * 6


def test_an_unreachable_gate_is_counted_not_silent(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    port = free_port("127.0.0.1")  # nothing listens there
    line = _line(
        lines["pv-01"],
        {"modbus": {"host": "127.0.0.1", "port": port, "coil": 0, "timeout_s": 0.2}},
    )
    run = _run(line, settings, units=4)
    rejects = sum(v != "pass" for v in run["verdicts"])
    assert len(run["verdicts"]) == 4 and rejects > 0
    assert run["status"]["failed"] == rejects and run["status"]["delivered"] == 0
    assert run["failures"] == rejects  # linecheck_inspector_output_failures_total{output="modbus"}
