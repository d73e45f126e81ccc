"""Reviews are an audit trail: the database refuses UPDATE and DELETE on them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_MESSAGE = "reviews are an append-only audit trail: add a new review instead"


def upgrade() -> None:
    """Triggers that abort any UPDATE or DELETE of a review row (SQLite and PostgreSQL)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION linecheck_reviews_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{_MESSAGE}';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON reviews "
            "FOR EACH ROW EXECUTE FUNCTION linecheck_reviews_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER reviews_no_{action.lower()} BEFORE {action} ON reviews "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )


def downgrade() -> None:
    """Drop the triggers."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS reviews_append_only ON reviews")
        op.execute("DROP FUNCTION IF EXISTS linecheck_reviews_append_only()")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS reviews_no_{action}")
