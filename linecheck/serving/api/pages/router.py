"""The QA pages and their files: queue, unread codes, pass audit, holds, trace, dashboard, kiosk, certificate.

Routes: ``/review`` (queue), ``/review/unread``, ``/review/audit`` (pass audit), ``/review/holds``
(containment of suspect units), ``/review/trace``, ``/review/dashboard``, ``/review/kiosk`` (line-side
screen), ``/review/certificate`` (printable).

The pages are static HTML, CSS and JavaScript modules shipped inside the package (no build step,
no CDN: they work offline). They hold no data and need no key to load; the browser calls the API
with the key the reviewer pasted (``Authorization: Bearer``), so every rule of the API applies.
A Content-Security-Policy keeps the pages to their own origin (scripts, styles, API calls) and
to ``blob:`` images (frames are fetched with the key and shown as object URLs).

Each page is composed once (:func:`pages`) from two files: ``static/shell.html`` holds what every
page shares (the ``<head>``, the header with the nav and the API-key form, the banner) and a page
file such as ``static/review.html`` holds only its own part. The page file opens with a comment of
its fields, one ``name: value`` a line::

    <!-- a QA page: router.py serves it inside shell.html, ...
    title: linecheck · review queue
    script: review.js
    data-page: queue
    -->
      <main ...>

The fields fill the shell's ``{{title}}``, ``{{script}}`` (a module of ``static/``) and
``{{data-page}}`` (the ``<body>``'s ``data-page``), the rest of the file fills ``{{content}}``,
and the nav link to the page's own route is marked ``aria-current="page"``. A page file with a
field missing, empty or unknown fails its composition with a :class:`ConfigError` naming it.
A leading comment of the shell is not served. Neither kind of file is served as a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

from linecheck.errors import ConfigError, NotFoundError

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: The document every page is served in.
SHELL = STATIC_DIR / "shell.html"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
#: The page routes and the page file each serves (inside the shell).
PAGES = {
    "/review": "review.html",
    "/review/unread": "unread.html",
    "/review/audit": "audit.html",
    "/review/holds": "holds.html",
    "/review/trace": "trace.html",
    "/review/dashboard": "dashboard.html",
    "/review/kiosk": "kiosk.html",
    "/review/certificate": "certificate.html",
}
#: The fields every page file gives, each filling the shell's ``{{name}}``.
PAGE_FIELDS = ("title", "script", "data-page")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_ASSET_NAME = re.compile(r"^[a-z][a-z0-9_]*\.(?:js|css)$")
_FIELD_LINE = re.compile(r"^([a-z][a-z-]*):(.*)$")
_PLACEHOLDER = re.compile(r"\{\{([a-z][a-z-]*)\}\}")

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def assets() -> dict[str, Path]:
    """The files ``/review/static/{name}`` may serve: the ``.js`` and ``.css`` files shipped here."""
    return {path.name: path for path in sorted(STATIC_DIR.iterdir()) if _ASSET_NAME.fullmatch(path.name)}


def _split_comment(text: str) -> tuple[str | None, str]:
    """The text of a leading ``<!-- ... -->`` (None without one) and what follows its line."""
    if not text.startswith("<!--"):
        return None, text
    end = text.find("-->")
    if end < 0:
        return None, text
    rest = text[end + len("-->") :]
    return text[len("<!--") : end], rest.removeprefix("\n")


def _page_fields(name: str, comment: str | None) -> dict[str, str]:
    """The fields of a page file's opening comment (its first line is free text)."""
    if comment is None:
        raise ConfigError(
            f"page file {name}: it must open with a comment of its fields (<!-- ... -->, one "
            f"'name: value' a line, names {list(PAGE_FIELDS)})"
        )
    fields: dict[str, str] = {}
    for line in comment.splitlines()[1:]:
        match = _FIELD_LINE.fullmatch(line.strip())
        if match is None:
            raise ConfigError(
                f"page file {name}: {line.strip()!r} in its opening comment is not 'name: value'"
            )
        key, value = match[1], match[2].strip()
        if key not in PAGE_FIELDS:
            raise ConfigError(f"page file {name}: unknown field {key!r}; the fields are {list(PAGE_FIELDS)}")
        if key in fields:
            raise ConfigError(f"page file {name}: field {key!r} is given twice")
        fields[key] = value
    missing = [key for key in PAGE_FIELDS if not fields.get(key)]
    if missing:
        raise ConfigError(f"page file {name}: no value for {missing} in its opening comment")
    if not fields["script"].endswith(".js") or fields["script"] not in assets():
        raise ConfigError(f"page file {name}: script={fields['script']!r} is not a module shipped in static/")
    return fields


