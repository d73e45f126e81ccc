"""The inspector's OPC UA server (OPC 40100-1 subset) with a real asyncua client on loopback."""

from __future__ import annotations

import pytest
from insp_helpers import TableDetector, truth_table, wait_until

from linecheck.config import LineConfig
from linecheck.inspect.outputs.opcua_client import OpcUaWatcher
from linecheck.inspect.outputs.peers import free_port
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind

USERS = {"plc": "s3cret"}


def _line(line: LineConfig, **opcua: object) -> LineConfig:
    outputs = {"reject_deadline_ms": 5000, "opcua": {"vision_system": "ELStation", **opcua}}
    return LineConfig.model_validate({**line.model_dump(mode="json"), "outputs": outputs})


def _service(
    line: LineConfig, settings: InspectorSettings, endpoint: str, uri: str, units: int
) -> InspectorService:
    table = truth_table(line, seed=8, units=units)
    return InspectorService(
        [line],
        detectors={"pv": lambda: TableDetector(Kind.PV, table)},
        settings=settings.model_copy(update={"opcua_endpoint": endpoint, "opcua_users": USERS}),
        client=None,
        sources=[SourceSpec(line_id=line.id, station="el", uri=uri)],
    )


@pytest.fixture()
def endpoint() -> str:
    return f"opc.tcp://127.0.0.1:{free_port('127.0.0.1')}/linecheck"


def test_results_events_states_and_recipe_over_a_run(
    lines: dict[str, LineConfig], settings: InspectorSettings, endpoint: str
) -> None:
    line = _line(lines["pv-01"])
    svc = _service(line, settings, endpoint, "synth://pv?seed=8&units=6&rate=3", units=6)
    svc.start()
    watcher = OpcUaWatcher(endpoint, [line.id], username="plc", password="s3cret").start()
    try:
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        rows = svc.outbox.rows()
        recorded = {r.id: r.payload for r in rows}
        # every unit decided after the client subscribed arrives, in order (the first may precede it)
        assert wait_until(lambda: [e["ResultId"] for e in watcher.events(line.id)][-1:] == [rows[-1].id])
        assert watcher.read(f"{line.id}.VisionStateMachine.CurrentState").Text == "ContinuousExecution"
        last_id = watcher.read(f"{line.id}.ResultManagement.Results.LastResult.ResultId")
        recipe = watcher.read(f"{line.id}.RecipeManagement.InternalRecipeId")
        system = set(watcher.browse(line.id))
        automatic = set(watcher.browse(f"{line.id}.VisionStateMachine.VisionAutomaticModeStateMachine"))
        count = watcher.read(f"{line.id}.ResultManagement.ResultCount")
    finally:
        watcher.stop()
        svc.stop()
    events = watcher.events(line.id)
    ids = [e["ResultId"] for e in events]
    assert len(ids) >= 4 and ids == [r.id for r in rows][-len(ids) :] and count == 6
    for event in events:
        verdict = recorded[event["ResultId"]]["verdict"]
        assert event["Verdict"] == verdict and event["Reject"] is (verdict != "pass")
        assert event["ResultEvaluation"] == {"pass": 1, "fail": 2, "not_inspected": 3}[verdict]
        assert event["MeasId"] == recorded[event["ResultId"]]["trigger_id"]
        assert event["MeasId"].startswith("el:") and event["DefectCount"] == len(
            [c for c in event["DefectClasses"].split(",") if c]
        )
    assert last_id == events[-1]["ResultId"]
    mv = "http://opcfoundation.org/UA/MachineVision"
    assert {f"{mv}:VisionStateMachine", f"{mv}:RecipeManagement", f"{mv}:ResultManagement"} <= system
    assert {f"{mv}:StartSingleJob", f"{mv}:StartContinuous", f"{mv}:Stop"} <= automatic
    assert recipe == "pv vtest" or recipe.startswith("pv v")


def test_anonymous_and_bad_passwords_are_refused(
    lines: dict[str, LineConfig], settings: InspectorSettings, endpoint: str
) -> None:
    svc = _service(_line(lines["pv-01"]), settings, endpoint, "synth://pv?seed=8&units=1&rate=0", units=1)
    svc.start()
    try:
        for username, password in [(None, None), ("plc", "wrong"), ("intruder", "s3cret")]:
            with pytest.raises(ConnectionError):
                OpcUaWatcher(endpoint, ["pv-01"], username=username, password=password).start(timeout_s=2)
        OpcUaWatcher(endpoint, ["pv-01"], username="plc", password="s3cret").start().stop()
    finally:
        svc.stop()


