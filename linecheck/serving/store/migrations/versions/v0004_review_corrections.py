"""Reviewers correct boxes and add missed defects; golden samples per station.

* ``defects.final_bbox`` / ``final_location``: the box (and its location on the product) after a
  reviewer moved or resized it; NULL means the model's box stands.
* ``defects.source``: ``model`` (detected) or ``reviewer`` (drawn by a person); ``created_by``
  names the reviewer's key for the latter.
* ``reviews.bbox``: the box a decision set (appended like every review; the history stays).
* ``golden_samples``: the reference good image of a line's station, newest row wins.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    """Add the correction columns (plain ADD COLUMN: no table rebuild, the review triggers stay)."""
    op.add_column("defects", sa.Column("final_bbox", JSON, nullable=True))
    op.add_column("defects", sa.Column("final_location", JSON, nullable=True))
    op.add_column("defects", sa.Column("source", sa.String(16), nullable=False, server_default="model"))
    op.add_column("defects", sa.Column("created_by", sa.String(64), nullable=True))
    op.add_column("reviews", sa.Column("bbox", JSON, nullable=True))
    op.create_table(
        "golden_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("image_ref", sa.String(64), nullable=False),
        sa.Column("inspection_id", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["line_id"], ["lines.id"], name="fk_golden_samples_line_id_lines"),
        sa.PrimaryKeyConstraint("id", name="pk_golden_samples"),
    )
    op.create_index("ix_golden_samples_line_id_station_id", "golden_samples", ["line_id", "station", "id"])


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_index("ix_golden_samples_line_id_station_id", table_name="golden_samples")
    op.drop_table("golden_samples")
    with op.batch_alter_table("defects") as batch:
        batch.drop_column("created_by")
        batch.drop_column("source")
        batch.drop_column("final_location")
        batch.drop_column("final_bbox")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("reviews", "bbox")
    else:  # SQLite >= 3.35 drops a column in place (a batch rebuild would trip the append-only triggers)
        op.execute("ALTER TABLE reviews DROP COLUMN bbox")
