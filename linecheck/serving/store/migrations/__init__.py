"""Alembic migrations of the traceability store (run by ``linecheck.serving.store.db.upgrade_head``)."""
