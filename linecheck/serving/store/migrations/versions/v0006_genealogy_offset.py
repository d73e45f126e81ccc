"""Genealogy links keep their posted UTC offset; inspection frame numbers are 64-bit everywhere.

* ``genealogy.at_tz``: the offset a link's time was posted with (EPCIS ``eventTimeZoneOffset``);
  links stored before this revision were posted without one kept: they read ``+00:00``.
* ``inspections.frame_seq`` becomes BIGINT on PostgreSQL (SQLite's INTEGER is 64-bit already): the
  contract accepts any 64-bit frame number, and a 32-bit column failed on larger ones.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``genealogy.at_tz`` (``+HH:MM``); widen ``inspections.frame_seq`` on PostgreSQL."""
    op.add_column(
        "genealogy", sa.Column("at_tz", sa.String(6), nullable=False, server_default="+00:00")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("inspections", "frame_seq", type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    """Drop ``genealogy.at_tz`` (``frame_seq`` stays 64-bit: narrowing could lose frame numbers)."""
    with op.batch_alter_table("genealogy") as batch:
        batch.drop_column("at_tz")
