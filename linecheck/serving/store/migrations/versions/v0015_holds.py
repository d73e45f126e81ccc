"""Holds: containment of the units a line made in a suspect period, and their releases.

* ``holds``: the units with an inspection on ``line_id`` (of ``product``, when set) captured in
  [``since``, ``until``) are suspect and must not ship, for ``cause`` (a failed verification, an escape
  found by an audit, a customer complaint, other) with the person's ``reason``.
* ``hold_releases``: a release of a whole hold (``code`` null) or of one unit of it, with its comment.

Both are quality records, appended and never changed: like the reviews and the audits, the database
refuses UPDATE and DELETE (and, on SQLite, an INSERT that would replace a row; on PostgreSQL, TRUNCATE).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = ("holds", "hold_releases")


def _message(table: str) -> str:
    return f"{table} are an append-only record: add a release instead"


def upgrade() -> None:
    """Create both tables, their indexes and their append-only guards."""
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(64), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cause IN ('verification', 'escape', 'complaint', 'other')", name="cause"),
        sa.CheckConstraint("since < until", name="period"),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
    )
    op.create_index("ix_holds_line_id_since", "holds", ["line_id", "since"])
    op.create_table(
        "hold_releases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name="fk_hold_releases_hold_id_holds"),
        sa.PrimaryKeyConstraint("id", name="pk_hold_releases"),
    )
    op.create_index("ix_hold_releases_hold_id_code", "hold_releases", ["hold_id", "code"])
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(
                f"""
                CREATE FUNCTION linecheck_{table}_append_only() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '{_message(table)}';
                END;
                $$ LANGUAGE plpgsql
                """
            )
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION linecheck_{table}_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION linecheck_{table}_append_only()"
            )
        return
    for table in _TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{_message(table)}'); END"
            )
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{_message(table)}'); END"
        )


def downgrade() -> None:
    """Drop both tables (their guards with them)."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in reversed(_TABLES):
        if not postgres:
            for name in ("update", "delete", "replace"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{name}")
        op.drop_table(table)
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS linecheck_{table}_append_only()")
