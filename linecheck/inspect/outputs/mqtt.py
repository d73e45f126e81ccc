"""MQTT output: per-unit results from the outbox (QoS 1), line status, and Sparkplug B metrics.

* **Results** — every inspection recorded for a line with an ``outputs.mqtt`` section gets a message
  row committed in the same SQLite transaction as its outbox row (:class:`MqttQueue`, table
  ``mqtt_messages``, one row per inspection id). A publisher thread sends the rows in order with
  QoS 1 and marks each one published when the broker's PUBACK arrives; rows not acknowledged when
  the broker goes away (or the inspector stops) are sent again after the reconnect, so a broker
  outage loses nothing. QoS 1 is at-least-once: a subscriber de-duplicates by ``inspection_id``.
* **Line status** — every ``status_interval_s`` a retained JSON on the line's ``status_topic``
  (verdict counts, fail rate, queue depth, model version, outbox backlog, run alarms: ``alarm_active``,
  ``alarms_unacknowledged``, ``alarm_text``); the client's will marks
  ``linecheck/inspectors/<client id>`` offline when the inspector dies.
* **Triggers** (a line's ``trigger_topic`` set) — the inspector subscribes (QoS 1) and takes each message
  as a trigger request, the JSON ``POST /trigger`` takes (:mod:`linecheck.inspect.trigger_requests`): a
  PLC job (``trigger_id``, ``encoder_count``, ``code``) or the current code of a trigger-coded line. The
  answer (the job's ``inspection_id``, or an ``error`` naming the field and the value) goes to
  ``<trigger_topic>/answer``. QoS 1 may deliver a message twice: the same ``trigger_id`` within a minute
  is the same job. A retained trigger is refused (it would start a job again on every reconnect).
* **Sparkplug B** (``LINECHECK_INSPECTOR_MQTT_SPARKPLUG_GROUP`` set) — the inspector is an edge node
  (``LINECHECK_INSPECTOR_MQTT_CLIENT_ID``), each line a device, through ``pysparkplug``: NBIRTH /
  DBIRTH with every metric on connect, DDATA on each status period, NDEATH as the will, sequence
  numbers and bdSeq as the specification wants (QoS 0 for births and data, as Sparkplug requires;
  the lossless per-unit stream is the results topic).

The message is the gate outcome's JSON (``inspection_id``, ``trigger_id``, ``encoder_count``, ``code``,
``verdict``, ``reject``, ``reason``, ``defect_count``, ``defects``, ``model_name``/``model_version``,
``captured_at``) as recorded, i.e. a late unit appears as ``not_inspected``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import ssl
import threading
import time
from collections import OrderedDict
from typing import Any, ClassVar
from urllib.parse import urlsplit

from linecheck.errors import ConfigError, InvalidFieldError
from linecheck.inspect.alarm_watch import alarm_text
from linecheck.inspect.gate import UnitOutcome
from linecheck.inspect.messages import InspectionResult
from linecheck.inspect.outputs.base import LineOutput, OutputContext
from linecheck.inspect.outputs.sparkplug import SparkplugNode
from linecheck.inspect.settings import MQTT_TLS_SCHEMES
from linecheck.inspect.trigger_requests import TriggerRequests, parse_body
from linecheck.inspect.workers import RateLimitedLog
from linecheck.line_outputs import MqttLineOptions
from linecheck.messages import Verdict

log = logging.getLogger(__name__)

#: Rows published at once before waiting for acknowledgements.
MAX_IN_FLIGHT = 64


def result_message(result: InspectionResult) -> dict[str, Any]:
    """The per-unit MQTT message of a recorded result."""
    return {
        "inspection_id": result.id,
        "line_id": result.line_id,
        "station": result.station,
        "trigger_id": result.trigger_id,
        "encoder_count": result.encoder_count,
        "code": result.code,
        "product": result.product,
        "verdict": result.verdict.value,
        "reject": result.verdict is not Verdict.PASS,
        "reason": result.reason,
        "defect_count": len(result.defects),
        "defects": [d.class_name for d in result.defects],
        "model_name": result.model_name,
        "model_version": result.model_version,
        "captured_at": result.captured_at.isoformat(timespec="milliseconds"),
    }


class MqttQueue:
    """The ``mqtt_messages`` table of the outbox: rows added with the inspection, marked when acknowledged."""

    schema = """
    CREATE TABLE IF NOT EXISTS mqtt_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        inspection_id TEXT NOT NULL UNIQUE,
        line_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        published_at REAL
    );
    CREATE INDEX IF NOT EXISTS ix_mqtt_messages_unpublished ON mqtt_messages (published_at, seq);
    """

    def __init__(self, topics: dict[str, str], outbox_path: str) -> None:
        self.topics = topics  # line id -> results topic
        self._db = sqlite3.connect(outbox_path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._lock = threading.Lock()

    def on_add(self, db: sqlite3.Connection, result: InspectionResult) -> None:
        """Queue the message of ``result`` (inside the outbox transaction)."""
        topic = self.topics.get(result.line_id)
        if topic is None:
            return
        db.execute(
            "INSERT OR IGNORE INTO mqtt_messages (inspection_id, line_id, topic, payload, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                result.id,
                result.line_id,
                topic,
                json.dumps(result_message(result), separators=(",", ":")),
                time.time(),
            ),
        )

    def due(self, limit: int, skip: set[int]) -> list[tuple[int, str, str, str, str]]:
        """Unpublished rows, oldest first, not in ``skip``: ``(seq, inspection id, line, topic, payload)``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, inspection_id, line_id, topic, payload FROM mqtt_messages"
                " WHERE published_at IS NULL ORDER BY seq LIMIT ?",
                (limit + len(skip),),
            ).fetchall()
        return [r for r in rows if r[0] not in skip][:limit]

    def mark_published(self, seq: int) -> None:
        """The broker acknowledged row ``seq``."""
        with self._lock:
            self._db.execute("UPDATE mqtt_messages SET published_at = ? WHERE seq = ?", (time.time(), seq))

    def backlog(self) -> int:
        """Rows not acknowledged yet."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM mqtt_messages WHERE published_at IS NULL").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()


def broker_address(url: str) -> tuple[str, int, bool]:
    """``(host, port, tls)`` of an ``mqtt://host:port`` or ``mqtts://host:port`` URL."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"mqtt_url={url!r}: expected mqtt://host:port or mqtts://host:port")
    tls = parts.scheme in MQTT_TLS_SCHEMES
    return parts.hostname, parts.port or (8883 if tls else 1883), tls


