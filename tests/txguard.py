"""Test guard: no HTTP request may start while a database transaction is open in the same thread.

Where it sits: test support, installed by ``tests/integration/conftest.py`` (autouse) for every in-process
integration test. It counts, per thread, the database transactions SQLAlchemy has begun and not yet ended
(``begin`` / ``commit`` / ``rollback`` events of every engine) and wraps the transports every Google client
sends through (Muster's :class:`~connectors.google.transport.SingleShotHttp`, and ``httplib2.Http`` for any
client that would bypass it). A request that starts while its thread has a transaction open is recorded
with the stack that sent it, and the test fails at teardown naming the call: a network call inside a
transaction holds row locks (PostgreSQL) or SQLite's write lock for as long as Google takes to answer.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httplib2
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from connectors.google.transport import SingleShotHttp

_local = threading.local()


def _open() -> set[int]:
    if not hasattr(_local, "open"):
        _local.open = set()
    return _local.open  # type: ignore[no-any-return]


def _begin(conn: Connection) -> None:
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return  # each statement commits on its own: nothing is held open
    _open().add(id(conn))


def _end(conn: Connection) -> None:
    _open().discard(id(conn))


@contextmanager
def no_http_in_transaction() -> Iterator[list[str]]:
    """Yields the list of violations (empty when every request started outside a transaction)."""
    violations: list[str] = []
    originals: dict[Any, Any] = {SingleShotHttp: SingleShotHttp.request, httplib2.Http: httplib2.Http.request}

    def guarded(cls: Any) -> Any:
        original = originals[cls]

        def request(self: Any, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
            if _open():
                frames = [f for f in traceback.extract_stack()[:-1] if "/site-packages/" not in f.filename
                          and "/tests/txguard" not in f.filename]
                stack = "".join(traceback.format_list(frames[-12:]))
                violations.append(f"{method} {uri.split('?')[0]} started inside a database transaction:\n{stack}")
            return original(self, uri, method, *args, **kwargs)

        return request

    event.listen(Engine, "begin", _begin)
    event.listen(Engine, "commit", _end)
    event.listen(Engine, "rollback", _end)
    for cls in originals:
        cls.request = guarded(cls)
    try:
        yield violations
    finally:
        for cls, original in originals.items():
            cls.request = original
        event.remove(Engine, "begin", _begin)
        event.remove(Engine, "commit", _end)
        event.remove(Engine, "rollback", _end)
