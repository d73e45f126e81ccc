"""FastAPI dependencies as ``Annotated`` aliases: the app context and the calling key by role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from linecheck.errors import AuthenticationError
from linecheck.serving.api.auth import READ_ROLES, require_role
from linecheck.serving.api.context import ApiContext
from linecheck.serving.api.ratelimit import RateLimitedError
from linecheck.serving.store.keys import KeyInfo

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


def get_context(request: Request) -> ApiContext:
    """The app's :class:`ApiContext`."""
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


async def current_key(
    request: Request,
    context: ContextDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_api_key_header)],
) -> KeyInfo:
    """The caller's key (401 when missing or not valid, 429 when it is over its rate limit).

    A client address that failed to authenticate too often gets 429 before its key is looked up.
    """
    key = bearer.credentials if bearer is not None else header
    info = context.auth.cached(key) if key else None
    if info is None:
        address = request.client.host if request.client is not None else "unknown"
        try:
            context.auth_failures.check(address)
        except RateLimitedError:
            context.metrics.auth_failures.labels("rate_limited").inc()
            raise
        try:
            info = await run_in_threadpool(context.auth.verify, key)
        except AuthenticationError:
            context.auth_failures.failed(address)
            context.metrics.auth_failures.labels("refused").inc()
            raise
    context.limiter.acquire(info.id)
    return info


KeyDep = Annotated[KeyInfo, Depends(current_key)]


async def line_key(key: KeyDep) -> KeyInfo:
    """A key with role ``line`` (403 otherwise)."""
    return require_role(key, ("line",), "writing line data")


async def reviewer_key(key: KeyDep) -> KeyInfo:
    """A key with role ``reviewer`` (403 otherwise)."""
    return require_role(key, ("reviewer",), "reviewing")


async def reader_key(key: KeyDep) -> KeyInfo:
    """Any valid key."""
    return require_role(key, READ_ROLES, "reading")


async def linking_key(key: KeyDep) -> KeyInfo:
    """A key with role ``line`` or ``reviewer`` (genealogy; which codes it may link is the service's rule)."""
    return require_role(key, ("line", "reviewer"), "linking codes")


LineKeyDep = Annotated[KeyInfo, Depends(line_key)]
ReviewerKeyDep = Annotated[KeyInfo, Depends(reviewer_key)]
ReaderKeyDep = Annotated[KeyInfo, Depends(reader_key)]
LinkingKeyDep = Annotated[KeyInfo, Depends(linking_key)]