class MqttOutput(LineOutput):
    """Publishes results from the outbox, line status, and (optionally) Sparkplug B metrics."""

    name: ClassVar[str] = "mqtt"

    def __init__(self, context: OutputContext) -> None:
        super().__init__(context)
        self.options: dict[str, MqttLineOptions] = {}
        for line in context.lines:
            options = line.outputs.section(self.name)
            assert isinstance(options, MqttLineOptions)
            self.options[line.id] = options
        settings = context.settings
        self.enabled = bool(settings.mqtt_url)
        self.client_id = settings.mqtt_client_name
        self.queue: MqttQueue | None = None
        self.sparkplug: SparkplugNode | None = None
        self._client: Any = None
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._status_now = threading.Event()  # a line's alarms changed: publish its status at once
        self._inflight: dict[int, tuple[int, str, str]] = {}  # mid -> (row seq, line id, inspection id)
        self._inflight_lock = threading.Lock()  # never held while calling into paho (its locks)
        self._early: set[int] = set()  # PUBACKs that beat the bookkeeping of their publish
        self._triggered: OrderedDict[str, float] = OrderedDict()  # inspection id -> trigger time
        self._threads: list[threading.Thread] = []
        self.published = 0
        self._final_backlog = 0
        self.reconnects = 0
        self.last_error: str | None = None
        #: trigger topic -> its line; requests are answered on ``<topic>/answer``
        self.trigger_topics = {
            o.topic(o.trigger_topic, lid): lid for lid, o in self.options.items() if o.trigger_topic
        }
        self.requests = TriggerRequests(context.board, context.gate.job)
        self.trigger_counts = {"answered": 0, "refused": 0}
        self._refusals = RateLimitedLog(log)

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Queue results in the outbox, connect (in the background) and start publishing."""
        if not self.enabled:
            log.info(
                "MQTT output off: LINECHECK_INSPECTOR_MQTT_URL is empty (lines %s)", sorted(self.line_ids)
            )
            return
        import paho.mqtt.client as mqtt

        settings = self.context.settings
        host, port, tls = broker_address(settings.mqtt_url)
        ca_file = str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None
        topics = {lid: o.topic(o.results_topic, lid) for lid, o in self.options.items()}
        self.queue = MqttQueue(topics, str(self.context.outbox.path))
        self.context.outbox.extend(self.queue)
        client = mqtt.Client(client_id=self.client_id, clean_session=True)
        if settings.mqtt_username:
            client.username_pw_set(settings.mqtt_username, settings.mqtt_password or None)
        if tls:  # the broker's certificate is checked against the plant's CA (or the system's CAs)
            client.tls_set(ca_certs=ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.will_set(self._node_topic, json.dumps({"online": False}), qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.max_inflight_messages_set(MAX_IN_FLIGHT)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client = client
        client.connect_async(host, port, keepalive=10)
        client.loop_start()
        if settings.mqtt_sparkplug_group:
            self.sparkplug = SparkplugNode(
                group_id=settings.mqtt_sparkplug_group,
                edge_node_id=self.client_id,
                devices={lid: o.sparkplug_device or lid for lid, o in self.options.items()},
                host=host,
                port=port,
                username=settings.mqtt_username or None,
                password=settings.mqtt_password or None,
                tls=tls,
                ca_file=ca_file,
            )
            self.sparkplug.start()
        if self.context.alarms is not None:  # an alarm raised, cleared or acknowledged is sent at once
            self.context.alarms.listen(
                lambda line_id: self._status_now.set() if line_id in self.options else None
            )
        self._threads = [
            threading.Thread(target=self._publish_loop, name="mqtt-publish", daemon=True),
            threading.Thread(target=self._status_loop, name="mqtt-status", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.context.outbox.added.set()

    @property
    def _node_topic(self) -> str:
        return f"linecheck/inspectors/{self.client_id}"

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: int) -> None:
        if rc != 0:
            self.last_error = f"broker refused the connection (rc={rc})"
            log.error("MQTT: %s", self.last_error)
            return
        with self._inflight_lock:
            self._inflight.clear()  # what was in flight is sent again from the queue
            self._early.clear()
        client.publish(self._node_topic, json.dumps({"online": True}), qos=1, retain=True)
        for topic in self.trigger_topics:  # a clean session: subscribe again on every connect
            client.subscribe(topic, qos=1)
        if self.last_error is not None:
            self.reconnects += 1
            log.info(
                "MQTT: connected again; resending %d queued result(s)",
                self.queue.backlog() if self.queue else 0,
            )
        self.last_error = None
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, client: Any, userdata: Any, rc: int) -> None:
        self._connected.clear()
        if rc != 0 and not self._stop.is_set():
            self.last_error = f"connection lost (rc={rc})"
            log.warning("MQTT: %s; results stay queued in the outbox", self.last_error)

    def _on_publish(self, client: Any, userdata: Any, mid: int) -> None:
        with self._inflight_lock:
            row = self._inflight.get(mid)
            if row is None:
                self._early.add(mid)
                return
        # Marked published before it leaves the in-flight set: in between, the publish loop would see a row
        # neither in flight nor published and send it again (counted twice: 7 published for 6 results).
        self._acknowledged(*row)
        with self._inflight_lock:
            self._inflight.pop(mid, None)

    def _acknowledged(self, seq: int, line_id: str, inspection_id: str) -> None:
        if self.queue is None:
            return
        self.queue.mark_published(seq)
        self.published += 1
        self.context.output_metrics.ok(self.name, line_id, self._triggered.pop(inspection_id, None))
        self._wake.set()

    # -- triggers -----------------------------------------------------------------------------
    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        line_id = self.trigger_topics.get(message.topic)
        if line_id is None:
            return
        answer = self.trigger_answer(line_id, message.payload, retained=bool(message.retain))
        client.publish(f"{message.topic}/answer", json.dumps(answer, default=str), qos=1)

    def trigger_answer(self, line_id: str, payload: bytes, *, retained: bool = False) -> dict[str, Any]:
        """Act on one trigger message of ``line_id``'s topic; the answer to publish (never raises)."""
        body: Any = None
        try:
            body = parse_body(payload)
            if retained:
                raise InvalidFieldError(
                    "retain", True, "a retained trigger comes back on every subscribe: publish it unretained"
                )
            answer = self.requests.answer(body, line_id=line_id)
        except InvalidFieldError as exc:
            self.trigger_counts["refused"] += 1
            self.context.metrics.mqtt_trigger_requests.labels(line_id, "refused").inc()
            self._refusals.warning(
                f"mqtt-trigger-{line_id}-{exc.field}",
                "MQTT trigger of %s refused: %s=%r: %s",
                line_id,
                exc.field,
                exc.value,
                exc.reason,
            )
            refused: dict[str, Any] = {
                "line_id": line_id,
                "error": {"field": exc.field, "value": exc.value, "message": exc.reason},
            }
            if isinstance(body, dict) and isinstance(body.get("trigger_id"), str):
                refused["trigger_id"] = body["trigger_id"]  # so the sender can match the refusal
            return refused
        self.trigger_counts["answered"] += 1
        outcome = (
            "job" if "inspection_id" in answer else "changeover" if "previous_product" in answer else "code"
        )
        self.context.metrics.mqtt_trigger_requests.labels(line_id, outcome).inc()
        return answer

    # -- results ------------------------------------------------------------------------------
    def decide(self, outcome: UnitOutcome) -> None:
        """Remember when the unit was triggered (for the trigger-to-broker latency)."""
        if outcome.line_id in self.line_ids and self.enabled:
            self._triggered[outcome.inspection_id] = outcome.triggered_at
            while len(self._triggered) > 10_000:
                self._triggered.popitem(last=False)

    def _publish_loop(self) -> None:
        assert self.queue is not None
        while not self._stop.is_set():
            if not self._connected.wait(0.2):
                continue
            with self._inflight_lock:
                room = MAX_IN_FLIGHT - len(self._inflight)
                busy = {seq for seq, _line, _id in self._inflight.values()}
            rows = self.queue.due(room, busy) if room > 0 else []
            if not rows:
                self._wake.wait(0.05)
                self._wake.clear()
                self.context.outbox.added.clear()
                continue
            for seq, inspection_id, line_id, topic, payload in rows:
                info = self._client.publish(topic, payload, qos=1)
                if info.rc != 0:
                    break  # not connected any more: the row stays queued
                row = (seq, line_id, inspection_id)
                with self._inflight_lock:
                    early = info.mid in self._early
                    if early:
                        self._early.discard(info.mid)
                    else:
                        self._inflight[info.mid] = row
                if early:
                    self._acknowledged(*row)

    def _status_loop(self) -> None:
        interval = min(o.status_interval_s for o in self.options.values())
        while not self._stop.is_set():
            self._status_now.wait(interval)
            self._status_now.clear()
            if not self._stop.is_set():
                self.publish_status()

    def publish_status(self) -> None:
        """Send every line's status (retained) and the Sparkplug metrics now."""
        status = self.context.status()
        for line_id, options in self.options.items():
            body = line_status(status, line_id)
            if self._client is not None and self._connected.is_set():
                self._client.publish(
                    options.topic(options.status_topic, line_id), json.dumps(body), qos=1, retain=True
                )
            if self.sparkplug is not None:
                self.sparkplug.update(line_id, body)

    def close(self) -> None:
        """Publish what is queued (at most 10 s), then disconnect cleanly."""
        if not self.enabled or self._client is None:
            return
        deadline = time.monotonic() + 10.0
        while self.queue is not None and self.queue.backlog() and self._connected.is_set():
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.publish_status()
        self._stop.set()
        self._status_now.set()
        for thread in self._threads:
            thread.join(5.0)
        if self.queue is not None and self.queue.backlog():
            log.warning("MQTT: %d result(s) stay queued in the outbox for the next run", self.queue.backlog())
        if self._connected.is_set():
            self._client.publish(
                self._node_topic, json.dumps({"online": False}), qos=1, retain=True
            ).wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()
        if self.sparkplug is not None:
            self.sparkplug.stop()
        if self.queue is not None:
            self._final_backlog = self.queue.backlog()
            self.queue.close()
            self.queue = None

    def status(self) -> dict[str, Any]:
        """Connection, published and queued counts."""
        return {
            "enabled": self.enabled,
            "connected": self._connected.is_set(),
            "published": self.published,
            "queued": self.queue.backlog() if self.queue is not None else self._final_backlog,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "triggers": dict(self.trigger_counts) if self.trigger_topics else None,
            "sparkplug": None if self.sparkplug is None else self.sparkplug.status(),
        }


