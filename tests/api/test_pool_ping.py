"""PostgreSQL's pool pings a connection only after it sat idle: one the server dropped meanwhile is replaced before
a request uses it, and one in constant use costs no extra round trip.

Where it sits: :func:`engine.store.unit_of_work.make_engine` (its checkout and checkin listeners), on the test
PostgreSQL server; the backend is dropped with ``pg_terminate_backend``, as a server restart would.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from engine.store import unit_of_work
from engine.store.unit_of_work import make_engine


@pytest.fixture
def engine(postgres_server_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_server_url)
    yield engine
    engine.dispose()


def _backend_of(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _drop(engine: Engine, pid: int) -> None:
    killer = sa.create_engine(engine.url.render_as_string(hide_password=False), poolclass=sa.pool.NullPool)
    with killer.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    killer.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unit_of_work, "PING_AFTER_IDLE_S", 0.0)
    first = _backend_of(engine)
    _drop(engine, first)
    second = _backend_of(engine)  # the pooled connection was pinged, found dead and replaced: no error
    assert second != first


def test_a_connection_in_constant_use_is_not_pinged(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within the idle time nothing checks the connection, so one dropped meanwhile fails its next statement
    (what a request then answers: 503, retry); the pool then starts afresh."""
    monkeypatch.setattr(unit_of_work, "PING_AFTER_IDLE_S", 3600.0)
    first = _backend_of(engine)
    _drop(engine, first)
    with pytest.raises(OperationalError):
        _backend_of(engine)
    assert _backend_of(engine) != first
