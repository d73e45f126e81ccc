"""Inspections keep the trigger their unit came with and the encoder count at it.

* ``inspections.trigger_id``: the PLC's measurement / job id (OPC UA ``StartSingleJob`` ``MeasId``,
  ``POST /trigger``'s ``trigger_id``), or ``<station>:<seq>`` for a free-running camera's frame:
  what a PLC's own log names the unit by, so that the record of a unit the PLC triggered is found
  from that log (``GET /v1/inspections?line_id=...&trigger_id=...``; index on both).
* ``inspections.encoder_count``: the line encoder's count at the trigger (64-bit, may be negative:
  a PLC's signed counter wraps).

Both null for every inspection stored before this revision and for clients that send neither.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_INDEX = "ix_inspections_line_id_trigger_id"


def upgrade() -> None:
    """Add the two nullable columns (plain ADD COLUMN: no table rebuild) and the look-up index."""
    op.add_column("inspections", sa.Column("trigger_id", sa.String(128), nullable=True))
    op.add_column(
        "inspections",
        sa.Column("encoder_count", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    )
    op.create_index(_INDEX, "inspections", ["line_id", "trigger_id"])


def downgrade() -> None:
    """Drop the index and the two columns."""
    op.drop_index(_INDEX, table_name="inspections")
    for column in ("encoder_count", "trigger_id"):
        if op.get_bind().dialect.name == "postgresql":
            op.drop_column("inspections", column)
        else:  # SQLite >= 3.35 drops it in place, without rebuilding the table the defects refer to
            op.execute(f"ALTER TABLE inspections DROP COLUMN {column}")
