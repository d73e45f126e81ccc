"""Modbus TCP against pymodbus's own server: one coil pulse per rejected unit, PLC jobs in registers."""

from __future__ import annotations

import time
from typing import Any

import pytest
from insp_helpers import TableDetector, truth_table, wait_until

from linecheck.config import LineConfig
from linecheck.inspect.gate import Trigger
from linecheck.inspect.outputs.modbus_trigger import TriggerBlock, counter_steps
from linecheck.inspect.outputs.peers import ModbusGate, free_port
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind
from linecheck.line_outputs import ModbusTriggerOptions


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


def _plc_writes(gate: ModbusGate, address: int, values: list[int]) -> None:
    """What the PLC does in its own memory: here through Modbus, one request (FC 16)."""
    from pymodbus.client import ModbusTcpClient

    plc = ModbusTcpClient("127.0.0.1", port=gate.port)
    assert plc.connect()
    try:
        assert not plc.write_registers(address, values, device_id=1).isError()
    finally:
        plc.close()


def _registers(gate: ModbusGate, address: int, count: int) -> list[int]:
    from pymodbus.client import ModbusTcpClient

    plc = ModbusTcpClient("127.0.0.1", port=gate.port)
    assert plc.connect()
    try:
        return list(plc.read_holding_registers(address, count=count, device_id=1).registers)
    finally:
        plc.close()


def _block(counter: int, encoder: int, code: str) -> list[int]:
    """The trigger block as the PLC keeps it: counter, encoder count (INT32, high word first), code."""
    from pymodbus.client import ModbusTcpClient as C

    text = C.convert_to_registers(code.ljust(14, "\x00"), C.DATATYPE.STRING)
    return [counter, *C.convert_to_registers(encoder, C.DATATYPE.INT32), *text]