def compose_page(page_file: Path, route: str, shell_file: Path = SHELL) -> str:
    """The HTML served at ``route``: ``page_file`` inside ``shell_file`` (see the module docstring).

    Raises:
        ConfigError: the page file lacks a field (or gives an unknown one, or no content), or the
            shell lacks a placeholder or holds one no page fills.

    """
    comment, content = _split_comment(page_file.read_text(encoding="utf-8"))
    fields = _page_fields(page_file.name, comment)
    content = content.rstrip()
    if not content:
        raise ConfigError(f"page file {page_file.name}: nothing follows its opening comment")
    shell = _split_comment(shell_file.read_text(encoding="utf-8"))[1]
    values = {**fields, "content": content}
    placeholders = _PLACEHOLDER.findall(shell)
    if sorted(placeholders) != sorted(values):
        raise ConfigError(
            f"{shell_file.name}: its placeholders {sorted(placeholders)} must be {sorted(values)}, each once"
        )
    shell = shell.replace(f'<a href="{route}">', f'<a href="{route}" aria-current="page">')
    return _PLACEHOLDER.sub(lambda match: values[match[1]], shell)


@lru_cache(maxsize=1)
def pages() -> dict[str, bytes]:
    """The HTML of every page route, composed once from the shell and the page files."""
    return {
        route: compose_page(STATIC_DIR / file_name, route).encode("utf-8")
        for route, file_name in PAGES.items()
    }


def _response(content: bytes, media_type: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={
            # revalidate every time: a new release is picked up without a hard reload
            "Cache-Control": "no-cache",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@lru_cache(maxsize=32)
def page_under(route: str, root: str) -> bytes:
    """The page at ``route`` for an API served under the path ``root`` (``""``: at the top).

    Its root-relative links and files (``href="/..."``, ``src="/..."``) get the prefix, and a
    ``<meta name="linecheck-root">`` tells the scripts (``api.js``'s ``appUrl``) where the API is.
    """
    html = pages()[route].decode("utf-8")
    if root:
        html = html.replace('href="/', f'href="{root}/').replace('src="/', f'src="{root}/')
    meta = f'<meta name="linecheck-root" content="{root}">'
    return html.replace('<meta charset="utf-8">', f'<meta charset="utf-8">\n  {meta}', 1).encode("utf-8")


def _page_route(route: str, file_name: str) -> Callable[[Request], Response]:
    def page(request: Request) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return _response(page_under(route, root), MEDIA_TYPES[".html"])

    page.__doc__ = f"The {file_name} page (inside shell.html)."
    return page


for _path, _file in PAGES.items():
    router.add_api_route(_path, _page_route(_path, _file), methods=["GET"], response_class=Response)


@router.get("/review/static/{name}", response_class=Response)
def static_file(name: str) -> Response:
    """A script or stylesheet of the pages (only the files shipped with linecheck)."""
    path = assets().get(name)
    if path is None:
        raise NotFoundError(f"name={name!r} is not a file of the review pages; known: {sorted(assets())}")
    return _response(path.read_bytes(), MEDIA_TYPES[path.suffix])
