"""One mapping from linecheck errors to HTTP responses.

Every error body reads ``{"error": {"type", "field", "value", "message"}}``; when a request had
several bad fields (a batch) ``"errors"`` lists all of them and ``"error"`` is the first. ``value``
is an excerpt of what arrived (:func:`excerpt`): strict JSON, a few dozen characters at most, so a
megabyte sent never comes back and a ``NaN`` sent is named, not echoed.
"""

from __future__ import annotations

import logging
import math
import re
import reprlib
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from linecheck.contract import field_errors, field_path
from linecheck.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    GoneError,
    ImageStoreError,
    InvalidFieldError,
    LinecheckError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StateConflictError,
    StoreError,
    StoreFullError,
)
from linecheck.serving.api.ratelimit import KeyRateLimiter, RateLimitedError
from linecheck.serving.store.db import UNAVAILABLE_ERRORS, store_error
from linecheck.serving.store.images import ImageStoreFullError

log = logging.getLogger(__name__)

#: Most specific first: the first class an error is an instance of decides its status.
_STATUS: tuple[tuple[type[LinecheckError], int, str], ...] = (
    (InvalidFieldError, 422, "invalid_field"),
    (NotFoundError, 404, "not_found"),
    (GoneError, 410, "gone"),
    (ConflictError, 409, "conflict"),
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDeniedError, 403, "forbidden"),
    (PayloadTooLargeError, 413, "payload_too_large"),
    (RateLimitedError, 429, "rate_limited"),
    (ImageStoreFullError, 507, "image_store_full"),
    (StoreFullError, 507, "store_full"),
    (ImageStoreError, 503, "image_store_unavailable"),
    (StoreError, 503, "store_unavailable"),
    (ConfigError, 500, "config_error"),
)


class InvalidFieldsError(InvalidFieldError):
    """Several fields are invalid; ``field``/``value``/``reason`` are those of the first."""

    def __init__(self, errors: Sequence[InvalidFieldError]) -> None:
        if not errors:
            raise ValueError("InvalidFieldsError needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.field, first.value, first.reason)
        if len(self.errors) > 1:
            self.args = (f"{self.args[0]} (and {len(self.errors) - 1} more invalid fields)",)


class ConflictingIdsError(ConflictError):
    """Ids that are already stored with different content (``fields`` names where each came from)."""

    def __init__(self, fields: Sequence[tuple[str, str]]) -> None:
        self.fields = list(fields)
        ids = ", ".join(value for _, value in self.fields)
        super().__init__(f"already stored with different content: {ids}")


def from_validation_error(exc: ValidationError, *, skip: int = 0, prefix: str = "") -> InvalidFieldsError:
    """Turn a pydantic error into field errors (``skip`` leading loc parts, e.g. a union tag)."""
    return InvalidFieldsError(field_errors(exc, skip=skip, prefix=prefix))


#: Characters of a text value an error body repeats, and items of a list or object.
EXCERPT_CHARS = 80
EXCERPT_ITEMS = 8
#: Longest message of an error entry.
MESSAGE_MAX_CHARS = 500
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlevel = 2


def _cut(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` at most ``limit`` characters long, lone surrogates (not encodable) replaced."""
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text.encode("utf-8", "replace").decode("utf-8") if _SURROGATE.search(text) else text


def excerpt(value: Any, _depth: int = 0) -> Any:
    """``value`` as an error body may repeat it: strict JSON and short, whatever arrived.

    Small values stay as they are; long text is cut, non-finite numbers become ``"NaN"`` /
    ``"Infinity"``, and large or deep structures become a bounded ``repr``.
    """
    if value is None or isinstance(value, bool | str | int | float):
        if isinstance(value, str):
            return _cut(value)
        if isinstance(value, float) and not math.isfinite(value):
            return _NON_FINITE[repr(value)]
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            return _cut(str(value), 40)
        return value
    if _depth < 2 and isinstance(value, list | tuple) and len(value) <= EXCERPT_ITEMS:
        return [excerpt(item, _depth + 1) for item in value]
    if (
        _depth < 2
        and isinstance(value, dict)
        and len(value) <= EXCERPT_ITEMS
        and all(isinstance(k, str) and len(k) <= EXCERPT_CHARS for k in value)
    ):
        return {k: excerpt(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, bytes | bytearray):
        return _cut(bytes(value[:EXCERPT_CHARS]).hex())
    return _cut(_REPR.repr(value), 2 * EXCERPT_CHARS)


def _entry(kind: str, message: str, field: str | None = None, value: Any = None) -> dict[str, Any]:
    return {
        "type": kind,
        "field": field if field is None else _cut(field, 2 * EXCERPT_CHARS),
        "value": excerpt(value),
        "message": _cut(message, MESSAGE_MAX_CHARS),
    }


def error_response(exc: LinecheckError) -> JSONResponse:
    """The HTTP response for a linecheck error."""
    status, kind = 500, "internal_error"
    for cls, code, name in _STATUS:
        if isinstance(exc, cls):
            status, kind = code, name
            break
    body: dict[str, Any]
    if isinstance(exc, InvalidFieldError):
        errors = exc.errors if isinstance(exc, InvalidFieldsError) else [exc]
        entries = [_entry(kind, f"{e.field}={_short(e.value)}: {e.reason}", e.field, e.value) for e in errors]
        body = {"error": entries[0], "errors": entries}
    elif isinstance(exc, StateConflictError):
        entry = _entry(kind, f"{exc.field}={_short(exc.value)}: {exc.reason}", exc.field, exc.value)
        body = {"error": entry, "errors": [entry]}
    elif isinstance(exc, ConflictingIdsError):
        entries = [
            _entry(kind, f"{f}={v!r} is already stored with different content", f, v) for f, v in exc.fields
        ]
        body = {"error": entries[0], "errors": entries}
    else:
        body = {"error": _entry(kind, str(exc))}
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, RateLimitedError):
        headers = {"Retry-After": KeyRateLimiter.retry_after_header(exc.retry_after_s)}
    if status >= 500:
        log.error("request failed: %s", exc)
    return JSONResponse(body, status_code=status, headers=headers)


def _short(value: Any) -> str:
    return _cut(_REPR.repr(value), 120)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that map linecheck and request-validation errors to JSON bodies."""

    async def _linecheck(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, LinecheckError)
        return error_response(exc)

    async def _validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors: list[InvalidFieldError] = []
        for err in exc.errors():
            loc = list(err.get("loc", ()))
            if loc and loc[0] in ("query", "path", "body", "header"):
                loc = loc[1:]
            value = None if err.get("type") == "missing" else err.get("input")
            errors.append(InvalidFieldError(field_path(loc), value, str(err.get("msg", "invalid"))))
        return error_response(
            InvalidFieldsError(errors or [InvalidFieldError("body", None, "invalid request")])
        )

    async def _database(_request: Request, exc: Exception) -> JSONResponse:
        # a read that found the database gone or its disk full: 503 / 507, never a bare 500
        assert isinstance(exc, UNAVAILABLE_ERRORS)
        return error_response(store_error(exc))

    app.add_exception_handler(LinecheckError, _linecheck)
    for db_error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(db_error, _database)
    app.add_exception_handler(RequestValidationError, _validation)
