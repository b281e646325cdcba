"""Shared fixtures: databases (SQLite and PostgreSQL), Redis, and a clean schema per test.

Where it sits: every test package uses these. ``db_url`` is parametrized over both stacks, so a test
that takes it runs on SQLite and on PostgreSQL. The PostgreSQL database is created fresh for the run
(``muster_test_<pid>``) and dropped at the end; tables are emptied between tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import engine.store.models  # noqa: F401  (registers tables)
from engine.store.migrations import stamp_head_on
from engine.store.unit_of_work import make_engine
from tests.services import PG_ADMIN_URL, REDIS_URL, require

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The sample customer data lives beside the repository (../shared/data), in a clone as in CI.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _psycopg_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@contextmanager
def throwaway_postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database, yield its URL, drop it (skips if PostgreSQL is absent)."""
    require("PostgreSQL", PG_ADMIN_URL, 5432)
    name = f"muster_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(_psycopg_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = _psycopg_url(PG_ADMIN_URL).rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of the PostgreSQL database shared by this test run's ``db_url`` tests."""
    with throwaway_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis database reserved for tests (flushed by the tests that use it)."""
    require("Redis", REDIS_URL, 6379)
    return REDIS_URL


_schema_ready: dict[str, Engine] = {}


def _engine_for(url: str) -> Engine:
    if url not in _schema_ready:
        engine = make_engine(url)
        SQLModel.metadata.create_all(engine)
        stamp_head_on(engine)  # built from the models, which match the migrations (test_migrations): at head
        _schema_ready[url] = engine
    return _schema_ready[url]


def _empty_tables(engine: Engine) -> None:
    tables = list(reversed(SQLModel.metadata.sorted_tables))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL on each stack: a SQLite file, then the run's PostgreSQL database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_server_url"))
    path = tmp_path_factory.getbasetemp() / "muster-tests.db"
    return f"sqlite:///{path}"


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` with the full schema and no rows."""
    engine = _engine_for(db_url)
    _empty_tables(engine)
    yield engine
    _empty_tables(engine)


@pytest.fixture
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An empty-schema SQLite engine, for tests that do not need both stacks."""
    engine = _engine_for(f"sqlite:///{tmp_path_factory.getbasetemp() / 'muster-tests.db'}")
    _empty_tables(engine)
    yield engine
    _empty_tables(engine)