def line_status(status: dict[str, Any], line_id: str) -> dict[str, Any]:
    """The line status message: verdict counts, fail rate, queue depth, model, product, outbox, alarms."""
    line = status.get("lines", {}).get(line_id, {})
    verdicts = {k: int(line.get("verdicts", {}).get(k, 0)) for k in ("pass", "fail", "not_inspected")}
    judged = verdicts["pass"] + verdicts["fail"]
    model_name = line.get("model")
    model = status.get("models", {}).get(model_name, {})
    alarms = line.get("alarms") or {}
    outputs = status.get("outputs", {})
    queued = sum(int(o.get("queued", 0) or 0) for o in outputs.values() if isinstance(o, dict))
    return {
        "line_id": line_id,
        "online": True,
        "frames": int(line.get("frames_in", 0)),
        "verdicts": verdicts,
        "fail_rate": round(verdicts["fail"] / judged, 4) if judged else 0.0,
        "queue_depth": queued + int((status.get("outbox") or {}).get("pending", 0)),
        "model_name": model_name,
        "model_version": model.get("version"),
        "model_state": model.get("state"),
        "product": line.get("product"),
        "fail_safe_rejects": int(status.get("fail_safe_rejects", 0)),
        "alarm_active": bool(alarms.get("in_alarm")),
        "alarms_unacknowledged": int(alarms.get("unacknowledged", 0)),
        "alarm_text": alarm_text(alarms),
    }
