"""Images expire by retention while their records stay.

* ``images.expired_at`` / ``expired_by``: when the image retention expired the image and by which
  setting (``GET /v1/images/{ref}`` answers 410 from then on); ``images.file_deleted_at``: when its
  file was deleted (expired but not yet deleted: a run that stopped half-way, finished by the next).
* ``inspections.image_expired_at``, ``defects.crop_expired_at`` / ``heatmap_expired_at``: the
  records say that their frame / crop / heat map expired; the refs themselves are kept.
* Partial indexes: the records whose images are still stored, oldest first (what a run walks; pass
  frames apart from the others, as they expire by another setting), and by ref (who else holds an image: images are content-addressed and may be shared); images not
  expired by upload time (unreferenced uploads) and expired images whose file is left to delete.

Every column is null for rows stored before this revision: nothing has expired.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_LIVE_FRAME = "image_ref IS NOT NULL AND image_expired_at IS NULL"
_PASS = f"{_LIVE_FRAME} AND verdict = 'pass' AND defect_count = 0"
_OTHER = f"{_LIVE_FRAME} AND (verdict <> 'pass' OR defect_count <> 0)"
_LIVE_CROP = "crop_ref IS NOT NULL AND crop_expired_at IS NULL"
_LIVE_HEATMAP = "heatmap_ref IS NOT NULL AND heatmap_expired_at IS NULL"

#: (name, table, columns, predicate) of each partial index.
_INDEXES = (
    ("ix_inspections_pass_image_live", "inspections", ["captured_at", "id"], _PASS),
    ("ix_inspections_other_image_live", "inspections", ["captured_at", "id"], _OTHER),
    ("ix_inspections_image_ref_live", "inspections", ["image_ref"], _LIVE_FRAME),
    ("ix_defects_images_live", "defects", ["captured_at", "id"], f"({_LIVE_CROP}) OR ({_LIVE_HEATMAP})"),
    ("ix_defects_crop_ref_live", "defects", ["crop_ref"], _LIVE_CROP),
    ("ix_defects_heatmap_ref_live", "defects", ["heatmap_ref"], _LIVE_HEATMAP),
    ("ix_images_live_created_at", "images", ["created_at", "ref"], "expired_at IS NULL"),
    ("ix_images_expired_file_left", "images", ["ref"], "expired_at IS NOT NULL AND file_deleted_at IS NULL"),
)
#: (table, columns) added, in order.
_COLUMNS = (
    ("images", ("expired_at", "expired_by", "file_deleted_at")),
    ("inspections", ("image_expired_at",)),
    ("defects", ("crop_expired_at", "heatmap_expired_at")),
)


def upgrade() -> None:
    """Add the nullable columns (plain ADD COLUMN: no table rebuild), then the partial indexes."""
    for table, columns in _COLUMNS:
        for column in columns:
            kind = sa.String(200) if column == "expired_by" else sa.DateTime(timezone=True)
            op.add_column(table, sa.Column(column, kind, nullable=True))
    for name, table, indexed, where in _INDEXES:
        op.create_index(name, table, indexed, sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def downgrade() -> None:
    """Drop the indexes and the columns (files already deleted stay deleted; their refs stay)."""
    for name, table, _columns, _where in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    for table, columns in reversed(_COLUMNS):
        for column in reversed(columns):
            if op.get_bind().dialect.name == "postgresql":
                op.drop_column(table, column)
            else:  # SQLite >= 3.35 drops it in place, without rebuilding a table others refer to
                op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
