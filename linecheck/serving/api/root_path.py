"""The API under a reverse proxy's path: ``LINECHECK_API_ROOT_PATH=/linecheck``.

A plant's nginx often serves several applications from one host, each under its own path
(``location /linecheck/ { proxy_pass http://api:8000/; }``). The API then has to know the prefix
to write it into what it hands to browsers: the OpenAPI ``servers`` (Swagger UI's calls), the docs'
files, the QA pages' links, files and API calls (``pages/router.py``, ``api.js``). This middleware
sets the ASGI ``root_path`` of every request to the configured prefix; routing takes it off a path
that still carries it, so a proxy that strips the prefix and one that keeps it both work.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class RootPathMiddleware:
    """Pure ASGI middleware: ``scope["root_path"] = root_path`` for HTTP and WebSocket requests."""

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through with the configured root path."""
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "root_path": self.root_path}
        await self.app(scope, receive, send)
