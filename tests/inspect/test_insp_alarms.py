"""Run alarms on the line PC: raised on the frame that makes one hold, shown to the operator and the PLC."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from insp_helpers import bearing_result, wait_until

from linecheck.config import LineConfig
from linecheck.errors import InvalidFieldError
from linecheck.inspect.alarm_watch import AlarmWatch, alarm_text
from linecheck.inspect.messages import DefectRecord, InspectionResult
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outputs.opcua_client import OpcUaWatcher
from linecheck.inspect.outputs.peers import ModbusGate, MqttListener, broker_reachable, free_port
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.inspect.status_view import alarms_text
from linecheck.kinds import get_kind
from linecheck.messages import Detections

BROKER = "mqtt://127.0.0.1:1883"
ALARM_COIL = 9


def _with(line: LineConfig, **extra: Any) -> LineConfig:
    return LineConfig.model_validate({**line.model_dump(mode="json"), **extra})


def _watch(line: LineConfig) -> tuple[AlarmWatch, InspectorMetrics]:
    metrics = InspectorMetrics()
    return AlarmWatch([line], metrics), metrics


def _dent(seq: int, zone: str = "face", code: str | None = None) -> InspectionResult:
    """A failed bearing frame with one dent in ``zone``."""
    dent = DefectRecord(
        class_name="dent", confidence=0.8, bbox=(10.0, 10.0, 30.0, 40.0), location={"zone": zone}
    )
    return replace(bearing_result(code or f"BR{seq:010d}", seq=seq, defects=1), defects=(dent,))


def _snap(watch: AlarmWatch, line_id: str) -> dict[str, Any]:
    snapshot = watch.snapshot(line_id)
    assert snapshot is not None
    return snapshot


def test_an_alarm_is_raised_acknowledged_and_cleared_as_isa_18_2_says(
    lines: dict[str, LineConfig], caplog: pytest.LogCaptureFixture
) -> None:
    line = _with(lines["bearing-01"], alarms={"consecutive_fail": 2})
    watch, metrics = _watch(line)
    told: list[str] = []
    watch.listen(told.append)
    sample = metrics.registry.get_sample_value

    def snap() -> dict[str, Any]:
        return _snap(watch, line.id)

    watch.observe(_dent(1))
    assert snap() == {"in_alarm": False, "unacknowledged": 0, "alarms": [], "frames": 1, "raised_total": 0}
    with caplog.at_level(logging.ERROR, logger="linecheck.inspect.alarm_watch"):
        watch.observe(_dent(2))
    (alarm,) = snap()["alarms"]
    assert alarm["state"] == "raised" and alarm["rule"] == "consecutive_fail" and alarm["count"] == 2
    assert snap()["in_alarm"] and snap()["unacknowledged"] == 1 and told == [line.id]
    assert sample("linecheck_inspector_alarms_total", {"line": line.id, "rule": "consecutive_fail"}) == 1
    assert sample("linecheck_inspector_alarms_shown", {"line": line.id}) == 1
    assert any("ALARM 2 frames in a row failed" in r.getMessage() for r in caplog.records)
    watch.observe(_dent(3))  # still failing: the same alarm, its evidence grows, nothing raised again
    assert snap()["alarms"][0]["count"] == 3 and told == [line.id]
    assert sample("linecheck_inspector_alarms_total", {"line": line.id, "rule": "consecutive_fail"}) == 1

    assert watch.acknowledge(line.id, "op-7") == ["consecutive_fail"]
    (alarm,) = snap()["alarms"]  # acknowledged, still shown while its condition holds
    assert alarm["state"] == "acknowledged" and alarm["acknowledged_by"] == "op-7"
    assert snap()["in_alarm"] and snap()["unacknowledged"] == 0
    assert watch.acknowledge(line.id) == []  # nothing left to acknowledge
    watch.observe(bearing_result("BR0000000004", seq=4))  # a pass: cleared and acknowledged: gone
    assert snap()["alarms"] == [] and not snap()["in_alarm"]
    assert sample("linecheck_inspector_alarms_shown", {"line": line.id}) == 0

    watch.observe(_dent(5))
    watch.observe(_dent(6))  # raised again
    watch.observe(bearing_result("BR0000000007", seq=7))  # cleared before anyone looked: latched
    (alarm,) = snap()["alarms"]
    assert alarm["state"] == "cleared" and alarm["cleared_at"] is not None and snap()["unacknowledged"] == 1
    assert watch.acknowledge(line.id, "op-8") == ["consecutive_fail"]
    assert snap()["alarms"] == [] and snap()["raised_total"] == 2
    assert sample("linecheck_inspector_alarms_total", {"line": line.id, "rule": "consecutive_fail"}) == 2


def test_an_alarm_that_comes_back_before_it_was_acknowledged_is_raised_again(
    lines: dict[str, LineConfig],
) -> None:
    line = _with(lines["bearing-01"], alarms={"consecutive_fail": 2})
    watch, metrics = _watch(line)
    for seq, failed in enumerate([True, True, False, True, True]):
        watch.observe(_dent(seq) if failed else bearing_result(f"BR{seq:010d}", seq=seq))
    (alarm,) = _snap(watch, line.id)["alarms"]
    assert alarm["state"] == "raised" and alarm["cleared_at"] is None
    total = {"line": line.id, "rule": "consecutive_fail"}
    assert metrics.registry.get_sample_value("linecheck_inspector_alarms_total", total) == 2


def test_without_latch_an_alarm_goes_with_its_condition(lines: dict[str, LineConfig]) -> None:
    line = _with(lines["bearing-01"], alarms={"consecutive_fail": 2, "latch": False})
    watch, _ = _watch(line)
    watch.observe(_dent(1))
    watch.observe(_dent(2))
    assert _snap(watch, line.id)["unacknowledged"] == 1
    watch.observe(bearing_result("BR0000000003", seq=3))
    assert _snap(watch, line.id)["alarms"] == []


def test_a_repeat_is_keyed_by_the_kinds_place_and_challenge_parts_are_left_out(
    lines: dict[str, LineConfig],
) -> None:
    rabbit = {"code": "BR9900000001", "expect": "fail", "classes": ["dent"]}
    line = _with(
        lines["bearing-01"],
        alarms={"repeat": {"window": 4, "count": 3}},
        verification={"every_h": 8, "parts": [rabbit]},
    )
    watch, _ = _watch(line)
    watch.observe(_dent(1, "outer_race"))
    watch.observe(_dent(2, "bore"))
    for _ in range(5):  # the red rabbit, in the outer race every time: not production
        watch.observe(_dent(3, "outer_race", code="BR9900000001"))
    assert _snap(watch, line.id)["frames"] == 2
    watch.observe(_dent(4, "outer_race"))
    assert _snap(watch, line.id)["alarms"] == []  # 2 of 3 in the outer race
    watch.observe(_dent(5, "outer_race"))
    (alarm,) = _snap(watch, line.id)["alarms"]
    assert alarm["key"] == "repeat:dent@zone:outer_race" and alarm["count"] == 3 and alarm["of"] == 4
    assert alarm["location_key"] == "zone:outer_race" and alarm["class_name"] == "dent"
    assert alarm_text(watch.snapshot(line.id)) == "ALARM: dent at zone:outer_race in 3 of the last 4 frames"
    assert alarms_text({"alarms": watch.snapshot(line.id)}).style == "bold red"


def test_acknowledging_a_line_without_alarms_is_refused_naming_it(lines: dict[str, LineConfig]) -> None:
    watch, _ = _watch(_with(lines["bearing-01"], alarms={"consecutive_fail": 2}))
    with pytest.raises(InvalidFieldError) as refused:
        watch.acknowledge("pv-01", "op")
    assert refused.value.field == "line_id" and refused.value.value == "pv-01"
    with pytest.raises(InvalidFieldError) as too_long:
        watch.acknowledge("bearing-01", "x" * 500)
    assert too_long.value.field == "by"
    assert watch.snapshot("pv-01") is None


class FaultyMachine:
    """A detector that finds a scratch in the same place of every frame while ``faulty`` is set."""

    def __init__(self, faulty: threading.Event) -> None:
        self.faulty = faulty
        self.class_names = get_kind("bearing").classes
        self.model_name = "bearing"
        self.model_version = "1"

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        found = self.faulty.is_set()
        return [
            Detections(
                xyxy=np.array([[20, 20, 40, 40]] if found else np.zeros((0, 4)), np.float32),
                confidence=np.full(int(found), 0.95, np.float32),
                class_id=np.zeros(int(found), np.int64),
                class_names=self.class_names,
            )
            for _ in images
        ]

    def close(self) -> None:
        pass


def test_the_operator_and_the_plc_see_an_alarm_and_acknowledge_it(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    mqtt = broker_reachable(BROKER)
    if not mqtt and os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but no MQTT broker is reachable at {BROKER} (.ci/run starts mosquitto)")
    prefix = f"lctest/{uuid.uuid4().hex[:8]}"
    with ModbusGate() as gate:
        outputs: dict[str, Any] = {
            "opcua": {},
            "modbus": {"host": "127.0.0.1", "port": gate.port, "coil": 3, "alarm_coil": ALARM_COIL},
        }
        if mqtt:
            outputs["mqtt"] = {"status_topic": f"{prefix}/{{line_id}}/status", "status_interval_s": 30}
        line = _with(lines["bearing-01"], alarms={"consecutive_fail": 3}, outputs=outputs)
        endpoint = f"opc.tcp://127.0.0.1:{free_port('127.0.0.1')}/linecheck"
        port = free_port("127.0.0.1")
        faulty = threading.Event()
        faulty.set()
        machine = FaultyMachine(faulty)
        svc = InspectorService(
            [line],
            detectors={"bearing": lambda: machine},
            settings=settings.model_copy(
                update={
                    "opcua_endpoint": endpoint,
                    "opcua_users": {"plc": "pw"},
                    "metrics_port": port,
                    "mqtt_url": BROKER if mqtt else "",
                }
            ),
            client=None,
            sources=[
                SourceSpec(line_id=line.id, station="face", uri="synth://bearing?seed=3&units=5000&rate=20")
            ],
        )
        listener = MqttListener("127.0.0.1", 1883, [f"{prefix}/#"]).start() if mqtt else None
        svc.start()
        watcher = OpcUaWatcher(endpoint, [line.id], username="plc", password="pw").start()
        url = f"http://127.0.0.1:{port}"

        def alarms() -> dict[str, Any]:
            return dict(svc.status()["lines"][line.id]["alarms"])

        def plc() -> tuple[Any, ...]:
            return tuple(watcher.read(f"{line.id}.Alarm.{name}") for name in ("Active", "Unacknowledged"))

        def mqtt_status() -> dict[str, Any]:
            assert listener is not None
            return dict(json.loads(listener.last(f"{prefix}/{line.id}/status") or b"{}"))

        try:
            assert wait_until(lambda: alarms()["unacknowledged"] == 1, timeout=30)
            assert alarms()["alarms"][0]["rule"] == "consecutive_fail"
            assert wait_until(lambda: watcher.wait_connected(1) and plc() == (True, 1))
            assert watcher.read(f"{line.id}.Alarm.Text").startswith("ALARM: ")
            assert wait_until(lambda: gate.state(ALARM_COIL) is True)  # the horn / the line stop
            if mqtt:  # sent at once, not at the next 30 s status
                assert wait_until(lambda: mqtt_status().get("alarms_unacknowledged") == 1)
                assert mqtt_status()["alarm_active"] is True and mqtt_status()["alarm_text"].startswith(
                    "ALARM"
                )

            answer = httpx.post(f"{url}/alarms/ack", json={"line_id": line.id, "by": "op-7"}, timeout=5)
            assert answer.status_code == 200 and answer.json()["acknowledged"] == ["consecutive_fail"]
            assert alarms()["in_alarm"] and alarms()["alarms"][0]["acknowledged_by"] == "op-7"
            assert wait_until(lambda: plc() == (True, 0))  # still in alarm: the machine still fails
            assert wait_until(lambda: gate.state(ALARM_COIL) is False)
            if mqtt:
                assert wait_until(lambda: mqtt_status().get("alarms_unacknowledged") == 0)

            faulty.clear()  # the machine is mended: the next good frame clears it
            assert wait_until(lambda: not alarms()["in_alarm"], timeout=30)
            assert wait_until(lambda: plc() == (False, 0))
            assert watcher.read(f"{line.id}.Alarm.Text") == ""

            faulty.set()
            assert wait_until(lambda: plc() == (True, 1), timeout=30)
            assert watcher.acknowledge_alarms(line.id, "op-8") == 1  # from the PLC or the HMI
            assert alarms()["alarms"][0]["acknowledged_by"] == "op-8" and alarms()["unacknowledged"] == 0

            bad = httpx.post(f"{url}/alarms/ack", json={"line_id": "pv-01"}, timeout=5)
            assert bad.status_code == 422 and bad.json()["error"]["field"] == "line_id"
            assert bad.json()["error"]["value"] == "pv-01"
            for body, field in ((b"[1]", "body"), (b'{"line_id": "bearing-01", "by": 7}', "by")):
                bad = httpx.post(f"{url}/alarms/ack", content=body, timeout=5)
                assert bad.status_code == 422 and bad.json()["error"]["field"] == field
        finally:
            watcher.stop()
            svc.stop(drain_timeout_s=10, deliver_timeout_s=2)
            if listener is not None:
                listener.stop()
    assert svc.status()["outputs"]["modbus"]["alarm_coils"] == {line.id: False}


def test_a_line_without_alarms_has_no_ack_route(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    port = free_port("127.0.0.1")
    svc = InspectorService(
        [lines["bearing-01"]],
        detectors={"bearing": lambda: FaultyMachine(threading.Event())},
        settings=settings.model_copy(update={"metrics_port": port}),
        client=None,
        sources=[
            SourceSpec(line_id="bearing-01", station="face", uri="synth://bearing?seed=3&units=2&rate=0")
        ],
    )
    svc.start()
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/alarms/ack", json={"line_id": "bearing-01"}, timeout=5)
        assert answer.status_code == 404 and answer.json()["error"]["field"] == "path"
        assert svc.wait_sources(30) and svc.drain(30)
        assert svc.status()["lines"]["bearing-01"]["alarms"] is None
    finally:
        svc.stop()
