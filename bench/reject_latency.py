"""Trigger-to-output latency of the line outputs at a paced line rate (fail-safe reject timing).

One inspector runs the PV line from the simulated EL camera at ``--rate`` units/s (free-running:
each frame is a triggered unit, its trigger time the capture time) with every output on, each with
a real peer in this process or on loopback:

* ``decision`` — the reject gate's decision (judged, or the deadline's fail-safe reject);
* ``opcua`` — the ``ResultReady`` event reaching an asyncua client subscribed to the VisionSystem;
* ``mqtt`` — the per-unit result reaching a subscriber through Mosquitto (published from the outbox
  after its SQLite commit, QoS 1);
* ``modbus`` — the reject coil write reaching pymodbus's server (rejected units only);
* ``http`` — the reject-signal POST reaching an HTTP receiver.

Each figure is p50 / p99 / max of (arrival at the peer) - (trigger) in ms. The detector is the PV
starter model in-process on ONNX Runtime (``--detector onnx``, CPU) or a stand-in that answers after
``--infer-ms`` (``--detector fixed``: what the outputs add on top of a GPU-class inference time).
``late_passed`` counts units decided after ``reject_deadline_ms`` that were not rejected: it must be 0.
The industry budget is 8-15 ms trigger to PLC; that is the target for a GPU host (TensorRT FP16
YOLOv8n: a few ms of inference), not for 2 CPU cores.

    .venv/bin/python bench/reject_latency.py --units 60 --rate 5
    .venv/bin/python bench/reject_latency.py --detector fixed --infer-ms 8 --units 100 --rate 10
    .venv/bin/python bench/reject_latency.py --units 8 --rate 4          # smoke run

Last line: one JSON object (rate_hz, units, detector, deadline_ms, outputs: {name: {count, p50_ms,
p99_ms, max_ms}}, late_passed, fail_safe_rejects, gpu_target_ms).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(__file__).resolve().parent.parent / "var" / "ultralytics"))

import machine
import numpy as np
from timing import LatencySummary, print_result

from linecheck.config import LineConfig, load_lines
from linecheck.inspect.detectors import onnx_factories
from linecheck.inspect.gate import UnitOutcome
from linecheck.inspect.metrics import InspectorMetrics
from linecheck.inspect.outputs.opcua_client import OpcUaWatcher
from linecheck.inspect.outputs.peers import ModbusGate, Mosquitto, MqttListener, broker_reachable, free_port
from linecheck.inspect.reject import HttpSignal, SignalOutput
from linecheck.inspect.service import InspectorService, SourceSpec
from linecheck.inspect.settings import InspectorSettings
from linecheck.messages import Detections

GPU_TARGET_MS = "8-15"


class Decisions:
    """Every gate decision in order (the bench's own sink)."""

    def __init__(self) -> None:
        self.items: list[UnitOutcome] = []
        self.lock = threading.Lock()

    def decide(self, outcome: UnitOutcome) -> None:
        with self.lock:
            self.items.append(outcome)


class FixedDetector:
    """Answers no defects after ``infer_ms`` (a GPU-class inference time), every 4th frame a defect."""

    def __init__(self, classes: list[str], infer_ms: float) -> None:
        self._classes = tuple(classes)
        self.infer_ms = infer_ms
        self.calls = 0

    class_names = property(lambda self: self._classes)
    model_name = property(lambda self: "pv")
    model_version = property(lambda self: "fixed")

    def detect(self, images: list[Any]) -> list[Detections]:
        time.sleep(self.infer_ms / 1000.0)
        out = []
        for image in images:
            self.calls += 1
            if self.calls % 4 == 0:
                h, w = image.shape[:2]
                out.append(
                    Detections(
                        xyxy=np.array([[w * 0.3, h * 0.3, w * 0.4, h * 0.4]], np.float32),
                        confidence=np.array([0.9], np.float32),
                        class_id=np.array([0], np.int64),
                        class_names=self._classes,
                    )
                )
            else:
                out.append(Detections.empty(self._classes))
        return out

    def close(self) -> None:
        pass


def _http_receiver() -> tuple[ThreadingHTTPServer, dict[str, float]]:
    arrived: dict[str, float] = {}

    class Gate(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            arrived.setdefault(body["inspection_id"], time.monotonic())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gate)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrived


def _summary(latencies_s: list[float]) -> dict[str, Any]:
    s = LatencySummary.of_seconds(latencies_s)
    return {"count": s.count, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms, "max_ms": s.max_ms}


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="lc-reject-latency-"))
    own_broker: Mosquitto | None = None
    broker = args.broker
    if not broker_reachable(broker):
        own_broker = Mosquitto(work / "broker").start()
        broker = own_broker.url
    host, port = broker.removeprefix("mqtt://").split(":")
    gate = ModbusGate().start()
    http, http_arrived = _http_receiver()
    endpoint = f"opc.tcp://127.0.0.1:{free_port('127.0.0.1')}/linecheck"
    base = load_lines()["pv-01"]
    line = LineConfig.model_validate(
        {
            **base.model_dump(mode="json"),
            "outputs": {
                "reject_deadline_ms": args.deadline_ms,
                "opcua": {"vision_system": "PVLine"},
                "mqtt": {
                    "results_topic": "bench/{line_id}/results",
                    "status_topic": "bench/{line_id}/status",
                },
                "modbus": {"host": "127.0.0.1", "port": gate.port, "coil": 1, "pulse_ms": args.pulse_ms},
            },
        }
    )
    settings = InspectorSettings(
        inspector_dir=work / "inspector",
        max_batch=1,
        max_delay_ms=0,
        opcua_endpoint=endpoint,
        opcua_allow_anonymous=True,
        mqtt_url=broker,
        mqtt_client_id="bench-inspector",
    )
    if args.detector == "onnx":
        detectors = onnx_factories([line], threads=args.threads)
    else:
        detectors = {"pv": lambda: FixedDetector(list(line.classes), args.infer_ms)}
    decisions = Decisions()
    metrics = InspectorMetrics()
    signal = SignalOutput([HttpSignal(f"http://127.0.0.1:{http.server_address[1]}/gate")], metrics)
    listener = MqttListener(host, int(port), ["bench/+/results"]).start()
    units = args.units + args.warmup
    service = InspectorService(
        [line],
        detectors=detectors,
        settings=settings,
        client=None,
        metrics=metrics,
        sources=[
            SourceSpec(
                line_id=line.id, station="el", uri=f"synth://pv?seed=3&units={units}&rate={args.rate:g}"
            )
        ],
        sinks=[decisions, signal],
    )
    service.start()
    watcher = OpcUaWatcher(endpoint, [line.id]).start()
    try:
        service.wait_sources(units / args.rate * 3 + 120)
        service.drain(120)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(listener.results) < units:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        watcher.stop()
        service.stop()
        signal.close()
        listener.stop()
        gate.stop()
        http.shutdown()
        if own_broker is not None:
            own_broker.stop()
    measured = decisions.items[args.warmup :]  # the first units pay for warm-up (model load, JIT)
    triggered = {o.inspection_id: o.triggered_at for o in measured}
    opcua = {e["ResultId"]: e["_at"] for e in watcher.events(line.id)}
    rejects = [o for o in decisions.items if o.reject]
    pulses = [w.at for w in gate.writes if w.value]
    modbus = {o.inspection_id: at for o, at in zip(rejects, pulses, strict=False)}
    per_output = {
        "decision": [o.decided_at - o.triggered_at for o in measured],
        "opcua": [opcua[i] - t for i, t in triggered.items() if i in opcua],
        "mqtt": [listener.arrived[i] - t for i, t in triggered.items() if i in listener.arrived],
        "modbus": [modbus[i] - t for i, t in triggered.items() if i in modbus],
        "http": [http_arrived[i] - t for i, t in triggered.items() if i in http_arrived],
    }
    late_passed = sum(1 for o in decisions.items if o.latency_ms > args.deadline_ms and not o.reject)
    verdicts: dict[str, int] = {}
    for o in measured:
        verdicts[o.verdict.value] = verdicts.get(o.verdict.value, 0) + 1
    return {
        "rate_hz": args.rate,
        "units": len(measured),
        "warmup_units": args.warmup,
        "detector": args.detector if args.detector == "onnx" else f"fixed {args.infer_ms:g} ms",
        "deadline_ms": args.deadline_ms,
        "verdicts": verdicts,
        "rejects": sum(o.reject for o in measured),
        "outputs": {name: _summary(values) for name, values in per_output.items()},
        "late_passed": late_passed,
        "fail_safe_rejects": sum(o.fail_safe for o in decisions.items),
        "mqtt_duplicates": listener.duplicates,
        "broker": "own mosquitto" if own_broker is not None else broker,
        "gpu_target_ms": GPU_TARGET_MS,
        "cpu": machine.cpu_model(),
        "cores": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=60, help="units measured (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=4, help="units run first and not measured")
    parser.add_argument("--rate", type=float, default=5.0, help="units per second (paced camera)")
    parser.add_argument("--deadline-ms", type=float, default=500.0, help="the line's reject_deadline_ms")
    parser.add_argument("--detector", choices=("onnx", "fixed"), default="onnx")
    parser.add_argument("--infer-ms", type=float, default=8.0, help="--detector fixed: inference time")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (--detector onnx)")
    parser.add_argument("--pulse-ms", type=float, default=50.0, help="reject coil pulse")
    parser.add_argument(
        "--broker", default="mqtt://127.0.0.1:1883", help="MQTT broker (own mosquitto if down)"
    )
    args = parser.parse_args()
    figures = run(args)
    for name, summary in figures["outputs"].items():
        print(
            f"{name:9s} p50 {summary['p50_ms']:.1f} ms  p99 {summary['p99_ms']:.1f} ms  "
            f"max {summary['max_ms']:.1f} ms  (n={summary['count']})",
            file=sys.stderr,
        )
    print_result(figures)


if __name__ == "__main__":
    main()
