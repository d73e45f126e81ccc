"""The QA pages and their files: the queue, unread codes, trace, dashboard, kiosk and certificate.

Routes: ``/review`` (queue), ``/review/unread``, ``/review/trace``, ``/review/dashboard``,
``/review/kiosk`` (line-side screen), ``/review/certificate`` (printable).

The pages are static HTML, CSS and JavaScript modules shipped inside the package (no build step,
no CDN: they work offline). They hold no data and need no key to load; the browser calls the API
with the key the reviewer pasted (``Authorization: Bearer``), so every rule of the API applies.
A Content-Security-Policy keeps the pages to their own origin (scripts, styles, API calls) and
to ``blob:`` images (frames are fetched with the key and shown as object URLs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Response

from linecheck.errors import NotFoundError

STATIC_DIR = Path(__file__).resolve().parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
#: The page routes and the HTML file each serves.
PAGES = {
    "/review": "review.html",
    "/review/unread": "unread.html",
    "/review/trace": "trace.html",
    "/review/dashboard": "dashboard.html",
    "/review/kiosk": "kiosk.html",
    "/review/certificate": "certificate.html",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_ASSET_NAME = re.compile(r"^[a-z][a-z0-9_]*\.(?:js|css)$")

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def assets() -> dict[str, Path]:
    """The files ``/review/static/{name}`` may serve: the ``.js`` and ``.css`` files shipped here."""
    return {path.name: path for path in sorted(STATIC_DIR.iterdir()) if _ASSET_NAME.fullmatch(path.name)}


def _file_response(path: Path) -> Response:
    return Response(
        path.read_bytes(),
        media_type=MEDIA_TYPES[path.suffix],
        headers={
            # revalidate every time: a new release is picked up without a hard reload
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _page_route(file_name: str) -> Callable[[], Response]:
    def page() -> Response:
        return _file_response(STATIC_DIR / file_name)

    page.__doc__ = f"The {file_name} page."
    return page


for _path, _file in PAGES.items():
    router.add_api_route(_path, _page_route(_file), methods=["GET"], response_class=Response)


@router.get("/review/static/{name}", response_class=Response)
def static_file(name: str) -> Response:
    """A script or stylesheet of the pages (only the files shipped with linecheck)."""
    path = assets().get(name)
    if path is None:
        raise NotFoundError(f"name={name!r} is not a file of the review pages; known: {sorted(assets())}")
    return _file_response(path)
