"""The other end of the line outputs, for the demo, the latency bench and the tests.

* :class:`ModbusGate` — a reject gate as a Modbus TCP server (pymodbus's own server) that records
  every coil write with its arrival time;
* :class:`MqttListener` — an MQTT subscriber (paho) that keeps what arrives on some topics,
  de-duplicating per-unit results by inspection id and decoding Sparkplug B payloads;
* :class:`OpcUaWatcher` — an OPC UA client (asyncua) that subscribes to ``ResultReady`` events of
  the inspector's server and remembers them (lives in :mod:`linecheck.inspect.outputs.opcua_client`).

They are real peers on loopback, not mocks: what they receive is what a PLC or a plant system would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class CoilWrite:
    """One coil write the gate received."""

    at: float  # time.monotonic()
    unit_id: int
    address: int
    value: bool


class ModbusGate:
    """A Modbus TCP server with coils 0..``coils-1`` that records every coil write (on its own thread)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, coils: int = 64, unit_id: int = 1) -> None:
        self.host = host
        self.port = port
        self.coils = coils
        self.unit_id = unit_id
        self.writes: list[CoilWrite] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> ModbusGate:
        """Listen; returns once the server accepts connections."""
        if self.port == 0:
            self.port = free_port(self.host)
        self._thread = threading.Thread(target=self._main, name="modbus-gate", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0) or self._error is not None:
            raise RuntimeError(f"modbus gate on {self.host}:{self.port} did not start: {self._error}")
        return self

    def _main(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        gate = self

        def trace(sending: bool, pdu: Any) -> Any:
            """Record each coil write request as it arrives."""
            if not sending and pdu.function_code in (5, 15):
                now = time.monotonic()
                with gate._lock:
                    gate.writes.extend(
                        CoilWrite(at=now, unit_id=pdu.dev_id, address=pdu.address + i, value=bool(v))
                        for i, v in enumerate(pdu.bits[: max(1, pdu.count)])
                    )
            return pdu

        def block(kind: Any, value: Any) -> list[Any]:
            return [SimData(address=0, count=self.coils, values=value, datatype=kind)]

        device = SimDevice(
            id=self.unit_id,
            simdata=(
                block(DataType.BITS, False),
                block(DataType.BITS, False),
                block(DataType.REGISTERS, 0),
                block(DataType.REGISTERS, 0),
            ),
        )
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(
                self._serve(lambda: ModbusTcpServer(device, address=(self.host, self.port), trace_pdu=trace))
            )
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self, make: Any) -> None:
        self._server = make()  # pymodbus builds its server inside a running loop
        task = asyncio.create_task(self._server.serve_forever())
        for _ in range(200):
            if self._server.is_active():
                break
            await asyncio.sleep(0.01)
        self._ready.set()
        await task

    def pulses(self, address: int) -> int:
        """How many times the coil at ``address`` was switched on."""
        with self._lock:
            return sum(1 for w in self.writes if w.address == address and w.value)

    def state(self, address: int) -> bool:
        """The coil's last written value."""
        with self._lock:
            values = [w.value for w in self.writes if w.address == address]
        return values[-1] if values else False

    def stop(self) -> None:
        """Stop serving."""
        if self._loop is not None and self._server is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10.0)
        if self._thread is not None:
            self._thread.join(10.0)

    def __enter__(self) -> ModbusGate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MqttListener:
    """Subscribes to ``topics`` on a broker and keeps every message (paho, its own network thread).

    ``results`` holds the per-unit result messages by inspection id (duplicates counted in
    ``duplicates``); ``messages`` every message as ``(topic, payload bytes, monotonic time)``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        topics: list[str],
        *,
        client_id: str = "",
        persistent: bool = False,
        ca_file: Any = None,
    ) -> None:
        """``ca_file``: connect over TLS, the broker's certificate checked against this CA (PEM)."""
        import paho.mqtt.client as mqtt

        self.host = host
        self.port = port
        self.topics = topics
        self.messages: list[tuple[str, bytes, float]] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.arrived: dict[str, float] = {}
        self.duplicates = 0
        self._lock = threading.Lock()
        self._connected = threading.Event()
        # persistent: the broker keeps the session (and queues QoS 1 messages) while this one is away
        self._client = mqtt.Client(client_id=client_id, clean_session=not persistent)
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_a: self._connected.clear()
        self._client.on_message = self._on_message
        if ca_file is not None:
            self._client.tls_set(ca_certs=str(ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: int) -> None:
        if rc == 0:
            for topic in self.topics:
                client.subscribe(topic, qos=1)
            self._connected.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), now))
            if message.topic.startswith("spBv1.0/"):
                return
            try:
                body = json.loads(message.payload)
            except ValueError:
                return
            key = body.get("inspection_id") if isinstance(body, dict) else None
            if key is None:
                return
            if key in self.results:
                self.duplicates += 1
            else:
                self.results[key] = body
                self.arrived[key] = now

    def start(self, timeout_s: float = 10.0) -> MqttListener:
        """Connect and subscribe; returns once subscribed (raises when the broker is not there)."""
        self._client.connect(self.host, self.port, keepalive=10)
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            self._client.loop_stop()
            raise ConnectionError(f"MQTT broker {self.host}:{self.port} did not accept a subscriber")
        time.sleep(0.1)  # SUBACK
        return self

    def publish(
        self, topic: str, payload: bytes | str, *, retain: bool = False, timeout_s: float = 5.0
    ) -> None:
        """Publish one message with QoS 1 and wait until the broker has it (as a PLC or an MES would)."""
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout_s)

    def json_on(self, topic: str) -> list[Any]:
        """Every JSON payload received on ``topic``, in order."""
        with self._lock:
            return [json.loads(p) for t, p, _at in self.messages if t == topic]

    def topics_seen(self) -> Counter[str]:
        """Messages per topic."""
        with self._lock:
            return Counter(topic for topic, _p, _t in self.messages)

    def last(self, topic: str) -> bytes | None:
        """The last payload on ``topic``."""
        with self._lock:
            found = [p for t, p, _at in self.messages if t == topic]
        return found[-1] if found else None

    def sparkplug(self) -> list[tuple[str, Any]]:
        """The Sparkplug B messages received, decoded: ``(topic, payload object)``."""
        from pysparkplug import MessageType, Topic
        from pysparkplug._payload import (  # the decoders pysparkplug's own client uses
            DBirth,
            DData,
            DDeath,
            NBirth,
            NData,
            NDeath,
        )

        decoders: dict[Any, Any] = {
            MessageType.NBIRTH: NBirth,
            MessageType.NDEATH: NDeath,
            MessageType.NDATA: NData,
            MessageType.DBIRTH: DBirth,
            MessageType.DDEATH: DDeath,
            MessageType.DDATA: DData,
        }
        with self._lock:
            raw = [(t, p) for t, p, _at in self.messages if t.startswith("spBv1.0/")]
        out = []
        for topic, payload in raw:
            kind = Topic.from_str(topic).message_type
            if kind in decoders:
                out.append((topic, decoders[kind].decode(payload)))
        return out

    def stop(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


class Mosquitto:
    """An own ``mosquitto`` broker process on a free loopback port (persistent sessions on disk).

    For the broker-restart test, the demo (when no broker is reachable) and the bench; it never
    touches a broker someone else runs. :meth:`stop` ends it with SIGTERM (it saves its sessions),
    :meth:`start` starts it again on the same port.
    """

    def __init__(
        self, workdir: Any, *, port: int = 0, binary: str = "mosquitto", tls: tuple[Any, Any] | None = None
    ) -> None:
        """``tls``: (certificate, key) PEM files: the listener speaks TLS (``mqtts://``)."""
        from pathlib import Path

        self.workdir = Path(workdir)
        self.port = port or free_port("127.0.0.1")
        self.binary = binary
        self.tls = tls
        self._proc: Any = None

    @staticmethod
    def available(binary: str = "mosquitto") -> str | None:
        """Path of the mosquitto binary, if installed (``/usr/sbin`` is searched too)."""
        import shutil

        return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin")

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>`` (``mqtts://`` with TLS)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        """Start the broker and wait until it accepts connections."""
        import subprocess

        binary = self.available(self.binary)
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        # Started as root, mosquitto drops to its own user, which cannot write the persistent sessions into
        # our workdir ("Error saving in-memory database: Permission denied"): sessions were then lost at a
        # restart. Stay the user who owns the workdir.
        stay = "user root\n" if os.geteuid() == 0 else ""
        tls = f"certfile {self.tls[0]}\nkeyfile {self.tls[1]}\n" if self.tls else ""
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n{tls}allow_anonymous true\npersistence true\n"
            f"persistence_location {self.workdir}/\nautosave_interval 1\n{stay}",
            encoding="utf-8",
        )
        log_file = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - owned by the process
        self._proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log_file, stderr=log_file)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if _reachable("127.0.0.1", self.port):
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(
            f"mosquitto did not start on port {self.port}; see {self.workdir / 'mosquitto.log'}"
        )

    def stop(self) -> None:
        """SIGTERM, then wait (it writes its persistent sessions first)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10.0)
        self._proc = None


def broker_reachable(url: str) -> bool:
    """True when something accepts TCP connections at the ``mqtt://host:port`` URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return _reachable(parts.hostname or "127.0.0.1", parts.port or 1883)


def _reachable(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port(host: str) -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
