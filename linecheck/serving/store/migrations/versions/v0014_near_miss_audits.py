"""Near misses: passed frames kept for audit because a detection came close to its threshold.

* ``inspections.audit_borderline``: the inspector kept a passed frame whose best detection scored
  within the line's ``audit.borderline`` of its class threshold (:mod:`linecheck.audit`); a frame
  may also be an ``audit_sample``. False for every inspection stored before. Near misses are
  audited like the samples (``audits``), but chosen by the model's own scores, so the escape rate
  reads the samples only.
* The audit queue's partial index covers both: ``ix_inspections_audit_sample`` (``audit_sample``)
  is replaced by ``ix_inspections_audit_kept`` on ``line_id``, ``captured_at`` where
  ``audit_sample OR audit_borderline``; the queue, the escape rate (samples) and the near-miss
  counts all read through it.

Downgrade drops the column and restores the samples' index; the inspections and their audits stay
(an audited near miss that was no sample is then no longer listed in the audit queue).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

_SAMPLES = "ix_inspections_audit_sample"
_KEPT = "ix_inspections_audit_kept"
#: The models' ``AUDIT_KEPT``, as this revision writes it.
_KEPT_WHERE = "audit_sample OR audit_borderline"


def _partial(name: str, where: str) -> None:
    op.create_index(
        name,
        "inspections",
        ["line_id", "captured_at"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    """Add the flag (plain ADD COLUMN with a constant default) and widen the queue's index to it."""
    op.add_column(
        "inspections",
        sa.Column("audit_borderline", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    _partial(_KEPT, _KEPT_WHERE)
    op.drop_index(_SAMPLES, table_name="inspections")


def downgrade() -> None:
    """Restore the samples' index, then drop the wider one and the flag; every row stays."""
    _partial(_SAMPLES, "audit_sample")
    op.drop_index(_KEPT, table_name="inspections")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("inspections", "audit_borderline")
    else:  # SQLite >= 3.35 drops it in place, without rebuilding the table the defects refer to
        op.execute("ALTER TABLE inspections DROP COLUMN audit_borderline")
