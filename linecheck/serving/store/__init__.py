"""Traceability store: SQLAlchemy models, Alembic migrations, repositories, API keys and images."""
