"""A reverse proxy as a plant's nginx would put the API under a path: ``location /linecheck/ {
proxy_pass http://api/; }``. Only ``PREFIX/...`` is forwarded (the prefix stripped); anything else is
the proxy's own 404, so a page that forgets the prefix fails as it would on the plant network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linecheck.serving.api.testing import serve_app

#: Hop-by-hop headers, and those that describe the upstream's encoding of a body httpx has decoded.
_DROPPED = {"host", "connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@contextmanager
def path_proxy(upstream: str, prefix: str) -> Iterator[str]:
    """Serve the proxy; yield its base URL (``http://127.0.0.1:port``, the API at ``base + prefix``)."""
    client = httpx.AsyncClient(base_url=upstream, timeout=30)
    forwarded: list[str] = []

    async def forward(request: Request) -> Response:
        path = request.url.path
        if path != prefix and not path.startswith(prefix + "/"):
            return Response(f"{path} is not behind this proxy", status_code=404, media_type="text/plain")
        forwarded.append(path)
        answer = await client.request(
            request.method,
            path[len(prefix) :] or "/",
            params=request.query_params,
            headers=[(k, v) for k, v in request.headers.items() if k.lower() not in _DROPPED],
            content=await request.body(),
        )
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in _DROPPED}
        return Response(answer.content, status_code=answer.status_code, headers=headers)

    app = Starlette(routes=[Route("/{path:path}", forward, methods=METHODS)])
    app.state.forwarded = forwarded
    with serve_app(app, name="path-proxy") as base:
        yield base
