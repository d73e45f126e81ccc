"""MQTT output against the real Mosquitto broker: per-unit results from the outbox, status, Sparkplug B.

The shared broker is the one at 127.0.0.1:1883 (CI starts it, see .ci/run); outside CI the tests skip
when none is reachable. The broker-restart test runs its own mosquitto on a free port.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import pytest
from insp_helpers import TableDetector, truth_table, wait_until

from linecheck.config import LineConfig
from linecheck.inspect.outputs.peers import Mosquitto, MqttListener, broker_reachable
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind

SHARED_BROKER = "mqtt://127.0.0.1:1883"


@pytest.fixture(scope="module")
def broker() -> str:
    if not broker_reachable(SHARED_BROKER):
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"CI=true but no MQTT broker is reachable at {SHARED_BROKER} (.ci/run starts mosquitto)"
            )
        pytest.skip(f"no MQTT broker at {SHARED_BROKER}")
    return SHARED_BROKER


def _line(line: LineConfig, prefix: str, **mqtt: object) -> LineConfig:
    outputs = {
        "mqtt": {
            "results_topic": f"{prefix}/{{line_id}}/results",
            "status_topic": f"{prefix}/{{line_id}}/status",
            "status_interval_s": 0.2,
            **mqtt,
        }
    }
    return LineConfig.model_validate({**line.model_dump(mode="json"), "outputs": outputs})


def _service(line: LineConfig, settings: InspectorSettings, uri: str, units: int) -> InspectorService:
    table = truth_table(line, seed=6, units=units)
    return InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV, table)},
        settings=settings,
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri=uri)],
    )


def _need_mosquitto() -> None:
    """Skip a test that runs its own broker when mosquitto is missing (fail in CI, which installs it)."""
    if Mosquitto.available() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but mosquitto is not installed (.ci/run installs it)")
        pytest.skip("mosquitto is not installed")


def test_every_result_is_published_with_trigger_and_the_line_status(
    broker: str, lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    prefix = f"lctest/{uuid.uuid4().hex[:8]}"
    line = _line(lines["pv-01"], prefix)
    listener = MqttListener("127.0.0.1", 1883, [f"{prefix}/#"]).start()
    svc = _service(
        line, settings.model_copy(update={"mqtt_url": broker}), "synth://pv?seed=6&units=6&rate=0", units=6
    )
    svc.start()
    try:
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        recorded = {r.id: r.payload for r in svc.outbox.rows()}
        assert wait_until(lambda: set(listener.results) == set(recorded))
        mqtt_status = svc.status()["outputs"]["mqtt"]
    finally:
        svc.stop()
        listener.stop()
    assert len(recorded) == 6 and mqtt_status["queued"] == 0 and mqtt_status["published"] == 6
    for inspection_id, message in listener.results.items():
        assert message["verdict"] == recorded[inspection_id]["verdict"]
        assert message["reject"] is (message["verdict"] != "pass")
        assert message["trigger_id"].startswith("el:") and message["defect_count"] == len(message["defects"])
    status = json.loads(listener.last(f"{prefix}/pv-01/status") or b"{}")
    assert status["verdicts"] == {
        k: sum(p["verdict"] == k for p in recorded.values()) for k in ("pass", "fail", "not_inspected")
    }
    assert status["model_name"] == "pv" and status["model_version"] in (None, "test")


def test_a_trigger_topic_starts_plc_jobs_answers_each_and_refuses_bad_ones(
    broker: str, lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    prefix = f"lctest/{uuid.uuid4().hex[:8]}"
    line = _line(lines["pv-01"], prefix, trigger_topic=f"{prefix}/{{line_id}}/trigger")
    line = LineConfig.model_validate(
        {**line.model_dump(mode="json"), "outputs": {**line.outputs.model_dump(), "reject_deadline_ms": 3000}}
    )
    topic = f"{prefix}/pv-01/trigger"
    plc = MqttListener("127.0.0.1", 1883, [f"{topic}/answer"]).start()
    svc = _service(
        line, settings.model_copy(update={"mqtt_url": broker}), "synth://pv?seed=6&units=4&rate=1", units=4
    )
    # a retained trigger left on the broker (by a PLC program's mistake) would start a job at every
    # reconnect: it is delivered at subscribe time, flagged retained, and refused
    plc.publish(topic, json.dumps({"trigger_id": "M-4713"}), retain=True)
    job = {"trigger_id": "M-4711", "encoder_count": 52311}
    svc.start()
    try:
        assert wait_until(lambda: bool(_answers(plc, topic)), timeout=20)  # subscribed: the retained one came
        plc.publish(topic, json.dumps(job))
        plc.publish(topic, json.dumps(job))  # QoS 1 may deliver twice: the same job, not a second unit
        plc.publish(topic, json.dumps({"trigger_id": "M" * 129}))
        plc.publish(topic, json.dumps({"trigger_id": "M-4712", "line_id": "bearing-01"}))
        plc.publish(topic, b"not json")
        assert wait_until(lambda: len(_answers(plc, topic)) == 6)
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        recorded = {r.id: r.payload for r in svc.outbox.rows()}
        mqtt_status = svc.status()["outputs"]["mqtt"]
        repeats = svc.metrics.by_key("trigger_repeats")
    finally:
        svc.stop()
        plc.publish(topic, b"", retain=True)  # take the retained trigger off the shared broker
        plc.stop()
    got = _answers(plc, topic)
    first, again = [a for a in got if "inspection_id" in a]
    assert again == first and (first["trigger_id"], first["encoder_count"]) == ("M-4711", 52311)
    refused = {a["error"]["field"]: a for a in got if "error" in a}
    assert set(refused) == {"retain", "trigger_id", "line_id", "body"}, got
    retained, elsewhere = refused["retain"], refused["line_id"]
    assert retained["trigger_id"] == "M-4713" and "unretained" in retained["error"]["message"]
    assert elsewhere["trigger_id"] == "M-4712" and elsewhere["error"]["value"] == "bearing-01"
    # the job's record names the unit as the PLC did; the repeat and the refused ones made none
    record = recorded[first["inspection_id"]]
    assert (record["trigger_id"], record["encoder_count"]) == ("M-4711", 52311)
    assert [p.get("trigger_id") for p in recorded.values()].count("M-4711") == 1
    assert not any(p.get("trigger_id") in ("M-4712", "M-4713") for p in recorded.values())
    assert mqtt_status["triggers"] == {"answered": 2, "refused": 4} and repeats == {"pv-01": 1}


def _answers(listener: MqttListener, topic: str) -> list[dict]:
    return [a for a in listener.json_on(f"{topic}/answer") if isinstance(a, dict)]


def _edge_node(
    broker: str,
    lines: dict[str, LineConfig],
    settings: InspectorSettings,
    node: str,
    *,
    units: int,
    rate: float,
) -> tuple[str, MqttListener, InspectorService]:
    """A Sparkplug group of its own, a listener on it, and a PV inspector as its edge node (not started)."""
    group = f"lctest{uuid.uuid4().hex[:8]}"
    line = _line(lines["pv-01"], f"lctest/{group}", sparkplug_device="EL-Station-1")
    listener = MqttListener("127.0.0.1", 1883, [f"spBv1.0/{group}/#"]).start()
    update = {"mqtt_url": broker, "mqtt_sparkplug_group": group, "mqtt_client_id": node}
    uri = f"synth://pv?seed=6&units={units}&rate={rate:g}"
    return group, listener, _service(line, settings.model_copy(update=update), uri, units=units)


def test_sparkplug_births_data_sequence_and_death(
    broker: str, lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    group, listener, svc = _edge_node(broker, lines, settings, "lc-edge-1", units=4, rate=8)
    svc.start()
    try:
        assert svc.wait_sources(60) and svc.drain(60)
        assert wait_until(
            lambda: listener.topics_seen()[f"spBv1.0/{group}/DDATA/lc-edge-1/EL-Station-1"] >= 2
        )
    finally:
        svc.stop()
    assert wait_until(lambda: listener.topics_seen()[f"spBv1.0/{group}/NDEATH/lc-edge-1"] == 1)
    listener.stop()
    messages = listener.sparkplug()
    kinds = [topic.split("/")[2] for topic, _p in messages]
    assert kinds[:2] == ["NBIRTH", "DBIRTH"] and kinds[-1] == "NDEATH" and "DDATA" in kinds
    nbirth = messages[0][1]
    bd_seq = {m.name: m.value for m in nbirth.metrics}["bdSeq"]
    assert {m.name for m in nbirth.metrics} >= {"bdSeq", "Node Control/Rebirth"}
    assert messages[-1][1].bd_seq_metric.value == bd_seq  # the death matches the birth
    dbirth = messages[1][1]
    assert {m.name for m in dbirth.metrics} >= {
        "Inspection/Pass",
        "Inspection/Fail",
        "Inspection/NotInspected",
        "Inspection/FailRate",
        "Inspection/QueueDepth",
        "Model/Version",
    }
    seqs = [p.seq for _t, p in messages[:-1]]
    assert seqs == [(seqs[0] + i) % 256 for i in range(len(seqs))] and seqs[0] == 0
    last = {m.name: m.value for m in messages[-2][1].metrics}
    assert last["Inspection/Frames"] == 4 and last["Model/Name"] == "pv"
    assert last["Inspection/Pass"] + last["Inspection/Fail"] + last["Inspection/NotInspected"] == 4


def _ask_rebirth(group: str, edge_node: str) -> None:
    """What a Sparkplug host application (Ignition, a historian) sends when it wants the births again."""
    import pysparkplug as spb

    host = spb.Client(client_id=f"host-{uuid.uuid4().hex[:6]}")
    connected = threading.Event()
    host.connect("127.0.0.1", port=1883, callback=lambda _c: connected.set())
    assert connected.wait(10)
    rebirth = spb.Metric(
        timestamp=spb.get_current_timestamp(),
        name="Node Control/Rebirth",
        datatype=spb.DataType.BOOLEAN,
        value=True,
    )
    topic = spb.Topic(message_type=spb.MessageType.NCMD, group_id=group, edge_node_id=edge_node)
    command = spb.NCmd(timestamp=spb.get_current_timestamp(), metrics=(rebirth,))
    host.publish(
        spb.Message(topic=topic, payload=command, qos=spb.QoS.AT_MOST_ONCE, retain=False), include_dtypes=True
    )
    time.sleep(0.2)
    host.disconnect()


def test_sparkplug_rebirth_request_births_the_node_again_on_the_same_session(
    broker: str, lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    group, listener, svc = _edge_node(broker, lines, settings, "lc-edge-2", units=12, rate=4)
    ddata = f"spBv1.0/{group}/DDATA/lc-edge-2/EL-Station-1"
    nbirth = f"spBv1.0/{group}/NBIRTH/lc-edge-2"
    svc.start()
    try:
        assert wait_until(lambda: listener.topics_seen()[ddata] >= 1)
        _ask_rebirth(group, "lc-edge-2")
        assert wait_until(lambda: listener.topics_seen()[nbirth] == 2)
        seen_after = listener.topics_seen()[ddata]
        assert wait_until(lambda: listener.topics_seen()[ddata] > seen_after)  # and data goes on after it
        assert svc.wait_sources(60) and svc.drain(60)
        rebirths = svc.status()["outputs"]["mqtt"]["sparkplug"]["rebirths"]
    finally:
        svc.stop()
    assert wait_until(lambda: listener.topics_seen()[f"spBv1.0/{group}/NDEATH/lc-edge-2"] == 1)
    listener.stop()
    messages = listener.sparkplug()
    kinds = [topic.split("/")[2] for topic, _p in messages]
    again = [i for i, k in enumerate(kinds) if k == "NBIRTH"][1]
    assert kinds[again + 1] == "DBIRTH" and rebirths == 1
    first_birth, second_birth = messages[0][1], messages[again][1]
    bd_seq = {m.name: m.value for m in first_birth.metrics}["bdSeq"]
    assert {m.name: m.value for m in second_birth.metrics}["bdSeq"] == bd_seq  # the same session
    assert messages[-1][1].bd_seq_metric.value == bd_seq  # and its death still matches
    seqs = [p.seq for _t, p in messages[again:-1]]
    assert seqs == list(range(len(seqs)))  # the births start the sequence again at 0, the data follows
    reborn = {m.name: m.value for m in messages[again + 1][1].metrics}
    assert reborn["Model/Name"] == "pv" and reborn["Inspection/Frames"] >= 1  # current values, not zeros


def test_broker_restart_mid_run_loses_no_result(
    lines: dict[str, LineConfig], settings: InspectorSettings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    _need_mosquitto()
    own = Mosquitto(tmp_path / "broker").start()
    request.addfinalizer(own.stop)  # whatever fails before the test's own `finally`
    prefix = f"lctest/{uuid.uuid4().hex[:8]}"
    line = _line(lines["pv-01"], prefix)
    listener = MqttListener(
        "127.0.0.1", own.port, [f"{prefix}/+/results"], client_id=f"sub-{prefix[-8:]}", persistent=True
    ).start()
    svc = _service(
        line,
        settings.model_copy(update={"mqtt_url": own.url}),
        "synth://pv?seed=6&units=30&rate=12",
        units=30,
    )
    svc.start()
    try:
        assert wait_until(lambda: len(listener.results) >= 3)
        own.stop()  # the broker goes away mid-run; results keep being recorded
        down_at = len(listener.results)
        time.sleep(1.0)
        own.start()
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        recorded = {r.id for r in svc.outbox.rows()}
        assert wait_until(lambda: set(listener.results) == recorded, timeout=30), (
            len(listener.results),
            len(recorded),
            svc.status()["outputs"]["mqtt"],
        )
        assert wait_until(lambda: svc.status()["outputs"]["mqtt"]["queued"] == 0)  # every row acknowledged
        mqtt_status = svc.status()["outputs"]["mqtt"]
    finally:
        svc.stop()
        listener.stop()
        own.stop()
    assert len(recorded) == 30 and down_at < 30
    assert mqtt_status["reconnects"] >= 1 and mqtt_status["queued"] == 0


def test_a_line_without_a_broker_setting_keeps_running(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    svc = _service(_line(lines["pv-01"], "lctest/off"), settings, "synth://pv?seed=6&units=2&rate=0", units=2)
    svc.start()
    try:
        assert svc.wait_sources(30) and svc.drain(30)
        status = svc.status()["outputs"]["mqtt"]
    finally:
        svc.stop()
    assert status["enabled"] is False and status["published"] == 0
    assert threading.active_count() < 50


def test_results_reach_a_tls_broker_signed_by_the_plant_ca(
    lines: dict[str, LineConfig], settings: InspectorSettings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """`LINECHECK_INSPECTOR_MQTT_URL=mqtts://...` with `..._MQTT_CA_FILE`: every result, and the Sparkplug
    births, over TLS."""
    from lc_certs import plant_ca

    _need_mosquitto()
    ca, cert, key = plant_ca(tmp_path)
    own = Mosquitto(tmp_path / "broker", tls=(cert, key)).start()
    request.addfinalizer(own.stop)  # whatever fails before the test's own `finally`
    prefix = f"lctest/{uuid.uuid4().hex[:8]}"
    group = f"lctls{uuid.uuid4().hex[:6]}"
    topics = [f"{prefix}/+/results", f"spBv1.0/{group}/#"]
    listener = MqttListener("127.0.0.1", own.port, topics, ca_file=ca).start()
    tls = settings.model_copy(
        update={
            "mqtt_url": own.url,
            "mqtt_ca_file": ca,
            "mqtt_sparkplug_group": group,
            "mqtt_client_id": group,
        }
    )
    svc = _service(_line(lines["pv-01"], prefix), tls, "synth://pv?seed=6&units=4&rate=0", units=4)
    svc.start()
    try:
        assert own.url.startswith("mqtts://")
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        recorded = {r.id for r in svc.outbox.rows()}
        assert wait_until(lambda: set(listener.results) == recorded, timeout=20), svc.status()["outputs"][
            "mqtt"
        ]
        assert wait_until(
            lambda: svc.status()["outputs"]["mqtt"]["queued"] == 0
        )  # every PUBACK came over TLS
        births = f"spBv1.0/{group}/NBIRTH/{group}"  # the Sparkplug node connects over TLS as well
        assert wait_until(lambda: any(topic == births for topic, _p, _t in listener.messages), timeout=20)
    finally:
        svc.stop()
        listener.stop()
        own.stop()
    assert len(recorded) == 4
