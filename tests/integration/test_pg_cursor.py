"""PostgreSQL engines describe results lazily: the same description as psycopg's, built only when read.

Where it sits: ``tests/integration``, on PostgreSQL only (the cursor is psycopg's). :mod:`engine.store.pg_cursor`
is what :func:`engine.store.unit_of_work.make_engine` hands psycopg.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from engine.store import pg_cursor
from engine.store.unit_of_work import make_engine


def _dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def test_the_description_is_psycopgs_own_even_read_after_the_next_statement(postgres_server_url: str) -> None:
    with psycopg.connect(_dsn(postgres_server_url), cursor_factory=pg_cursor.Cursor, autocommit=True) as conn:
        cur = conn.cursor()
        assert isinstance(cur, pg_cursor.Cursor)
        cur.execute("select 1 as one, 'a'::text as two, now() as three")
        lazy = cur.description
        assert lazy is not None and len(lazy) == 3
        cur.execute("select 2 as other")  # the first description still describes the first result
        plain = psycopg.ClientCursor(conn)
        plain.execute("select 1 as one, 'a'::text as two, now() as three")
        assert [tuple(c) for c in lazy] == [tuple(c) for c in plain.description or []]
        assert [c.name for c in lazy] == ["one", "two", "three"] and lazy[1].type_code == plain.description[1].type_code
        cur.execute("select")  # rows, but no column
        assert cur.description is not None and list(cur.description) == []
        cur.execute("set search_path to public")  # no rows at all
        assert cur.description is None


def test_a_statement_run_again_builds_no_column(postgres_server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLAlchemy reads a statement's columns the first time it runs it, and later only asks whether there are
    any: the columns of the later runs are never built."""
    built: list[int] = []

    class Counted(psycopg.Column):
        def __init__(self, cursor: Any, index: int) -> None:
            built.append(index)
            super().__init__(cursor, index)

    monkeypatch.setattr(pg_cursor, "Column", Counted)
    engine = make_engine(postgres_server_url)
    statement = sa.select(sa.literal(7).label("seven"), sa.func.lower("AB").label("ab"))
    try:
        with engine.connect() as conn:
            assert conn.execute(statement).one()._asdict() == {"seven": 7, "ab": "ab"}
            first = len(built)
            assert first >= 2  # its two columns (and those of the dialect's first-connect queries)
            for _ in range(3):
                assert conn.execute(statement).one() == (7, "ab")
            assert len(built) == first
    finally:
        engine.dispose()
