"""Inspections keep the product's geometry found in their frame.

* ``inspections.geometry``: on lines with ``geometry_mode: auto``, the geometry the inspector found
  in the frame (a PV module's cell grid, a bearing ring), as the line's kind writes it as JSON, so
  that a box a reviewer corrects or adds later is placed on the product with it. Null where the
  line YAML's geometry was used (fixed lines, frames showing no product) and for every inspection
  stored before this revision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Add the nullable ``inspections.geometry`` (plain ADD COLUMN: no table rebuild)."""
    op.add_column("inspections", sa.Column("geometry", JSON, nullable=True))


def downgrade() -> None:
    """Drop ``inspections.geometry`` (corrected boxes already stored keep their locations)."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("inspections", "geometry")
    else:  # SQLite >= 3.35 drops it in place, without rebuilding the table the defects refer to
        op.execute("ALTER TABLE inspections DROP COLUMN geometry")