def test_a_plc_counter_in_registers_starts_jobs_and_gets_each_answer_back(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    trigger = {"counter_register": 10, "code_registers": 7, "result_register": 40, "poll_ms": 5}
    with ModbusGate() as gate:
        _plc_writes(gate, 10, _block(100, 0, ""))  # where the count stands when the inspector starts
        line = _line(
            lines["pv-01"],
            {
                "reject_deadline_ms": 4000,
                "modbus": {
                    "host": "127.0.0.1",
                    "port": gate.port,
                    "coil": 5,
                    "pulse_ms": 15,
                    "trigger": trigger,
                },
            },
        )
        table = truth_table(line, seed=4, units=24)
        svc = InspectorService(
            [line],
            detectors={"pv": lambda: TableDetector(Kind.PV, table)},
            settings=settings.model_copy(update={"max_batch": 1}),
            client=None,
            sources=[SourceSpec(line_id=line.id, station="el", uri="synth://pv?seed=4&units=24&rate=6")],
        )
        svc.start()
        answer = lambda: _registers(gate, 40, 3)  # noqa: E731 - read again at each wait
        triggers = lambda: svc.status()["outputs"]["modbus"]["triggers"]["pv-01"]  # noqa: E731
        try:
            assert wait_until(lambda: triggers()["counter"] == 100)
            _plc_writes(gate, 10, _block(101, -5, "PV000000000101"))  # one unit at the photo-eye
            assert wait_until(lambda: answer()[0] == 101)
            first = answer()
            _plc_writes(gate, 10, _block(104, 52311, "PV000000000104"))  # three units between two reads
            assert wait_until(lambda: answer()[0] == 104)
            _plc_writes(gate, 10, _block(0, 0, ""))  # the PLC restarted: its counter is 0 again
            assert wait_until(lambda: triggers()["resets"] == 1)
            _plc_writes(gate, 10, _block(1, 7, "not-a-pv-code"))  # a job the gate refuses
            assert wait_until(lambda: answer() == [1, 3, 0])
            assert svc.wait_sources(60) and svc.drain(60)
            assert svc.outbox is not None
            records = {r.payload.get("trigger_id"): r.payload for r in svc.outbox.rows()}
            svc.outputs[0].close()
            status = triggers()
        finally:
            svc.stop()
    jobs = {k: v for k, v in records.items() if k and not k.startswith("el:")}
    assert sorted(jobs, key=int) == ["101", "102", "103", "104"]  # one record per unit, none for 0 or 1
    assert (jobs["101"]["encoder_count"], jobs["104"]["encoder_count"]) == (-5, 52311)
    assert jobs["102"].get("encoder_count") is None and jobs["103"].get("encoder_count") is None
    evaluation = {"pass": 1, "fail": 2, "not_inspected": 3}
    assert first == [101, evaluation[jobs["101"]["verdict"]], len(jobs["101"]["defects"])]
    assert {k: status[k] for k in ("jobs", "skipped", "resets", "answers")} == {
        "jobs": 4,
        "skipped": 2,
        "resets": 1,
        "answers": 5,  # four jobs and the refused one
    }


@pytest.mark.parametrize(
    ("last", "now", "steps"),
    [
        (100, 100, []),
        (100, 101, [101]),
        (100, 103, [101, 102, 103]),
        (65535, 1, [0, 1]),  # the 16-bit counter wraps
        (100, 0, None),  # a PLC restart resets it: no units, no jobs
        (100, 109, None),  # past max_step (8)
    ],
)
def test_counter_steps_are_units_passed_or_a_reset(last: int, now: int, steps: list[int] | None) -> None:
    assert counter_steps(last, now, max_step=8) == steps


@pytest.mark.parametrize("word_order", ["big", "little"])
def test_the_trigger_block_decodes_with_either_word_order(word_order: str) -> None:
    from pymodbus.client import ModbusTcpClient as C

    options = ModbusTriggerOptions(counter_register=0, code_registers=3, word_order=word_order)
    encoder = C.convert_to_registers(-70_000, C.DATATYPE.INT32, word_order=word_order)
    code = C.convert_to_registers("RL12 \x00", C.DATATYPE.STRING)
    block = TriggerBlock.decode([42, *encoder, *code], options)
    assert (block.counter, block.encoder_count, block.code) == (42, -70_000, "RL12")
    blank = TriggerBlock.decode([42, 0, 0, 0, 0, 0], options)
    assert blank.code is None and blank.encoder_count == 0


def test_the_plcs_product_number_names_each_jobs_product(lines: dict[str, LineConfig]) -> None:
    from linecheck.inspect.gate import RejectGate
    from linecheck.inspect.metrics import InspectorMetrics
    from linecheck.inspect.outputs.modbus_trigger import TriggerPoller

    products = [{"id": "M10-60"}, {"id": "M10-66", "pv": {"cols": 11}}]
    line = LineConfig.model_validate({**lines["pv-01"].model_dump(mode="json"), "products": products})
    options = ModbusTriggerOptions(counter_register=0, code_registers=0, product_number=True)
    assert options.block_size == 4
    assert TriggerBlock.decode([7, 0, 9, 2], options).product_number == 2
    gate = RejectGate([line], metrics=InspectorMetrics())
    refused: list[int] = []
    started: list[Trigger] = []

    def job(*args: Any, **kwargs: Any) -> Trigger:
        started.append(gate.job(*args, **kwargs))
        return started[-1]

    poller = TriggerPoller(
        line.id,
        options,
        read=lambda at, n: [],
        job=job,
        refused=refused.append,
        products=[p.id for p in line.products],
    )
    try:
        poller.poll(TriggerBlock(counter=10, encoder_count=0, code=None, product_number=0))
        for counter, number in [(11, 2), (12, 0), (13, 1), (14, 3)]:
            poller.poll(TriggerBlock(counter=counter, encoder_count=0, code=None, product_number=number))
    finally:
        gate.close()
    assert [(t.trigger_id, t.product) for t in started] == [("11", "M10-66"), ("12", None), ("13", "M10-60")]
    assert refused == [14]  # a recipe number the line does not have: NotDecidable, no job
