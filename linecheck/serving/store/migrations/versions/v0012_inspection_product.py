"""Inspections keep the product (recipe) their unit was judged as.

* ``inspections.product``: one of the line's ``products:`` (``PV-6x12``, ``6205-2RS``), whose
  thresholds, geometry and grade rules the inspector applied; the API grades the unit and locates
  a corrected box with that product's config. Null: the line's own config (a line with no
  products, and every inspection stored before this revision).
* Index on ``line_id``, ``product``, ``captured_at``: the inspections and the statistics of one
  product of a line (``GET /v1/inspections?line_id=&product=``, ``GET /v1/lines/{id}/stats?product=``),
  newest first or within a period.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_INDEX = "ix_inspections_line_id_product_captured_at"


def upgrade() -> None:
    """Add the nullable column (plain ADD COLUMN: no table rebuild) and the look-up index."""
    op.add_column("inspections", sa.Column("product", sa.String(64), nullable=True))
    op.create_index(_INDEX, "inspections", ["line_id", "product", "captured_at"])


def downgrade() -> None:
    """Drop the index and the column (the inspections stay, judged as the line's own config)."""
    op.drop_index(_INDEX, table_name="inspections")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("inspections", "product")
    else:  # SQLite >= 3.35 drops it in place, without rebuilding the table the defects refer to
        op.execute("ALTER TABLE inspections DROP COLUMN product")
