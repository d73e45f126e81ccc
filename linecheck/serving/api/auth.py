"""API-key authentication with a short in-memory cache, and role checks.

Roles: ``line`` writes inspections, images, genealogy and process events for its own lines;
``reviewer`` reviews defects and assigns codes; ``viewer`` only reads. Every role may read.
"""

from __future__ import annotations

import hashlib
import threading
import time

from linecheck.errors import AuthenticationError, PermissionDeniedError
from linecheck.serving.store.db import Database
from linecheck.serving.store.keys import KeyInfo, Role, verify_key

READ_ROLES: tuple[Role, ...] = ("line", "reviewer", "viewer")


class Authenticator:
    """Verifies presented keys against the store, remembering good ones for ``ttl_s`` seconds."""

    def __init__(self, db: Database, *, ttl_s: float) -> None:
        self._db = db
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, KeyInfo]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _fingerprint(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def cached(self, key: str) -> KeyInfo | None:
        """The cached identity of ``key`` if it was verified less than ``ttl_s`` ago."""
        if self._ttl <= 0:
            return None
        fingerprint = self._fingerprint(key)
        with self._lock:
            hit = self._cache.get(fingerprint)
            if hit is None:
                return None
            if time.monotonic() - hit[0] > self._ttl:
                del self._cache[fingerprint]
                return None
            return hit[1]

    def verify(self, key: str | None) -> KeyInfo:
        """Identity of ``key`` (cache first, then the store); :class:`AuthenticationError` if none."""
        if not key:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
        hit = self.cached(key)
        if hit is not None:
            return hit
        with self._db.reader() as session:
            info = verify_key(session, key)
        if self._ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[self._fingerprint(key)] = (time.monotonic(), info)
        return info


def require_role(key: KeyInfo, roles: tuple[Role, ...], action: str) -> KeyInfo:
    """Return ``key`` if its role may do ``action``, else raise :class:`PermissionDeniedError`."""
    if key.role not in roles:
        wanted = " or ".join(repr(r) for r in roles)
        raise PermissionDeniedError(f"API key {key.id} has role {key.role!r}; {action} needs role {wanted}")
    return key


def require_line(key: KeyInfo, line_id: str, *, field: str = "line_id") -> None:
    """Raise :class:`PermissionDeniedError` unless ``key`` may write for ``line_id``."""
    if not key.may_write_line(line_id):
        raise PermissionDeniedError(
            f"{field}={line_id!r}: API key {key.id} may only write for lines {list(key.lines)}"
        )
