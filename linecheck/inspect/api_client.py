"""HTTP client for the traceability API's ingest endpoints (``/v1/inspections``, ``/v1/images``).

Every failure is classified once, here, into what the sender should do with it:

* :class:`ApiSendError` — worth retrying later: the API is unreachable, answered 5xx or 429,
  or refused the key (401/403: the inspections are fine, the credentials are not);
* :class:`ItemOutcome` with ``accepted=False`` — refused for good (409 same id with other
  content, 422 bad field, any other 4xx): kept in the outbox as ``rejected``.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from linecheck.errors import LinecheckError
from linecheck.inspect.clock import offset_from_date


class ApiSendError(LinecheckError):
    """A request to the API failed in a way that is worth retrying.

    Attributes:
        cause: ``connection``, ``server`` (5xx), ``image_store_full`` / ``store_full`` (507: the API's
            image store / database is out of space), ``rate_limited`` (429) or ``auth`` (401/403).
        retry_after_s: the server's ``Retry-After``, when it sent one.
        status: the HTTP status, when the API answered.

    """

    def __init__(
        self, message: str, *, cause: str, retry_after_s: float | None = None, status: int | None = None
    ) -> None:
        self.cause = cause
        self.retry_after_s = retry_after_s
        self.status = status
        super().__init__(message)

    @property
    def may_be_the_payload(self) -> bool:
        """A 5xx naming no outage (500, 501..., not 502/503/504/507): the request may be at fault."""
        return self.cause == "server" and self.status not in (502, 503, 504)


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemOutcome:
    """What the API said about one inspection."""

    id: str
    status: str  # created | duplicate | conflict | rejected
    error: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the API has the inspection (new or already)."""
        return self.status in {"created", "duplicate"}


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        field, value, message = err.get("field"), err.get("value"), err.get("message")
        where = f"{field}={value!r}: " if field else ""
        return f"HTTP {response.status_code}: {where}{message}"
    return f"HTTP {response.status_code}: {json.dumps(body)[:300]}"


def _full_cause(response: httpx.Response) -> str:
    """``image_store_full`` or ``store_full`` (the database), from a 507's error type."""
    try:
        body = response.json()
    except ValueError:
        return "image_store_full"
    err = body.get("error") if isinstance(body, dict) else None
    kind = err.get("type") if isinstance(err, dict) else None
    return "store_full" if kind == "store_full" else "image_store_full"


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class ApiClient:
    """A line's connection to the API (bearer key scoped to the line)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        ca_file: Path | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        # An https API signed by a plant's own CA: trust that CA's PEM file (else the system's CAs).
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport, verify=verify
        )
        self._wall_clock = wall_clock
        #: Called with the API's clock minus this PC's at each answer that carries a ``Date`` (the
        #: sender's :class:`~linecheck.inspect.clock.ClockWatch` keeps it).
        self.on_clock: Callable[[float], None] | None = None

    def _exchange(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; every answer also measures how far our clock is from the API's."""
        sent_at = self._wall_clock()
        response = self._http.request(method, path, **kwargs)
        offset = offset_from_date(response.headers.get("date"), sent_at, self._wall_clock())
        if offset is not None and self.on_clock is not None:
            self.on_clock(offset)
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._exchange(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiSendError(
                f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}", cause="connection"
            ) from exc
        status = response.status_code
        if status == 507:  # the API's image store or its database is out of space
            raise ApiSendError(f"{method} {path}: {_error_text(response)}", cause=_full_cause(response))
        if status >= 500:
            raise ApiSendError(f"{method} {path}: {_error_text(response)}", cause="server", status=status)
        if status == 429:
            raise ApiSendError(
                f"{method} {path}: rate limited", cause="rate_limited", retry_after_s=_retry_after(response)
            )
        if status in (401, 403):
            raise ApiSendError(
                f"{method} {path}: {_error_text(response)} (check the line's API key)", cause="auth"
            )
        return response

    def ready(self) -> bool:
        """Whether the API says it is ready (``/readyz``; ``/healthz`` on an API without it)."""
        for path in ("/readyz", "/healthz"):
            try:
                response = self._exchange("GET", path)
            except httpx.TransportError:
                return False
            if response.status_code != 404:
                return response.status_code == 200
        return False

    def upload_image(self, data: bytes, media_type: str) -> str | ItemOutcome:
        """Upload image bytes; returns the content ref, or an outcome when the API refused the image."""
        response = self._request("POST", "/v1/images", content=data, headers={"Content-Type": media_type})
        if response.status_code >= 400:
            return ItemOutcome(id="", status="rejected", error=_error_text(response))
        return str(response.json()["ref"])

    def post_inspection(self, payload: dict[str, Any]) -> ItemOutcome:
        """Send one inspection."""
        response = self._request("POST", "/v1/inspections", json=payload)
        return self._outcome(payload["id"], response)

    @staticmethod
    def _outcome(inspection_id: str, response: httpx.Response) -> ItemOutcome:
        status = response.status_code
        if status == 409:
            return ItemOutcome(id=inspection_id, status="conflict", error=_error_text(response))
        if status >= 400:
            return ItemOutcome(id=inspection_id, status="rejected", error=_error_text(response))
        body = response.json()
        answer = body.get("status") if isinstance(body, dict) else None
        return ItemOutcome(id=inspection_id, status="duplicate" if answer == "duplicate" else "created")

    def post_inspections(self, payloads: Sequence[dict[str, Any]]) -> list[ItemOutcome]:
        """Send a batch; a batch refused as a whole is resent item by item to isolate the bad one."""
        if len(payloads) == 1:
            return [self.post_inspection(payloads[0])]
        response = self._request("POST", "/v1/inspections", json={"inspections": list(payloads)})
        if response.status_code >= 400:
            return [self.post_inspection(p) for p in payloads]
        body = response.json()
        items = body.get("results", body.get("inspections")) if isinstance(body, dict) else body
        by_id: dict[str, str] = {}
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict) and "id" in item:
                    by_id[str(item["id"])] = str(item.get("status", "created"))
        outcomes = []
        for payload in payloads:
            answer = by_id.get(payload["id"])
            if answer in {"created", "duplicate"}:
                outcomes.append(ItemOutcome(id=payload["id"], status=answer))
            else:  # not confirmed item by item: ask again for this one (idempotent)
                outcomes.append(self.post_inspection(payload))
        return outcomes

    def verification(self, line_id: str) -> dict[str, Any] | None:
        """The line's error-proofing verification (``GET /v1/lines/{id}/verification``); None: it has none."""
        path = f"/v1/lines/{quote(line_id, safe='')}/verification"
        response = self._request("GET", path)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ApiSendError(
                f"GET {path}: {_error_text(response)}", cause="rejected", status=response.status_code
            )
        body = response.json()
        return body if isinstance(body, dict) else None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
