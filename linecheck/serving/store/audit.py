"""The review audit trail as a hash chain: every review row seals the one before it.

Each review row carries ``prev_hash`` (the ``hash`` of the review stored before it, in id order;
:data:`GENESIS` for the first) and ``hash``, the SHA-256 of the row's content and ``prev_hash``
(:func:`review_digest`). Changing, deleting or replacing a row without recomputing every hash
after it breaks the chain at that row, and :func:`check_chain` says where. Sealing is serialised
(a transaction-scoped advisory lock on PostgreSQL; SQLite has one writer), and ``prev_hash`` is
unique, so the chain never forks.

What it cannot do: someone who can write the database *and* recomputes the chain from the
altered row to the end is not detected by the chain alone. Record the tip
(``linecheck db verify`` prints it) somewhere the database's writers cannot reach; a later
``linecheck db verify --anchor TIP`` fails when that tip is no longer part of the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from linecheck.serving.store.models import Review
from linecheck.serving.store.repositories.base import table_of

#: ``prev_hash`` of the first review.
GENESIS = "0" * 64
#: Columns outside the sealed content: the row's id (its position is sealed by ``prev_hash``) and the seal.
_UNSEALED = frozenset({"id", "hash"})
#: Arbitrary constant naming the review chain's advisory lock on PostgreSQL.
_PG_CHAIN_LOCK = 0x72657663


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in a review: the store keeps aware UTC times")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def review_digest(row: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a review's content, ``prev_hash`` included.

    Every column but ``id`` and ``hash`` is sealed, by name; a column whose value is None is left
    out, so a nullable column added later leaves the seals of older rows valid.
    """
    content = {
        name: _canonical(value)
        for name, value in sorted(row.items())
        if name not in _UNSEALED and value is not None
    }
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def chain_tip(session: Session) -> str:
    """``hash`` of the newest review (:data:`GENESIS` when there is none)."""
    reviews = table_of(Review)
    tip = session.scalar(select(reviews.c.hash).order_by(reviews.c.id.desc()).limit(1))
    return str(tip) if tip is not None else GENESIS


def seal(session: Session, review: Review) -> None:
    """Link ``review`` (not yet flushed) to the chain's tip and set its hash.

    Holds the chain until the transaction ends (PostgreSQL advisory lock; SQLite write
    transactions are serial already), so two reviews can never claim the same predecessor.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK})
    session.flush()  # reviews added earlier in this transaction come first
    review.prev_hash = chain_tip(session)
    row = {column.key: getattr(review, column.key) for column in table_of(Review).columns}
    review.hash = review_digest(row)


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainProblem:
    """Where the chain does not hold, and how."""

    review_id: int
    defect_id: int
    problem: str

    def __str__(self) -> str:
        return f"review {self.review_id} (defect {self.defect_id}): {self.problem}"


def check_link(row: Mapping[str, Any], predecessor_hash: str | None) -> list[ChainProblem]:
    """Problems of one review row given the hash of the row before it (None: it is the first)."""
    problems = []
    expected_prev = predecessor_hash if predecessor_hash is not None else GENESIS
    if row["prev_hash"] != expected_prev:
        what = "the first review" if predecessor_hash is None else "the review before it"
        problems.append(
            ChainProblem(
                review_id=row["id"],
                defect_id=row["defect_id"],
                problem=f"does not follow {what} (a review was deleted, replaced or inserted here)",
            )
        )
    if review_digest(row) != row["hash"]:
        problems.append(
            ChainProblem(
                review_id=row["id"],
                defect_id=row["defect_id"],
                problem="its content does not match its hash (it was changed after it was written)",
            )
        )
    return problems


@dataclass(frozen=True, kw_only=True, slots=True)
class ChainReport:
    """The whole chain walked: how many rows, the tip, and what is broken."""

    reviews: int
    tip: str
    problems: list[ChainProblem]
    anchors_found: set[str]


def check_chain(rows: Iterable[Mapping[str, Any]], *, anchors: Iterable[str] = ()) -> ChainReport:
    """Walk review rows in id order; ``anchors`` are tips recorded earlier, expected in the chain."""
    wanted = set(anchors)
    found: set[str] = set()
    problems: list[ChainProblem] = []
    previous: str | None = None
    count = 0
    for row in rows:
        count += 1
        problems.extend(check_link(row, previous))
        previous = str(row["hash"])
        if previous in wanted:
            found.add(previous)
    return ChainReport(
        reviews=count,
        tip=previous if previous is not None else GENESIS,
        problems=problems,
        anchors_found=found,
    )


def all_reviews(session: Session, *, batch: int = 5000) -> Iterator[Mapping[str, Any]]:
    """Every review row in id order, as mappings, read in batches (constant memory)."""
    reviews = table_of(Review)
    last = None
    while True:
        query = select(reviews).order_by(reviews.c.id).limit(batch)
        if last is not None:
            query = query.where(reviews.c.id > last)
        rows = [dict(row._mapping) for row in session.execute(query)]
        if not rows:
            return
        yield from rows
        last = rows[-1]["id"]
