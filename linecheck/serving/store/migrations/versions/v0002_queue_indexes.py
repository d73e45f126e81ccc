"""Review-queue indexes in arrival order; the class index follows the reviewed class.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Replace the capture-time queue index by id-ordered ones; index final_class instead of class_name."""
    op.drop_index("ix_defects_review_state_line_id_captured_at", table_name="defects")
    op.drop_index("ix_defects_class_name", table_name="defects")
    op.create_index("ix_defects_review_state_id", "defects", ["review_state", "id"])
    op.create_index("ix_defects_review_state_line_id_id", "defects", ["review_state", "line_id", "id"])
    op.create_index("ix_defects_final_class", "defects", ["final_class"])


def downgrade() -> None:
    """Restore the 0001 indexes."""
    op.drop_index("ix_defects_final_class", table_name="defects")
    op.drop_index("ix_defects_review_state_line_id_id", table_name="defects")
    op.drop_index("ix_defects_review_state_id", table_name="defects")
    op.create_index("ix_defects_class_name", "defects", ["class_name"])
    op.create_index(
        "ix_defects_review_state_line_id_captured_at", "defects", ["review_state", "line_id", "captured_at"]
    )
