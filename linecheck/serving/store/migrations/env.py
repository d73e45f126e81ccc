"""Alembic environment: runs the migrations on the engine handed over by ``db.upgrade_head``.

Run from the command line (``alembic -x url=...``) it builds the engine from that URL. On SQLite
the migration transaction starts with ``BEGIN IMMEDIATE`` and on PostgreSQL it takes an advisory
lock, so that several API processes starting together migrate once.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from linecheck.serving.store.db import WRITE_OPTION, make_engine
from linecheck.serving.store.models import Base

#: Arbitrary constant naming linecheck's migration lock on PostgreSQL.
_PG_LOCK_KEY = 0x6C696E65


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if engine is not None:
        return engine
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database: pass -x url=<sqlalchemy url>")
    return make_engine(url)


def run_migrations_online() -> None:
    """Run every pending migration in one transaction."""
    engine = _engine().execution_options(**{WRITE_OPTION: True})
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            transactional_ddl=True,
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
