"""Sparkplug B edge node for the inspector (``pysparkplug``): one device per line, line metrics.

Topic namespace ``spBv1.0/<group>/<NBIRTH|NDEATH|DBIRTH|DDATA>/<edge node>[/<device>]``. On each
(re)connect the node publishes NBIRTH (with ``bdSeq`` and ``Node Control/Rebirth``) and a DBIRTH per
line with every metric; each status period sends DDATA with the line's metrics; the broker sends
NDEATH (the will, same ``bdSeq``) when the inspector drops off. Sequence numbers run 0..255 per
session, as the specification wants. An NCMD with ``Node Control/Rebirth`` true (a host application
that joined late, or saw a sequence gap) is answered at once, as Sparkplug 3.0 requires of every edge
node: NBIRTH (``seq`` 0, the session's ``bdSeq``) and a DBIRTH per line with the current values, on the
same connection. Device metrics:

=============================  ========  ==========================================
``Inspection/Frames``          UInt64    frames read
``Inspection/Pass``            UInt64    verdict counts (per frame)
``Inspection/Fail``            UInt64
``Inspection/NotInspected``    UInt64
``Inspection/FailRate``        Double    fail / (pass + fail)
``Inspection/QueueDepth``      UInt64    results not yet delivered (outbox + outputs)
``Inspection/FailSafeRejects`` UInt64    units the reject deadline decided
``Model/Name``                 String    the line's model (the recipe)
``Model/Version``              String    the served version
=============================  ========  ==========================================
"""

from __future__ import annotations

import itertools
import logging
import ssl
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

#: The node metric a host application sets true in an NCMD to ask for the births again.
REBIRTH = "Node Control/Rebirth"
#: Sparkplug sequence numbers run 0..255.
SEQ_LIMIT = 256

#: (metric name, Sparkplug data type name, key of the line status message)
DEVICE_METRICS = (
    ("Inspection/Frames", "UINT64", "frames"),
    ("Inspection/Pass", "UINT64", "pass"),
    ("Inspection/Fail", "UINT64", "fail"),
    ("Inspection/NotInspected", "UINT64", "not_inspected"),
    ("Inspection/FailRate", "DOUBLE", "fail_rate"),
    ("Inspection/QueueDepth", "UINT64", "queue_depth"),
    ("Inspection/FailSafeRejects", "UINT64", "fail_safe_rejects"),
    ("Model/Name", "STRING", "model_name"),
    ("Model/Version", "STRING", "model_version"),
    ("Recipe/Product", "STRING", "product"),
    ("Alarm/Active", "BOOLEAN", "alarm_active"),
    ("Alarm/Unacknowledged", "UINT64", "alarms_unacknowledged"),
    ("Alarm/Text", "STRING", "alarm_text"),
)


def _values(status: Mapping[str, Any]) -> dict[str, Any]:
    verdicts = status.get("verdicts", {})
    flat = {**status, **{k: verdicts.get(k, 0) for k in ("pass", "fail", "not_inspected")}}
    return {key: flat.get(key) for _name, _type, key in DEVICE_METRICS}


