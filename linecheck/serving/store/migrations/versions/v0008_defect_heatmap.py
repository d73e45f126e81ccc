"""Anomaly defects keep the heat map of their region next to their crop.

* ``defects.heatmap_ref``: the SHA-256 ref of a JPEG heat map of the anomaly region over the crop
  (the crop's box), uploaded like the crop. Null for detector and classifier defects, for defects
  drawn by reviewers and for every defect stored before this revision.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the nullable ``defects.heatmap_ref``."""
    op.add_column("defects", sa.Column("heatmap_ref", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop ``defects.heatmap_ref`` (the heat map images stay in the image store)."""
    with op.batch_alter_table("defects") as batch:
        batch.drop_column("heatmap_ref")
