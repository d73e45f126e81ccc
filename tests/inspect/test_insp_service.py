"""The whole inspector pipeline with a ground-truth test detector and the real API."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from insp_helpers import LiveApi, TableDetector, truth_table

from linecheck.config import LineConfig
from linecheck.errors import ConfigError
from linecheck.inspect.api_client import ApiClient
from linecheck.inspect.messages import InferredFrame, InspectionResult
from linecheck.inspect.outbox import Outbox
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.kinds import Kind
from linecheck.kinds.pv import PVOptions


def _service(
    lines: dict[str, LineConfig],
    settings: InspectorSettings,
    specs: list[SourceSpec],
    detectors: dict,
    api: LiveApi | None,
    **kw: object,
) -> InspectorService:
    client = ApiClient(api.url, api.line_key) if api else None
    return InspectorService(
        [lines[s.line_id] for s in specs],
        detectors=detectors,
        settings=settings,
        client=client,
        sources=specs,
        **kw,  # type: ignore[arg-type]
    )


def test_every_frame_is_recorded_with_code_verdict_and_location(
    lines: dict[str, LineConfig], settings: InspectorSettings, live_api: LiveApi
) -> None:
    specs = [
        SourceSpec(line_id="textile-01", station="cam1", uri="synth://textile?seed=5&units=1&rate=0"),
        SourceSpec(
            line_id="bearing-01", station="face", uri="synth://bearing?seed=5&units=6&rate=0&unreadable=3"
        ),
        SourceSpec(line_id="pv-01", station="el", uri="synth://pv?seed=5&units=6&rate=0"),
    ]
    tables = {
        k: truth_table(lines[f"{k.value}-01"], seed=5, units=6, smeared=k is Kind.BEARING) for k in Kind
    }
    detectors = {k.value: (lambda k=k: TableDetector(k, tables[k])) for k in Kind}
    seen: list[tuple[InspectionResult, InferredFrame]] = []
    svc = _service(lines, settings, specs, detectors, live_api, observers=[lambda r, i: seen.append((r, i))])
    svc.start()
    assert svc.wait_sources(60)
    assert svc.drain(60)
    assert svc.wait_delivered(30)
    status = svc.status()
    svc.stop()

    n_frames = 20 + 6 + 6  # one 10 m roll of 0.5 m frames, six rings, six modules
    assert status["frames_in"] == n_frames and len(seen) == n_frames
    assert status["outbox"] == {"pending": 0, "sent": n_frames, "rejected": 0}
    stored = {i["id"]: i for i in live_api.inspections()}
    assert len(stored) == n_frames
    grid = PVOptions(rows=6, cols=10).grid(640, 640)
    for result, inferred in seen:
        meta = inferred.coded.frame.meta
        api_row = stored[result.id]
        truth = meta["unit_code"]
        if meta["code_smeared"]:
            assert (result.code, api_row["code_status"]) == (None, "code_unread")
            assert api_row["image_ref"] is not None  # kept for manual handling
        else:
            assert result.code == api_row["code"] == truth
        defective = len(meta["gt_xyxy"]) > 0
        assert result.verdict.value == ("fail" if defective else "pass")
        assert len(result.defects) == len(meta["gt_xyxy"])
        if result.line_id == "pv-01":
            for defect, box in zip(result.defects, meta["gt_xyxy"], strict=True):
                cell = grid.cell_at((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
                assert cell is None or (defect.location["row"], defect.location["col"]) == cell
        if result.line_id == "textile-01":
            assert result.code_status.value == "trigger"
            assert result.roll_offset_m == pytest.approx(meta["roll_offset_m"])
            for defect in result.defects:
                assert meta["roll_offset_m"] <= defect.location["along_m"] <= meta["roll_offset_m"] + 0.5
    textile = status["lines"]["textile-01"]
    assert textile["units"] == 1 and textile["current_roll"] is None  # the roll was closed at the end
    assert textile["rolls"][0]["frames"] == 20
    assert status["lines"]["bearing-01"]["codes"] == {"read": 4, "code_unread": 2}


def test_api_outage_mid_run_loses_nothing_and_duplicates_nothing(
    lines: dict[str, LineConfig], settings: InspectorSettings, live_api: LiveApi
) -> None:
    n = 60
    specs = [
        SourceSpec(line_id="bearing-01", station="face", uri=f"synth://bearing?seed=6&units={n}&rate=25")
    ]
    detectors = {"bearing": lambda: TableDetector(Kind.BEARING)}
    svc = _service(lines, settings.model_copy(update={"send_batch": 7}), specs, detectors, live_api)
    svc.start()
    time.sleep(0.6)
    live_api.stop()
    time.sleep(1.0)
    assert svc.sender is not None and not svc.sender.online  # noticed the outage
    live_api.start()
    assert svc.wait_sources(30)
    assert svc.drain(30)
    assert svc.wait_delivered(30)
    assert svc.metrics.by_key("send_failures").get("connection", 0) >= 1
    svc.stop()
    stored = live_api.inspections(line_id="bearing-01")
    assert len(stored) == n
    assert len({s["id"] for s in stored}) == n
    assert sorted(s["code"] for s in stored) == [f"BR{i:010d}" for i in range(1, n + 1)]


def test_inspector_restart_resends_what_was_pending(
    lines: dict[str, LineConfig], settings: InspectorSettings, live_api: LiveApi
) -> None:
    specs = [SourceSpec(line_id="pv-01", station="el", uri="synth://pv?seed=7&units=5&rate=0")]
    detectors = {"pv": lambda: TableDetector(Kind.PV)}
    offline = InspectorService(
        [lines["pv-01"]],
        detectors=detectors,
        settings=settings,
        client=ApiClient("http://127.0.0.1:9", "k"),
        sources=specs,
    )
    offline.start()
    assert offline.wait_sources(30) and offline.drain(30)
    offline.stop(deliver_timeout_s=0.5)
    assert Outbox(settings.outbox_path).counts()["pending"] == 5
    assert live_api.inspections() == []

    again = InspectorService(  # no sources: only the backlog
        [lines["pv-01"]],
        detectors=detectors,
        settings=settings,
        client=ApiClient(live_api.url, live_api.line_key),
        sources=[],
    )
    again.start()
    assert again.wait_delivered(30)
    again.stop()
    assert sorted(i["code"] for i in live_api.inspections()) == [f"PV{i:012d}" for i in range(1, 6)]


def test_inference_failure_is_not_inspected_never_pass(
    lines: dict[str, LineConfig], settings: InspectorSettings, live_api: LiveApi
) -> None:
    broken = threading.Event()
    broken.set()
    specs = [SourceSpec(line_id="bearing-01", station="face", uri="synth://bearing?seed=8&units=4&rate=0")]
    table = truth_table(lines["bearing-01"], seed=8, units=4)
    svc = _service(
        lines,
        settings,
        specs,
        {"bearing": lambda: TableDetector(Kind.BEARING, table, broken=broken)},
        live_api,
    )
    svc.start()
    assert svc.wait_sources(30) and svc.drain(30) and svc.wait_delivered(30)
    svc.stop()
    stored = live_api.inspections()
    assert len(stored) == 4
    assert {s["verdict"] for s in stored} == {"not_inspected"}
    assert all(s["image_ref"] and "ServerUnavailableError" in s["reason"] for s in stored)
    assert sorted(s["code"] for s in stored) == [f"BR{i:010d}" for i in range(1, 5)]  # identity still read


def test_backpressure_turns_frames_not_inspected_and_counts_them(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    s = settings.model_copy(update={"queue_size": 2, "queue_wait_s": 0.05, "max_batch": 1})
    specs = [SourceSpec(line_id="bearing-01", station="face", uri="synth://bearing?seed=9&units=20&rate=0")]
    svc = _service(lines, s, specs, {"bearing": lambda: TableDetector(Kind.BEARING, delay_s=0.15)}, None)
    svc.start()
    assert svc.wait_sources(60) and svc.drain(60)
    status = svc.status()
    assert svc.outbox is not None
    rows = svc.outbox.rows()
    svc.stop()
    causes = status["lines"]["bearing-01"]["not_inspected_causes"]
    assert causes.get("queue_full", 0) >= 3
    assert len(rows) == 20 == status["frames_in"]  # nothing dropped
    late = [r for r in rows if r.payload["verdict"] == "not_inspected"]
    assert len(late) == causes["queue_full"]
    assert all("falling behind" in r.payload["reason"] for r in late)


def test_a_stop_before_the_frames_drained_counts_and_names_what_it_abandoned(
    lines: dict[str, LineConfig], settings: InspectorSettings, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings.model_copy(update={"max_batch": 1})
    specs = [SourceSpec(line_id="bearing-01", station="face", uri="synth://bearing?seed=9&units=6&rate=0")]
    svc = _service(lines, s, specs, {"bearing": lambda: TableDetector(Kind.BEARING, delay_s=1.0)}, None)
    svc.start()
    assert svc.wait_sources(30)
    with caplog.at_level("ERROR", logger="linecheck.inspect.service"):
        svc.stop(drain_timeout_s=0.2, deliver_timeout_s=0)
    status = svc.status()["lines"]["bearing-01"]
    abandoned = status["frames_abandoned"]
    assert abandoned > 0
    assert status["frames_in"] == sum(status["verdicts"].values()) + abandoned  # every frame accounted for
    assert f"stopped before {abandoned} frame(s) of line bearing-01" in caplog.text
    scraped = svc.metrics.frames_abandoned.labels("bearing-01")._value.get()
    assert scraped == abandoned


def test_configuration_errors_are_named(lines: dict[str, LineConfig], settings: InspectorSettings) -> None:
    with pytest.raises(ConfigError, match=r"no detector for model\(s\) \['pv'\]"):
        InspectorService([lines["pv-01"]], detectors={}, settings=settings, client=None)
    with pytest.raises(ConfigError, match="line_id='pv-02'"):
        InspectorService(
            [lines["pv-01"]],
            detectors={"pv": lambda: TableDetector(Kind.PV)},
            settings=settings,
            client=None,
            sources=[SourceSpec(line_id="pv-02", station="el", uri="synth://pv")],
        )


def test_settings_come_from_linecheck_inspector_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LINECHECK_INSPECTOR_MAX_BATCH", "16")
    monkeypatch.setenv("LINECHECK_INSPECTOR_DIR", str(tmp_path))
    s = InspectorSettings()
    assert s.max_batch == 16 and s.outbox_path == tmp_path / "outbox.sqlite"
    monkeypatch.setenv("LINECHECK_INSPECTOR_RETRY_MIN_S", "50")
    with pytest.raises(ValueError, match="LINECHECK_INSPECTOR_RETRY_MAX_S"):
        InspectorSettings()


def test_a_bug_in_the_kind_logic_is_not_inspected_not_lost(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    specs = [SourceSpec(line_id="pv-01", station="el", uri="synth://pv?seed=5&units=6&rate=0")]
    table = truth_table(lines["pv-01"], seed=5, units=6)
    svc = _service(lines, settings, specs, {"pv": lambda: TableDetector(Kind.PV, table)}, None)

    def broken_locate(box: object, coded: object) -> dict:
        raise IndexError("test: grid lookup bug")

    svc.logics["pv-01"].locate = broken_locate  # type: ignore[method-assign]
    svc.start()
    assert svc.wait_sources(30) and svc.drain(30)
    assert svc.outbox is not None
    rows = [r.payload for r in svc.outbox.rows()]
    status = svc.status()
    svc.stop()
    assert len(rows) == 6
    defective = [r for r in rows if r["verdict"] != "pass"]
    assert defective and all(
        r["verdict"] == "not_inspected" and "IndexError" in r["reason"] for r in defective
    )
    assert status["lines"]["pv-01"]["not_inspected_causes"] == {"error": len(defective)}


def test_metrics_port_in_use_is_a_named_config_error(
    lines: dict[str, LineConfig], settings: InspectorSettings
) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        svc = _service(
            lines,
            settings.model_copy(update={"metrics_port": port}),
            [SourceSpec(line_id="pv-01", station="el", uri="synth://pv?units=1")],
            {"pv": lambda: TableDetector(Kind.PV)},
            None,
        )
        with pytest.raises(ConfigError, match=f"metrics_port={port}"):
            svc.start()
    finally:
        taken.close()


def test_reject_signal_for_every_frame_to_file_and_http(
    lines: dict[str, LineConfig], settings: InspectorSettings, tmp_path: Path
) -> None:
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from linecheck.inspect.metrics import InspectorMetrics
    from linecheck.inspect.reject import HttpSignal, JsonLinesSignal, RejectSignals

    received: list[dict] = []

    class Gate(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    gate = ThreadingHTTPServer(("127.0.0.1", 0), Gate)
    threading.Thread(target=gate.serve_forever, daemon=True).start()
    try:
        specs = [
            SourceSpec(line_id="pv-01", station="el", uri="synth://pv?seed=5&units=6&rate=0&unreadable=4")
        ]
        table = truth_table(lines["pv-01"], seed=5, units=6, smeared=True)
        metrics = InspectorMetrics()
        signals = RejectSignals(
            [
                JsonLinesSignal(tmp_path / "rejects.jsonl"),
                HttpSignal(f"http://127.0.0.1:{gate.server_address[1]}/gate"),
            ],
            metrics,
        )
        seen: list[InspectionResult] = []
        svc = _service(
            lines,
            settings,
            specs,
            {"pv": lambda: TableDetector(Kind.PV, table)},
            None,
            metrics=metrics,
            observers=[signals, lambda r, i: seen.append(r)],
        )
        svc.start()
        assert svc.wait_sources(30) and svc.drain(30)
        svc.stop()
        signals.close()
    finally:
        gate.shutdown()
        gate.server_close()
    events = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert len(events) == len(received) == len(seen) == 6
    expected = {r.id: r.verdict.value != "pass" for r in seen}
    assert {e["inspection_id"]: e["reject"] for e in events} == expected
    assert {e["inspection_id"]: e["reject"] for e in received} == expected
    assert any(expected.values()) and not all(expected.values())
    assert [e["code"] for e in events if e["frame_seq"] == 3] == [
        None
    ]  # unit 4: code smeared, still signalled
    assert metrics.by_key("reject_signals", "pv-01") == {
        "true": sum(expected.values()),
        "false": 6 - sum(expected.values()),
    }
