"""Alembic environment: runs Muster's migrations on SQLite or PostgreSQL.

Where it sits: ``muster db upgrade`` (and ``alembic`` itself) land here. The URL comes from the settings
object (``MUSTER_DATABASE_URL``) unless the caller put a connection in ``config.attributes``. On
PostgreSQL each run takes an advisory lock, so two deploys cannot migrate at once, and sets lock and
statement timeouts so a migration never hangs behind a long transaction. SQLite uses batch mode so
ALTERs work.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import engine.store.models  # noqa: F401  (registers every table on SQLModel.metadata)
from engine.settings import get_settings
from engine.store.types import UTCDateTime
from engine.store.unit_of_work import make_engine

target_metadata = SQLModel.metadata
#: Any stable 64-bit number; held for the length of one migration run on PostgreSQL.
MIGRATION_LOCK_ID = 0x6D7573746572


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our column types as plain SQLAlchemy ones, so migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
    )


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(get_settings().database_url)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET lock_timeout = '10s'"))
            connection.execute(text("SET statement_timeout = '300s'"))
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
        try:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Muster runs migrations online only: set MUSTER_DATABASE_URL and run `muster db upgrade`.")
run_migrations_online()
