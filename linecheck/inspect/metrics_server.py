"""The inspector's small HTTP server: Prometheus ``/metrics``, ``/status`` JSON and the trigger hook.

``POST /trigger`` with ``{"line_id": "textile-01", "code": "RL0000000042"}`` sets the current
unit of a trigger-coded line (``line_id`` may be left out when the inspector runs one line).
With ``"trigger_id"`` and/or ``"encoder_count"`` (or ``"job": true``) it is a PLC job instead, as
OPC UA ``StartSingleJob``: the line's next frame is that unit, the reject deadline counts from now,
``code`` is optional, and the answer carries the ``inspection_id`` the result will have.
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
from linecheck.inspect.triggers import TriggerBoard

log = logging.getLogger(__name__)

MAX_BODY = 4096


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
    ) -> None:
        self.registry = registry
        self.status = status
        self.board = board
        self.jobs = jobs  # RejectGate.job: POST /trigger with a trigger_id / encoder_count
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
                if self.path != "/trigger":
                    self._json(404, {"error": {"field": "path", "value": self.path, "message": "not found"}})
                    return
                try:
                    body = server._read_body(self)
                    if server.jobs is not None and _is_job(body):
                        self._json(200, server._job(body))
                        return
                    line_id, code = server._parse_trigger(body)
                    if server.board is None:
                        raise InvalidFieldError(
                            "line_id", line_id, "this inspector has no trigger-coded line"
                        )
                    server.board.set(line_id, code)
                except InvalidFieldError as exc:
                    self._json(
                        422, {"error": {"field": exc.field, "value": exc.value, "message": exc.reason}}
                    )
                    return
                self._json(200, {"line_id": line_id, "code": code})

        return Handler

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler) -> Any:
        length = int(handler.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            raise InvalidFieldError("body", length, f"expected a JSON object of 1..{MAX_BODY} bytes")
        try:
            return json.loads(handler.rfile.read(length))
        except ValueError as exc:
            raise InvalidFieldError("body", "<unparsable>", f"not JSON: {exc}") from None

    def _line_of(self, body: dict[str, Any]) -> Any:
        line_id = body.get("line_id")
        if line_id is None and self.board is not None and len(self.board.line_ids) == 1:
            line_id = self.board.line_ids[0]
        if not isinstance(line_id, str):
            raise InvalidFieldError("line_id", line_id, "expected the id of a line of this inspector")
        return line_id

    def _job(self, body: dict[str, Any]) -> dict[str, Any]:
        """A PLC job from ``POST /trigger``; the answer names the inspection id the result will have."""
        assert self.jobs is not None
        line_id = self._line_of(body)
        trigger_id, code, encoder = body.get("trigger_id"), body.get("code"), body.get("encoder_count")
        if trigger_id is not None and not isinstance(trigger_id, str):  # its length and text: the contract's
            raise InvalidFieldError("trigger_id", trigger_id, "expected a string")
        if code is not None and not isinstance(code, str):
            raise InvalidFieldError("code", code, "expected a string")
        if encoder is not None and (isinstance(encoder, bool) or not isinstance(encoder, int)):
            raise InvalidFieldError("encoder_count", encoder, "expected an integer")
        trigger = self.jobs(line_id, trigger_id=trigger_id, code=code, encoder_count=encoder)
        return {
            "line_id": line_id,
            "inspection_id": trigger.inspection_id,
            "trigger_id": trigger.trigger_id,
            "encoder_count": trigger.encoder_count,
            "code": trigger.code,
        }

    def _parse_trigger(self, body: Any) -> tuple[str, str]:
        if not isinstance(body, dict):
            raise InvalidFieldError("body", type(body).__name__, 'expected {"line_id": ..., "code": ...}')
        code = body.get("code")
        if not isinstance(code, str) or not code.strip():
            raise InvalidFieldError("code", code, "expected a non-empty string")
        line_id = body.get("line_id")
        if line_id is None and self.board is not None and len(self.board.line_ids) == 1:
            line_id = self.board.line_ids[0]
        if not isinstance(line_id, str):
            raise InvalidFieldError("line_id", line_id, "expected the id of a trigger-coded line")
        return line_id, code

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


def _is_job(body: Any) -> bool:
    """True for a ``POST /trigger`` body that asks for a PLC job rather than setting a code."""
    return isinstance(body, dict) and (
        body.get("job") is True or "trigger_id" in body or "encoder_count" in body
    )
