"""Pass audits: passed frames kept for a person to audit, and the audits, an append-only trail.

* ``inspections.audit_sample``: the inspector kept the frame of a passed unit for audit (the line's
  ``audit.pass_sample``, :mod:`linecheck.audit`); false for every inspection stored before.
* ``audits``: a person's audit of one such frame, ``ok`` (nothing missed) or ``escape`` (the model
  missed the defect the reviewer drew on the frame); the newest row of an inspection is its audit.
  Like the reviews, the database refuses UPDATE and DELETE (and, on SQLite, an INSERT that would
  replace a row; on PostgreSQL, TRUNCATE): a re-audit is a new row.
* Partial index on ``line_id``, ``captured_at`` of the audit samples: the audit queue and the escape
  rate of a line read the samples only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

_SAMPLES = "ix_inspections_audit_sample"
_APPEND_ONLY = "audits are an append-only trail: add a new audit instead"
_NO_REPLACE = "audits are an append-only trail: an audit row cannot be replaced"


def upgrade() -> None:
    """Add the column (plain ADD COLUMN with a constant default), the table, its guards and the indexes."""
    op.add_column(
        "inspections", sa.Column("audit_sample", sa.Boolean(), nullable=False, server_default=sa.text("false"))
    )
    op.create_index(
        _SAMPLES,
        "inspections",
        ["line_id", "captured_at"],
        sqlite_where=sa.text("audit_sample"),
        postgresql_where=sa.text("audit_sample"),
    )
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("inspection_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"], ["inspections.id"], name="fk_audits_inspection_id_inspections"
        ),
        sa.CheckConstraint("outcome IN ('ok', 'escape')", name="outcome"),  # ck_audits_outcome
        sa.PrimaryKeyConstraint("id", name="pk_audits"),
    )
    op.create_index("ix_audits_inspection_id_id", "audits", ["inspection_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION linecheck_audits_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{_APPEND_ONLY}';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audits_append_only BEFORE UPDATE OR DELETE ON audits "
            "FOR EACH ROW EXECUTE FUNCTION linecheck_audits_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audits_no_truncate BEFORE TRUNCATE ON audits "
            "FOR EACH STATEMENT EXECUTE FUNCTION linecheck_audits_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audits_no_{action.lower()} BEFORE {action} ON audits "
            f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
        )
    op.execute(
        "CREATE TRIGGER audits_no_replace BEFORE INSERT ON audits "
        "WHEN EXISTS (SELECT 1 FROM audits WHERE id = NEW.id) "
        f"BEGIN SELECT RAISE(ABORT, '{_NO_REPLACE}'); END"
    )


def downgrade() -> None:
    """Drop the audits (their guards with them), the index and the column; the inspections stay."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("audits")  # its triggers go with it
        op.execute("DROP FUNCTION IF EXISTS linecheck_audits_append_only()")
        op.drop_index(_SAMPLES, table_name="inspections")
        op.drop_column("inspections", "audit_sample")
        return
    for name in ("update", "delete", "replace"):
        op.execute(f"DROP TRIGGER IF EXISTS audits_no_{name}")
    op.drop_table("audits")
    op.drop_index(_SAMPLES, table_name="inspections")
    op.execute("ALTER TABLE inspections DROP COLUMN audit_sample")  # in place (SQLite >= 3.35)
