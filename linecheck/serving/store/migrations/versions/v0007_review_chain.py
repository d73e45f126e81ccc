"""Reviews become a hash chain, and the audit trail's guards close the gaps found below the API.

* ``reviews.prev_hash`` / ``reviews.hash``: each row seals its content and the hash of the row
  before it (``linecheck.serving.store.audit``); existing rows are sealed here, in id order.
  ``prev_hash`` is unique: the chain cannot fork.
* SQLite: ``INSERT OR REPLACE`` deleted a review without firing the delete trigger; a BEFORE
  INSERT trigger now refuses an insert that would replace a row (same id or same predecessor).
* PostgreSQL: ``TRUNCATE`` bypassed the row triggers; a statement trigger refuses it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from linecheck.serving.store.audit import GENESIS, review_digest
from linecheck.serving.store.models import JSONType, UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_APPEND_ONLY = "reviews are an append-only audit trail: add a new review instead"
_NO_REPLACE = "reviews are an append-only audit trail: a review row cannot be replaced"

#: The reviews table as it is at this revision (later columns must not be read here).
_REVIEWS = sa.table(
    "reviews",
    sa.column("id", sa.Integer()),
    sa.column("defect_id", sa.Integer()),
    sa.column("decision", sa.String()),
    sa.column("new_class", sa.String()),
    sa.column("reviewer", sa.String()),
    sa.column("at", UTCDateTime()),
    sa.column("comment", sa.Text()),
    sa.column("bbox", JSONType),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def _seal_existing(bind: sa.Connection) -> None:
    previous = GENESIS
    rows = [dict(r._mapping) for r in bind.execute(sa.select(_REVIEWS).order_by(_REVIEWS.c.id))]
    for row in rows:
        row["prev_hash"] = previous
        row["hash"] = review_digest(row)
        bind.execute(
            _REVIEWS.update().where(_REVIEWS.c.id == row["id"]).values(prev_hash=previous, hash=row["hash"])
        )
        previous = row["hash"]


def upgrade() -> None:
    """Add and fill the chain columns, index them, add the REPLACE / TRUNCATE guards."""
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    op.add_column("reviews", sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""))
    op.add_column("reviews", sa.Column("hash", sa.String(64), nullable=False, server_default=""))
    # sealing existing rows is an UPDATE, which the append-only triggers refuse: lift them meanwhile
    if postgres:
        op.execute("ALTER TABLE reviews DISABLE TRIGGER reviews_append_only")
        _seal_existing(bind)
        op.execute("ALTER TABLE reviews ENABLE TRIGGER reviews_append_only")
        op.alter_column("reviews", "prev_hash", server_default=None)
        op.alter_column("reviews", "hash", server_default=None)
    else:
        op.execute("DROP TRIGGER reviews_no_update")
        _seal_existing(bind)
        op.execute(
            "CREATE TRIGGER reviews_no_update BEFORE UPDATE ON reviews "
            f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        )
    op.create_index("uq_reviews_prev_hash", "reviews", ["prev_hash"], unique=True)
    if postgres:
        op.execute(
            "CREATE TRIGGER reviews_no_truncate BEFORE TRUNCATE ON reviews "
            "FOR EACH STATEMENT EXECUTE FUNCTION linecheck_reviews_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER reviews_no_replace BEFORE INSERT ON reviews "
            "WHEN EXISTS (SELECT 1 FROM reviews WHERE id = NEW.id) "
            "OR EXISTS (SELECT 1 FROM reviews WHERE prev_hash = NEW.prev_hash) "
            f"BEGIN SELECT RAISE(ABORT, '{_NO_REPLACE}'); END"
        )


def downgrade() -> None:
    """Drop the guards, the index and the chain columns."""
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS reviews_no_truncate ON reviews")
    else:
        op.execute("DROP TRIGGER IF EXISTS reviews_no_replace")
    op.drop_index("uq_reviews_prev_hash", table_name="reviews")
    if postgres:
        op.drop_column("reviews", "hash")
        op.drop_column("reviews", "prev_hash")
    else:  # in place (a batch rebuild would trip the append-only triggers)
        op.execute("ALTER TABLE reviews DROP COLUMN hash")
        op.execute("ALTER TABLE reviews DROP COLUMN prev_hash")