class SparkplugNode:
    """The inspector as a Sparkplug B edge node, its lines as devices (connects in the background)."""

    def __init__(
        self,
        *,
        group_id: str,
        edge_node_id: str,
        devices: Mapping[str, str],
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ca_file: str | None = None,
    ) -> None:
        """``tls``: connect over TLS, the broker checked against ``ca_file`` (PEM; None: the system's CAs)."""
        import pysparkplug as spb

        self.group_id = group_id
        self.edge_node_id = edge_node_id
        self.devices = dict(devices)  # line id -> device id
        self.host = host
        self.port = port
        self._spb = spb
        self._client = client = spb.Client(
            client_id=f"{edge_node_id}-spb",
            username=username,
            password=password,
            transport_config=spb.TLSConfig(ca_certs=ca_file, tls_version=ssl.PROTOCOL_TLS_CLIENT)
            if tls
            else None,
            client_options=spb.ClientOptions(reconnection_delay_min=1, reconnection_delay_max=5),
        )
        self.node = spb.EdgeNode(
            group_id,
            edge_node_id,
            metrics=[
                self._metric(REBIRTH, "BOOLEAN", False),
                self._metric("Properties/Software", "STRING", "linecheck inspector"),
            ],
            client=client,
            cmd_callback=self._command,
        )
        for device_id in self.devices.values():
            self.node.register(
                spb.Device(device_id, [self._metric(n, t, None) for n, t, _k in DEVICE_METRICS])
            )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._connect_loop, name="sparkplug-connect", daemon=True)
        self.connected = False
        self.updates = 0
        self.skipped = 0
        self.rebirths = 0
        # One publisher at a time: a rebirth restarts the sequence that DDATA continues.
        self._publish_lock = threading.Lock()

    def _metric(self, name: str, datatype: str, value: Any) -> Any:
        spb = self._spb
        dtype = getattr(spb.DataType, datatype)
        if value is None:
            value = {"STRING": "", "DOUBLE": 0.0, "BOOLEAN": False}.get(datatype, 0)
        if datatype == "UINT64":
            value = max(0, int(value))
        elif datatype == "DOUBLE":
            value = float(value)
        elif datatype == "STRING":
            value = str(value)
        return spb.Metric(timestamp=spb.get_current_timestamp(), name=name, datatype=dtype, value=value)

    def _command(self, node: Any, message: Any) -> None:
        """NCMD: ``Node Control/Rebirth`` true births the node and its devices again; others are logged."""
        metrics = getattr(message.payload, "metrics", ())
        if any(m.name == REBIRTH and m.value is True for m in metrics):
            self.rebirth()
        else:
            log.info("sparkplug: NCMD %s ignored (%s)", message.topic, ", ".join(m.name for m in metrics))

    def _session_bd_seq(self) -> Any:
        """The ``bdSeq`` metric of this session's NBIRTH (for a rebirth and for the NDEATH).

        pysparkplug 0.6 advances its bdSeq for the next session right after the birth: this session's is
        the one before.
        """
        spb = self._spb
        following = self.node._bd_seq_metric.value
        return spb.Metric(
            timestamp=spb.get_current_timestamp(),
            name="bdSeq",
            datatype=spb.DataType.INT64,
            value=(following - 1) % SEQ_LIMIT if isinstance(following, int) else 0,
        )

    def rebirth(self) -> None:
        """Publish NBIRTH (``seq`` 0, this session's ``bdSeq``) and every DBIRTH again, on this connection."""
        spb = self._spb
        node: Any = self.node  # its session state is private: pysparkplug 0.6 has no rebirth of its own
        with self._publish_lock:
            if not self.connected:
                return
            # pysparkplug 0.6 births only on connect: its sequence is restarted here, as a birth wants.
            node._EdgeNode__seq_cycler = itertools.cycle(range(SEQ_LIMIT))
            bd_seq = self._session_bd_seq()
            births = [
                spb.Message(
                    topic=spb.Topic(
                        message_type=spb.MessageType.NBIRTH,
                        group_id=self.group_id,
                        edge_node_id=self.edge_node_id,
                    ),
                    payload=spb.NBirth(
                        timestamp=spb.get_current_timestamp(),
                        seq=node._seq,
                        metrics=(*node.metrics.values(), bd_seq),
                    ),
                    qos=spb.QoS.AT_MOST_ONCE,
                    retain=False,
                )
            ]
            for device_id, device in node.devices.items():
                births.append(
                    spb.Message(
                        topic=spb.Topic(
                            message_type=spb.MessageType.DBIRTH,
                            group_id=self.group_id,
                            edge_node_id=self.edge_node_id,
                            device_id=device_id,
                        ),
                        payload=spb.DBirth(
                            timestamp=spb.get_current_timestamp(),
                            seq=node._seq,
                            metrics=tuple(device.metrics.values()),
                        ),
                        qos=spb.QoS.AT_MOST_ONCE,
                        retain=False,
                    )
                )
            for message in births:
                self._client.publish(message, include_dtypes=True)
            self.rebirths += 1
        log.info("sparkplug: rebirth requested: NBIRTH and %d DBIRTH(s) sent again", len(births) - 1)

    def start(self) -> None:
        """Connect in the background (NBIRTH / DBIRTH on every connect)."""
        self._thread.start()

    def _connect_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.node.connect(self.host, port=self.port, keepalive=10, blocking=False)
            except OSError as exc:
                log.warning("sparkplug: broker %s:%d not reachable (%s); retrying", self.host, self.port, exc)
                self._stop.wait(2.0)
                continue
            self.connected = True
            return

    def update(self, line_id: str, status: Mapping[str, Any]) -> None:
        """DDATA with the line's metrics (skipped, and counted, while the broker is away)."""
        device = self.devices.get(line_id)
        if device is None or not self.connected:
            return
        values = _values(status)
        metrics = [self._metric(name, dtype, values[key]) for name, dtype, key in DEVICE_METRICS]
        try:
            with self._publish_lock:
                self.node.update_device(device, metrics)
        except Exception as exc:
            self.skipped += 1
            log.debug("sparkplug: DDATA for %s skipped: %s", device, exc)
            return
        self.updates += 1

    def status(self) -> dict[str, Any]:
        """Group, node, devices and counts."""
        return {
            "group_id": self.group_id,
            "edge_node_id": self.edge_node_id,
            "devices": sorted(self.devices.values()),
            "connected": self.connected,
            "updates": self.updates,
            "skipped": self.skipped,
            "rebirths": self.rebirths,
        }

    def stop(self) -> None:
        """Publish NDEATH (with the bdSeq of the last NBIRTH) and disconnect."""
        self._stop.set()
        self._thread.join(5.0)
        if not self.connected:
            return
        spb = self._spb
        # pysparkplug's disconnect() would send the next session's bdSeq: the NDEATH must match the NBIRTH.
        bd_seq = self._session_bd_seq()
        topic = spb.Topic(
            message_type=spb.MessageType.NDEATH, group_id=self.group_id, edge_node_id=self.edge_node_id
        )
        death = spb.NDeath(timestamp=spb.get_current_timestamp(), bd_seq_metric=bd_seq)
        try:
            self._client.publish(
                spb.Message(topic=topic, payload=death, qos=spb.QoS.AT_MOST_ONCE, retain=False)
            )
            self._client.disconnect()
        except Exception:  # best effort on the way out
            log.debug("sparkplug: disconnect failed", exc_info=True)
