"""API keys: generation, hashing at rest and lookup.

A key reads ``lc_<id>_<secret>``: ``id`` (12 hex) is public and is what writes are recorded
under; ``secret`` is 256 random bits, of which only the SHA-256 is stored. A salted slow hash is
not needed for secrets of that entropy (they cannot be guessed from a dictionary), and a fast one
keeps authentication cheap on the ingest path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linecheck.errors import AuthenticationError, InvalidFieldError, NotFoundError
from linecheck.serving.store.db import Database
from linecheck.serving.store.models import ApiKey, utcnow

Role = Literal["line", "reviewer", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)
_KEY_RE = re.compile(r"^lc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_LINE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyInfo:
    """Who is calling: the key's public id, its role and the lines it may write for."""

    id: str
    role: Role
    lines: tuple[str, ...]
    name: str = ""

    @property
    def actor(self) -> str:
        """What writes made with this key are recorded under."""
        return f"key:{self.id}"

    def may_write_line(self, line_id: str) -> bool:
        """A key with no lines is not limited to lines (reviewer/viewer); a line key only its own."""
        return not self.lines or line_id in self.lines


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a key's secret part."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_key(key: str) -> tuple[str, str]:
    """Split a presented key into (id, secret) or raise :class:`AuthenticationError`."""
    match = _KEY_RE.fullmatch(key.strip())
    if match is None:
        raise AuthenticationError("API key is malformed: expected lc_<12 hex>_<43 characters>")
    return match.group(1), match.group(2)


def check_role(role: str) -> Role:
    """Return ``role`` if it is a known role, else raise naming the accepted ones."""
    if role not in ROLES:
        raise InvalidFieldError("role", role, f"expected one of {', '.join(ROLES)}")
    return role


def _check_lines(role: Role, lines: Sequence[str]) -> tuple[str, ...]:
    for line_id in lines:
        if not _LINE_ID_RE.fullmatch(line_id):
            raise InvalidFieldError("line", line_id, "expected a line id like textile-01")
    if role == "line" and not lines:
        raise InvalidFieldError("line", None, "a key with role 'line' needs at least one line id")
    return tuple(dict.fromkeys(lines))


def create_key(
    target: Database | Session,
    role: str,
    line_id: str | Sequence[str] | None = None,
    *,
    name: str = "",
    created_by: str = "",
) -> str:
    """Create a key and return it in full; it cannot be shown again (only its hash is kept).

    ``target`` is a :class:`Database` (committed here) or a session (the caller commits).
    """
    checked_role = check_role(role)
    lines = [line_id] if isinstance(line_id, str) else list(line_id or [])
    checked_lines = _check_lines(checked_role, lines)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        id=key_id,
        secret_hash=hash_secret(secret),
        role=checked_role,
        lines=list(checked_lines),
        name=name,
        created_at=utcnow(),
        created_by=created_by,
    )
    if isinstance(target, Database):
        with target.writer() as session:
            session.add(row)
            session.commit()
    else:
        target.add(row)
        target.flush()
    return f"lc_{key_id}_{secret}"


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(id=row.id, role=check_role(row.role), lines=tuple(row.lines or ()), name=row.name)


def verify_key(session: Session, key: str) -> KeyInfo:
    """Return who ``key`` belongs to, or raise :class:`AuthenticationError` (unknown, wrong, revoked)."""
    key_id, secret = parse_key(key)
    row = session.get(ApiKey, key_id)
    if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(secret)):
        raise AuthenticationError(f"API key {key_id} is not valid")
    if row.revoked_at is not None:
        raise AuthenticationError(f"API key {key_id} was revoked at {row.revoked_at.isoformat()}")
    return _info(row)


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyListing:
    """A stored key as listed to an operator (never its secret)."""

    info: KeyInfo
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def list_keys(session: Session) -> list[KeyListing]:
    """Every key, oldest first."""
    rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()
    return [
        KeyListing(info=_info(r), created_at=r.created_at, created_by=r.created_by, revoked_at=r.revoked_at)
        for r in rows
    ]


def revoke_key(session: Session, key_id: str) -> None:
    """Mark a key revoked (kept for the record of who wrote what); the caller commits."""
    result = session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    if result.rowcount == 0 and session.get(ApiKey, key_id) is None:  # type: ignore[attr-defined]
        raise NotFoundError(f"API key id={key_id!r} does not exist")
