"""Images are sniffed by decoding them, and no response may be content-sniffed by a browser."""

from __future__ import annotations

import hashlib
import struct
import zlib

import cv2
import httpx
import numpy as np
import pytest
from rel_helpers import auth, noise_png


def _jpeg(side: int = 64) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((side, side, 3), 120, np.uint8))
    assert ok
    return buf.tobytes()


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HTML = b"<html><script>alert(document.cookie)</script></html>"


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and an IHDR chunk claiming ``width`` x ``height`` (nothing else)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return PNG_MAGIC + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


BAD = {
    "png-magic-then-html": (PNG_MAGIC + HTML, "image/png"),
    "jpeg-magic-then-html": (b"\xff\xd8\xff\xe0" + HTML, "image/jpeg"),
    "png-truncated": (noise_png(5, 64)[:300], "image/png"),
    "jpeg-truncated": (_jpeg()[:200], "image/jpeg"),
    "png-header-only": (_png_header(64, 64), "image/png"),
    "png-bomb-header": (_png_header(60_000, 60_000) + b"\x00" * 64, "image/png"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bodies_that_do_not_decode_are_refused(api_server, keys, name) -> None:
    data, content_type = BAD[name]
    with api_server() as base:
        answer = httpx.post(
            f"{base}/v1/images",
            content=data,
            headers={**auth(keys["textile"]), "Content-Type": content_type},
            timeout=30,
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "body"
        assert HTML.decode() not in answer.text
        ref = hashlib.sha256(data).hexdigest()
        got = httpx.get(f"{base}/v1/images/{ref}", headers=auth(keys["viewer"]), timeout=30)
        assert got.status_code == 404


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_real_images_are_stored_and_served_with_nosniff(api_server, keys, kind) -> None:
    data = noise_png(6, 64) if kind == "png" else _jpeg()
    with api_server() as base:
        answer = httpx.post(
            f"{base}/v1/images",
            content=data,
            headers={**auth(keys["textile"]), "Content-Type": f"image/{kind}"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        got = httpx.get(f"{base}/v1/images/{answer.json()['ref']}", headers=auth(keys["viewer"]), timeout=30)
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == f"image/{kind}"
        assert got.headers["x-content-type-options"] == "nosniff"


def test_every_response_carries_nosniff(api_server, keys) -> None:
    with api_server() as base, httpx.Client(base_url=base, timeout=30) as http:
        answers = [
            http.get("/healthz"),
            http.get("/metrics"),
            http.get("/openapi.json"),
            http.get("/docs"),
            http.get("/review"),
            http.get("/v1/lines", headers=auth(keys["viewer"])),
            http.get("/v1/lines"),  # 401
            http.get("/v1/lines/nope", headers=auth(keys["viewer"])),  # 404
            http.get("/no/such/route"),  # the framework's own 404
            http.post("/v1/inspections", json={}, headers=auth(keys["textile"])),  # 422
            http.post("/v1/inspections", json={}, headers=auth(keys["viewer"])),  # 403
            http.request("DELETE", "/v1/lines"),  # 405
        ]
        for answer in answers:
            assert answer.headers.get("x-content-type-options") == "nosniff", (
                answer.request.method,
                answer.request.url,
                answer.status_code,
            )
