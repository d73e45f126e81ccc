"""A real OPC UA client of the inspector's server (``asyncua``), as a PLC or an HMI would use it.

:class:`OpcUaWatcher` connects (user / password or anonymous), subscribes to the ``ResultReady``
events and the ``CurrentState`` of the given lines, calls the job methods, and reconnects and
subscribes again when the server goes away and comes back. The demo prints what it received, the
latency bench times its events, the tests drive the server with it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from linecheck.inspect.outputs.opcua import LC_NAMESPACE, MV_NAMESPACE, _finish
from linecheck.inspect.outputs.opcua_model import asyncua_ua

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class Received:
    """What the client has seen."""

    events: list[dict[str, Any]] = field(default_factory=list)  # ResultReady fields + "_at" (monotonic)
    states: dict[str, list[str]] = field(default_factory=dict)  # line id -> CurrentState values in order
    connects: int = 0


class OpcUaWatcher:
    """Subscribes to ResultReady events and states of ``lines`` on ``url`` (its own thread and loop)."""

    def __init__(
        self, url: str, lines: list[str], *, username: str | None = None, password: str | None = None
    ) -> None:
        self.url = url
        self.lines = lines
        self.username = username
        self.password = password
        self.received = Received()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="opcua-watcher", daemon=True)
        self._client: Any = None
        self._task: Any = None
        self._connected = threading.Event()
        self.last_error: str | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            _finish(self._loop)

    def start(self, timeout_s: float = 15.0) -> OpcUaWatcher:
        """Connect and subscribe; returns once subscribed (raises when the server refuses)."""
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._run(), self._loop)
        if not self._connected.wait(timeout_s):
            self.stop()
            raise ConnectionError(f"OPC UA server {self.url}: {self.last_error or 'no session'}")
        return self

    async def _session(self) -> Any:
        from asyncua import Client

        ua = asyncua_ua()

        client = Client(self.url, timeout=5)
        if self.username is not None:
            client.set_user(self.username)
            client.set_password(self.password or "")
        await client.connect()
        ns = await client.get_namespace_index(LC_NAMESPACE)
        mv = await client.get_namespace_index(MV_NAMESPACE)
        event_type = await client.nodes.base_event_type.get_child([f"{mv}:ResultReadyEventType"])
        watcher = self

        class Handler:
            def event_notification(self, event: Any) -> None:
                fields = {
                    k: getattr(v, "Value", v) for k, v in event.get_event_props_as_fields_dict().items()
                }
                fields["_at"] = time.monotonic()
                with watcher._lock:
                    watcher.received.events.append(fields)

            def status_change_notification(self, status: Any) -> None:
                log.debug("OPC UA watcher: subscription status %s", status)

            def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
                line = str(node.nodeid.Identifier).split(".")[0]
                with watcher._lock:
                    states = watcher.received.states.setdefault(line, [])
                    text = value.Text if hasattr(value, "Text") else str(value)
                    if not states or states[-1] != text:
                        states.append(text)

        sub = await client.create_subscription(10, Handler())
        for line in self.lines:
            await sub.subscribe_events(client.get_node(ua.NodeId(line, ns)), event_type)
            await sub.subscribe_data_change(
                client.get_node(ua.NodeId(f"{line}.VisionStateMachine.CurrentState", ns))
            )
        self.ns = ns
        return client

    async def _run(self) -> None:
        while True:
            try:
                self._client = await self._session()
            except Exception as exc:  # not up (yet): try again
                self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(0.5)
                continue
            self.received.connects += 1
            self.last_error = None
            self._connected.set()
            try:
                while True:  # a read every 0.3 s notices a server that went away within a second
                    await asyncio.sleep(0.3)
                    await asyncio.wait_for(self._client.nodes.server_state.read_value(), 1.0)
            except Exception as exc:  # the server went away: reconnect and subscribe again
                self._connected.clear()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.info("OPC UA watcher: connection lost (%s); reconnecting", self.last_error)
                try:
                    await self._client.disconnect()
                except Exception:  # the old session is gone anyway
                    log.debug("OPC UA watcher: disconnect of a dead session failed", exc_info=True)

    def wait_connected(self, timeout_s: float = 15.0) -> bool:
        """Wait for a (re)connected session."""
        return self._connected.wait(timeout_s)

    def stop(self) -> None:
        """Disconnect and stop the thread."""
        if self._task is not None:
            self._task.cancel()

        async def close() -> None:
            if self._client is not None:
                try:
                    await self._client.disconnect()
                except Exception:  # already gone
                    log.debug("OPC UA watcher: disconnect failed", exc_info=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10.0)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)

    # -- reading and calling ------------------------------------------------------------------
    def _sync(self, coro: Any, timeout_s: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout_s)

    def read(self, node_path: str) -> Any:
        """The value of ``ns=<linecheck>;s=<node_path>`` (e.g. ``pv-01.VisionStateMachine.CurrentState``)."""
        ua = asyncua_ua()

        async def go() -> Any:
            return await self._client.get_node(ua.NodeId(node_path, self.ns)).read_value()

        return self._sync(go())

    def browse(self, node_path: str) -> list[str]:
        """Browse names (``<namespace uri>:<name>``) of the children of ``ns=<linecheck>;s=<node_path>``."""
        ua = asyncua_ua()

        async def go() -> list[str]:
            children = await self._client.get_node(ua.NodeId(node_path, self.ns)).get_children()
            names = []
            for child in children:
                name = await child.read_browse_name()
                uri = await self._client.get_namespace_array()
                names.append(f"{uri[name.NamespaceIndex]}:{name.Name}")
            return names

        return self._sync(go())

    def call(self, line: str, method: str, *args: Any) -> Any:
        """Call a method of the line's VisionAutomaticModeStateMachine (``StartSingleJob``, ...)."""
        ua = asyncua_ua()

        async def go() -> Any:
            parent = self._client.get_node(
                ua.NodeId(f"{line}.VisionStateMachine.VisionAutomaticModeStateMachine", self.ns)
            )
            return await parent.call_method(ua.NodeId(f"{line}.VisionStateMachine.{method}", self.ns), *args)

        return self._sync(go())

    def _call_on(self, line: str, parent: str, method: str, *args: Any) -> Any:
        """Call ``<line>.<parent>.<method>`` on the object ``<line>.<parent>``."""
        ua = asyncua_ua()

        async def go() -> Any:
            node = self._client.get_node(ua.NodeId(f"{line}.{parent}", self.ns))
            return await node.call_method(ua.NodeId(f"{line}.{parent}.{method}", self.ns), *args)

        return self._sync(go())

    def prepare_product(self, line: str, product: str) -> tuple[str, int]:
        """Call the line's ``RecipeManagement.PrepareProduct`` (a changeover); returns (InternalId, Error)."""
        internal, error = self._call_on(line, "RecipeManagement", "PrepareProduct", product)
        return str(internal), int(error)

    def acknowledge_alarms(self, line: str, by: str = "") -> int:
        """Call the line's ``Alarm.Acknowledge``; returns how many alarms it acknowledged."""
        return int(self._call_on(line, "Alarm", "Acknowledge", by))

    def events(self, line: str | None = None) -> list[dict[str, Any]]:
        """The ResultReady events received (of one line, or all)."""
        with self._lock:
            return [e for e in self.received.events if line is None or e.get("LineId") == line]

    def states(self, line: str) -> list[str]:
        """The CurrentState values seen for ``line``, in order."""
        with self._lock:
            return list(self.received.states.get(line, []))
