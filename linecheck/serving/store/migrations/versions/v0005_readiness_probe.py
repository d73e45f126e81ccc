"""The row ``/readyz`` rewrites: proof that the store takes a write (disk not full, not read-only).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``readiness_probe``."""
    op.create_table(
        "readiness_probe",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_readiness_probe"),
    )


def downgrade() -> None:
    """Drop ``readiness_probe``."""
    op.drop_table("readiness_probe")
