"""The inspector's small HTTP server: Prometheus ``/metrics``, ``/status`` JSON and the trigger hook.

``POST /trigger`` takes a trigger request (:mod:`linecheck.inspect.trigger_requests`): a body with
``{"line_id", "code"}`` sets the current unit of a trigger-coded line; one with ``"trigger_id"`` and/or
``"encoder_count"`` (or ``"job": true``) is a PLC job, answered with the ``inspection_id`` the result
will have. ``POST /alarms/ack`` with ``{"line_id", "by"}`` acknowledges the line's run alarms
(:mod:`linecheck.inspect.alarm_watch`; 404 when no line has ``alarms:``). A bad request is a 422 naming the
field and the value.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from linecheck.errors import InvalidFieldError
from linecheck.inspect.gate import Trigger
from linecheck.inspect.trigger_requests import MAX_BODY, TriggerRequests, parse_body
from linecheck.inspect.triggers import TriggerBoard

log = logging.getLogger(__name__)


class MetricsServer:
    """Serves one inspector's registry, status and trigger hook on ``host:port`` (port 0: any free)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        status: Callable[[], dict[str, Any]],
        board: TriggerBoard | None,
        host: str = "127.0.0.1",
        port: int = 0,
        jobs: Callable[..., Trigger] | None = None,
        acknowledge: Callable[[str, str], list[str]] | None = None,
    ) -> None:
        self.registry = registry
        self.status = status
        self.requests = TriggerRequests(board, jobs)
        self.acknowledge = acknowledge
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL the server listens on."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug("metrics server: " + format, *args)

            def _send(self, code: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, obj: Any) -> None:
                self._send(code, json.dumps(obj, default=str).encode())

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    self._send(200, generate_latest(server.registry), CONTENT_TYPE_LATEST)
                elif self.path == "/status":
                    self._json(200, server.status())
                elif self.path == "/healthz":
                    self._json(200, {"status": "ok"})
                else:
                    self._json(404, {"error": {"field": "path", "value": self.path, "message": "not found"}})

            def do_POST(self) -> None:
                answer_to = {"/trigger": server.requests.answer, "/alarms/ack": server._acknowledge}
                if self.path not in answer_to or (self.path == "/alarms/ack" and server.acknowledge is None):
                    self._json(404, {"error": {"field": "path", "value": self.path, "message": "not found"}})
                    return
                try:
                    answer = answer_to[self.path](parse_body(server._read_body(self)))
                except InvalidFieldError as exc:
                    self._json(
                        422, {"error": {"field": exc.field, "value": exc.value, "message": exc.reason}}
                    )
                    return
                self._json(200, answer)

        return Handler

    def _acknowledge(self, body: Any) -> dict[str, Any]:
        """``{"line_id", "by"}``: acknowledge the line's alarms; answers the keys acknowledged."""
        assert self.acknowledge is not None
        if not isinstance(body, dict):
            raise InvalidFieldError("body", type(body).__name__, 'expected {"line_id": ..., "by": ...}')
        line_id, by = body.get("line_id"), body.get("by", "")
        if not isinstance(line_id, str):
            raise InvalidFieldError("line_id", line_id, "expected the id of a line with alarms:")
        if not isinstance(by, str):
            raise InvalidFieldError("by", by, "expected who acknowledges, as text")
        return {"line_id": line_id, "acknowledged": self.acknowledge(line_id, by)}

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
        length = int(handler.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            raise InvalidFieldError("body", length, f"expected a JSON object of 1..{MAX_BODY} bytes")
        return handler.rfile.read(length)

    def start(self) -> None:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="metrics-server",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