def test_plc_jobs_drive_the_state_machine_and_carry_their_ids(
    lines: dict[str, LineConfig], settings: InspectorSettings, endpoint: str
) -> None:
    from asyncua.ua import UaStatusCodeError

    line = _line(lines["pv-01"], start_continuous=False)
    svc = _service(line, settings, endpoint, "synth://pv?seed=8&units=3&rate=1", units=3)
    svc.start()
    watcher = OpcUaWatcher(endpoint, [line.id], username="plc", password="s3cret").start()
    state = f"{line.id}.VisionStateMachine.CurrentState"
    try:
        assert wait_until(lambda: watcher.read(state).Text == "Ready")
        job = watcher.call(line.id, "StartSingleJob", "M-1001", "", 4711)
        assert watcher.read(state).Text == "SingleExecution"
        assert wait_until(lambda: any(e["JobId"] == job for e in watcher.events(line.id)))
        assert wait_until(lambda: watcher.read(state).Text == "Ready")
        # the PLC calls again (its first call timed out on its side): the same job, nothing new starts
        assert watcher.call(line.id, "StartSingleJob", "M-1001", "", 4711) == job
        assert watcher.read(state).Text == "Ready"
        with pytest.raises(UaStatusCodeError):  # a code that is not this line's pattern
            watcher.call(line.id, "StartSingleJob", "M-1002", "not-a-pv-code", -1)
        with pytest.raises(UaStatusCodeError):  # a MeasId the API's record could not hold
            watcher.call(line.id, "StartSingleJob", "M" * 129, "", -1)
        watcher.call(line.id, "StartContinuous")
        assert watcher.read(state).Text == "ContinuousExecution"
        with pytest.raises(UaStatusCodeError):  # jobs only from Ready
            watcher.call(line.id, "StartSingleJob", "M-1003", "", -1)
        watcher.call(line.id, "Stop")
        assert watcher.read(state).Text == "Ready"
        assert svc.wait_sources(60) and svc.drain(60)
        assert svc.outbox is not None
        recorded = {r.id: r.payload for r in svc.outbox.rows()}
    finally:
        watcher.stop()
        svc.stop()
    [event] = [e for e in watcher.events(line.id) if e["JobId"] == job]
    assert (event["MeasId"], event["EncoderCount"], event["ResultId"]) == ("M-1001", 4711, job)
    # the record the API gets names the unit as the PLC does
    assert (recorded[job]["trigger_id"], recorded[job]["encoder_count"]) == ("M-1001", 4711)
    assert all(p["trigger_id"].startswith("el:") for i, p in recorded.items() if i != job)
    seen = watcher.states(line.id)  # from whatever the client found first (Preoperational if it was early)
    assert seen[seen.index("Ready") :] == [
        "Ready",
        "SingleExecution",
        "Ready",
        "ContinuousExecution",
        "Ready",
    ]


def test_the_client_reconnects_after_the_server_restarts(
    lines: dict[str, LineConfig], settings: InspectorSettings, endpoint: str
) -> None:
    line = _line(lines["pv-01"])
    first = _service(line, settings, endpoint, "synth://pv?seed=8&units=4&rate=1", units=4)
    first.start()
    watcher = OpcUaWatcher(endpoint, [line.id], username="plc", password="s3cret").start()
    try:
        assert first.wait_sources(30) and first.drain(30)
        assert wait_until(lambda: len(watcher.events(line.id)) >= 1)
        before = len(watcher.events(line.id))
        first.stop()
        second = _service(line, settings, endpoint, "synth://pv?seed=8&units=4&rate=1", units=4)
        second.start()
        try:
            # >= 2: on a loaded host a state read slower than the watcher's 1 s makes it reconnect once more
            assert wait_until(lambda: watcher.received.connects >= 2, timeout=30)
            assert second.wait_sources(30) and second.drain(30)
            assert wait_until(lambda: len(watcher.events(line.id)) >= before + 1, timeout=30)
        finally:
            second.stop()
    finally:
        watcher.stop()
    assert watcher.received.connects >= 2
