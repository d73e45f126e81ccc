"""Reading raw request bodies with a size limit (ingest and image upload parse their own bodies)."""

from __future__ import annotations

from fastapi import Request

from linecheck.errors import PayloadTooLargeError


async def read_body(request: Request, limit: int) -> bytes:
    """The raw request body, or :class:`PayloadTooLargeError` once it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
