"""``/docs`` (Swagger UI) and ``/redoc`` served entirely by the API: they work on an air-gapped network.

FastAPI's default pages load Swagger UI and ReDoc from a CDN and ReDoc's fonts from Google; on a
factory network without internet they stay blank. The JavaScript and CSS come from the
``fastapi-offline`` package instead (Swagger UI and ReDoc bundles, shipped in the wheel) and are
served under ``/docs/static/``; Swagger UI's online spec validator is switched off, and ReDoc's one
remote reference (the Redocly logo in its menu, ``cdn.redoc.ly``) is pointed at a local image when
the bundle is served. A Content-Security-Policy keeps both pages to their own origin.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from linecheck.errors import NotFoundError

STATIC_PREFIX = "/docs/static"
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
#: Remote URLs inside the bundles that a browser would fetch, and the local file served instead (relative to
#: the ReDoc page, ``/redoc``: right under a reverse proxy's path prefix too).
_REWRITES = {b"https://cdn.redoc.ly/redoc/logo-mini.svg": f"{STATIC_PREFIX.lstrip('/')}/favicon.png".encode()}
#: Swagger UI's and ReDoc's pages start with an inline script; nothing may come from elsewhere.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'"
)


@lru_cache(maxsize=1)
def docs_assets() -> dict[str, Path]:
    """The Swagger UI / ReDoc files the API serves (from the ``fastapi_offline`` package)."""
    import fastapi_offline

    folder = Path(fastapi_offline.__file__).resolve().parent / "static"
    return {path.name: path for path in sorted(folder.iterdir()) if path.suffix in _MEDIA}


@lru_cache(maxsize=8)
def asset_bytes(name: str) -> bytes:
    """The file's bytes, with the remote URLs of :data:`_REWRITES` replaced by local ones."""
    data = docs_assets()[name].read_bytes()
    for remote, local in _REWRITES.items():
        data = data.replace(remote, local)
    return data


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_POLICY
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and their files.

    The app is created with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages are off). The
    pages' URLs start with the request's root path (``ApiSettings.root_path``, behind a reverse proxy).
    """
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} - docs"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return _with_policy(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=title,
                swagger_js_url=f"{root}{STATIC_PREFIX}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{STATIC_PREFIX}/swagger-ui.css",
                swagger_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png",
                oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
                swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
            )
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return _with_policy(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{STATIC_PREFIX}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{STATIC_PREFIX}/favicon.png",
                with_google_fonts=False,
            )
        )

    @app.get(STATIC_PREFIX + "/{name}", include_in_schema=False)
    def docs_file(name: str) -> Response:
        path = docs_assets().get(name)
        if path is None:
            raise NotFoundError(
                f"name={name!r} is not a file of the API docs; known: {sorted(docs_assets())}"
            )
        return Response(
            asset_bytes(name),
            media_type=_MEDIA[path.suffix],
            headers={"Cache-Control": "public, max-age=86400"},
        )
