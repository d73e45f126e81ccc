"""Headers every response carries, whatever produced it (a route, an error handler, a framework 404/500).

``X-Content-Type-Options: nosniff``: browsers take the declared ``Content-Type`` as it is and never
guess from the bytes, so no stored image, error body or CSV can be run as HTML or script.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Added to every HTTP response (names lower-case, as ASGI carries them).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)


class SecurityHeadersMiddleware:
    """Pure ASGI middleware adding :data:`SECURITY_HEADERS` to each response start it sees."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through; add the headers a response lacks."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def outermost(build: Callable[[], ASGIApp]) -> Callable[[], Any]:
    """Wrap an app's middleware-stack builder so the headers cover even the framework's own 500s."""

    def build_with_headers() -> ASGIApp:
        return SecurityHeadersMiddleware(build())

    return build_with_headers
