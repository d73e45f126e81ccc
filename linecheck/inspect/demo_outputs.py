"""The demo's line outputs and the peers that receive them, as on a wired line.

Each simulated line gets an ``outputs:`` section (reject deadline, OPC UA, MQTT, Modbus), each
inspector its own OPC UA server (one per line PC; anonymous allowed in the demo only), and the demo
plays the plant: an OPC UA client subscribed to every VisionSystem (as the PLC / HMI), an MQTT
subscriber on the result, status and Sparkplug topics (as the MES), and a Modbus TCP server whose
coils are the reject gates (as the PLC's I/O). The summary says what each of them received.

The broker is the one at ``LINECHECK_INSPECTOR_MQTT_URL`` (default ``mqtt://127.0.0.1:1883``) when it
answers, else an own ``mosquitto`` on a free port when that is installed; without either the demo
runs without MQTT and says so.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from linecheck.config import LineConfig
from linecheck.inspect.outputs.opcua_client import OpcUaWatcher
from linecheck.inspect.outputs.peers import ModbusGate, Mosquitto, MqttListener, broker_reachable, free_port
from linecheck.inspect.settings import InspectorSettings

log = logging.getLogger(__name__)

#: The demo's reject deadline when the line YAML sets none: inference runs on 2 CPU cores here, so it is
#: as generous as the inspector's own inference deadline (LINECHECK_INSPECTOR_DEADLINE_S, 15 s).
DEMO_DEADLINE_MS = 15000.0
DEMO_SPARKPLUG_GROUP = "linecheck-demo"
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


class DemoOutputs:
    """Peers for the demo's line outputs (start before the inspectors, stop after them)."""

    def __init__(self, lines: Sequence[LineConfig], workdir: Path, base: InspectorSettings) -> None:
        self.lines = list(lines)
        self.workdir = workdir
        self.base = base
        self.broker_url: str | None = None
        self.broker_note = ""
        self._own_broker: Mosquitto | None = None
        self.gate: ModbusGate | None = None
        self.listener: MqttListener | None = None
        self.endpoints: dict[str, str] = {}
        self.watchers: dict[str, OpcUaWatcher] = {}
        self.coils = {line.id: i for i, line in enumerate(self.lines)}

    # -- set-up -------------------------------------------------------------------------------
    def start(self) -> None:
        """Broker (found or started), the Modbus gate, OPC UA endpoints, the MQTT subscriber."""
        for noisy in ("asyncua", "pymodbus"):  # their INFO/WARNING chatter about sessions is not the demo's
            logging.getLogger(noisy).setLevel(logging.ERROR)
        wanted = self.base.mqtt_url or DEFAULT_BROKER
        if broker_reachable(wanted):
            self.broker_url, self.broker_note = wanted, wanted
        elif Mosquitto.available() is not None:
            self._own_broker = Mosquitto(self.workdir / "mosquitto").start()
            self.broker_url = self._own_broker.url
            self.broker_note = f"own mosquitto at {self.broker_url} (none answered at {wanted})"
        else:
            self.broker_note = f"no broker at {wanted} and mosquitto is not installed: MQTT off"
        self.gate = ModbusGate().start()
        self.endpoints = {
            line.id: f"opc.tcp://127.0.0.1:{free_port('127.0.0.1')}/linecheck" for line in self.lines
        }
        if self.broker_url is not None:
            host, port = self.broker_url.removeprefix("mqtt://").split(":")
            self.listener = MqttListener(
                host,
                int(port),
                ["linecheck/demo/+/results", "linecheck/demo/+/status", f"spBv1.0/{DEMO_SPARKPLUG_GROUP}/#"],
            ).start()

    def line(self, line: LineConfig) -> LineConfig:
        """``line`` with the demo's outputs section."""
        assert self.gate is not None
        outputs: dict[str, Any] = {
            "reject_deadline_ms": line.outputs.reject_deadline_ms or DEMO_DEADLINE_MS,
            "opcua": {"vision_system": line.id.replace("-", "")},
            "modbus": {
                "host": "127.0.0.1",
                "port": self.gate.port,
                "coil": self.coils[line.id],
                "pulse_ms": 50,
            },
        }
        if self.broker_url is not None:
            outputs["mqtt"] = {
                "results_topic": "linecheck/demo/{line_id}/results",
                "status_topic": "linecheck/demo/{line_id}/status",
                "status_interval_s": 2.0,
            }
        return LineConfig.model_validate({**line.model_dump(mode="json"), "outputs": outputs})

    def settings(self, line: LineConfig) -> dict[str, Any]:
        """Settings overrides of ``line``'s inspector."""
        return {
            "opcua_endpoint": self.endpoints[line.id],
            "opcua_allow_anonymous": True,
            "mqtt_url": self.broker_url or "",
            "mqtt_client_id": f"demo-{line.id}",
            "mqtt_sparkplug_group": DEMO_SPARKPLUG_GROUP if self.broker_url else "",
        }

    def watch(self) -> None:
        """Connect an OPC UA client to every inspector's server (after the inspectors started)."""
        for line_id, endpoint in self.endpoints.items():
            try:
                self.watchers[line_id] = OpcUaWatcher(endpoint, [line_id]).start()
            except ConnectionError as exc:
                log.warning("demo: OPC UA client for %s: %s", line_id, exc)

    def stop_clients(self) -> None:
        """Disconnect the OPC UA clients (before the inspectors stop their servers)."""
        for watcher in self.watchers.values():
            watcher.stop()

    def stop(self) -> None:
        """Stop the clients, the subscriber, the gate and an own broker."""
        self.stop_clients()
        if self.listener is not None:
            self.listener.stop()
        if self.gate is not None:
            self.gate.stop()
        if self._own_broker is not None:
            self._own_broker.stop()

    # -- what arrived -------------------------------------------------------------------------
    def summary(self, statuses: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Per line: what the OPC UA client, the MQTT subscriber and the Modbus gate received."""
        spb = Counter(
            topic.split("/")[2] for topic, _p in (self.listener.sparkplug() if self.listener else [])
        )
        out: dict[str, Any] = {"broker": self.broker_note, "sparkplug": dict(spb), "lines": {}}
        for line in self.lines:
            watcher = self.watchers.get(line.id)
            events = watcher.events(line.id) if watcher else []
            results = (
                [m for m in self.listener.results.values() if m.get("line_id") == line.id]
                if self.listener
                else []
            )
            status = statuses.get(line.id, {})
            outputs = status.get("outputs", {})
            out["lines"][line.id] = {
                "opcua": {
                    "endpoint": self.endpoints[line.id],
                    "events": len(events),
                    "rejects": sum(bool(e.get("Reject")) for e in events),
                    "states": watcher.states(line.id) if watcher else [],
                    "last": None
                    if not events
                    else {
                        k: events[-1].get(k) for k in ("ResultId", "MeasId", "PartId", "Verdict", "Reject")
                    },
                },
                "mqtt": {
                    "results": len(results),
                    "rejects": sum(bool(m.get("reject")) for m in results),
                    "duplicates": self.listener.duplicates if self.listener else 0,
                    "published": (outputs.get("mqtt") or {}).get("published", 0),
                },
                "modbus": {
                    "coil": self.coils[line.id],
                    "pulses": self.gate.pulses(self.coils[line.id]) if self.gate else 0,
                },
                "fail_safe_rejects": status.get("fail_safe_rejects", 0),
            }
        return out
