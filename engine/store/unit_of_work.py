"""Database engines and the unit of work.

Where it sits: the REST API, the admin UI, the CLI and the dramatiq actors each open a
:class:`UnitOfWork` around one request or one task. Data functions take its ``db`` session and never
commit; the unit of work commits once and, only after the commit succeeded, sends the session ids it
collected for syncing (house style §6: enqueue after commit, one send per id per unit of work). A
rolled-back request therefore never triggers a reconcile of data that does not exist.

SQLite (the embedded default) runs in WAL mode with a busy timeout so the in-process worker thread and
the API can share the file. PostgreSQL uses a pool whose connections are pinged before use only when they sat
idle for :data:`PING_AFTER_IDLE_S` or more (a dead one is replaced before the request sees it): a connection in
constant use costs no extra round trip per request, as ``pool_pre_ping`` would. A connection that breaks while in
use fails that request (answered 503, "retry"), and SQLAlchemy then replaces every pooled connection.

The ids are also written, in the same transaction, to the sync outbox (:mod:`engine.store.outbox`): "session
X needs a reconcile at revision N" is committed with the change or not at all. A dispatcher that fails after
the commit (Redis down) never undoes or breaks the committed request: the failure is logged as one warning
line, the outbox rows are flagged unsent, and the relay in each worker (:mod:`engine.runtime.relay`) sends
them as soon as the broker answers again; the periodic drift sweep (:mod:`engine.sync.sweep`) stays the
backstop.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, create_engine

import engine.store.revocation  # noqa: F401  (registers the session-ending flush rule for every writer)
from engine.private_files import ensure_private
from engine.settings import Settings, get_settings
from engine.store import outbox, pg_cursor

#: Called with the ids collected by a unit of work, after its commit. Set by :mod:`engine.runtime.actors`.
#: May return the ids it could not hand to the broker (they are left to the outbox relay).
Dispatcher = Callable[[list[uuid.UUID]], "list[uuid.UUID] | None"]

log = logging.getLogger(__name__)

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()
_dispatcher: Dispatcher | None = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


#: Seconds a pooled PostgreSQL connection may sit unused before it is pinged at its next checkout.
PING_AFTER_IDLE_S = 5.0


def _stamp_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection that sat idle (the server may have restarted or dropped it meanwhile); a failed ping
    makes the pool discard it and check out another (SQLAlchemy's pessimistic disconnect handling)."""
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.rollback()  # the ping's implicit transaction; the pool hands out idle connections
    except Exception as exc:
        raise DisconnectionError(f"the pooled connection did not answer a ping: {exc}") from exc


def make_engine(url: str) -> Engine:
    """A new engine for ``url`` with Muster's connection settings."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and ":memory:" not in path and not path.startswith("file:"):
            ensure_private(Path(path.split("?", 1)[0]))  # created 0600 before SQLite opens it
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # psycopg's cursor with a description built when read (engine.store.pg_cursor): SQLAlchemy asks for it after
    # every statement and reads it only the first time it runs a statement
    engine = create_engine(url, pool_size=10, max_overflow=10, connect_args={"cursor_factory": pg_cursor.Cursor})
    event.listen(engine, "checkin", _stamp_checkin)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


#: The ``AUTOCOMMIT`` view of each engine (built once: a sweep opens one network session per reconcile).
_autocommit: dict[int, tuple[Engine, Engine]] = {}


def _autocommit_engine(engine: Engine) -> Engine:
    held = _autocommit.get(id(engine))
    if held is None or held[0] is not engine:
        if len(_autocommit) >= 64:  # tests make many engines; a process normally has one
            _autocommit.clear()
        held = _autocommit[id(engine)] = (engine, engine.execution_options(isolation_level="AUTOCOMMIT"))
    return held[1]


def network_session(engine: Engine) -> Session:
    """A session for code that makes network calls (Google) between its queries: each statement commits on
    its own (``AUTOCOMMIT``), so no database transaction, and none of its row locks or SQLite's write lock,
    is held while Google answers. Not for writes that must land together: those go through a
    :func:`unit_of_work` that makes no network call."""
    return Session(_autocommit_engine(engine), expire_on_commit=False)


def autocommit_connection(engine: Engine) -> Connection:
    """A Core connection whose statements each commit on their own (as :func:`network_session`'s), for reads
    of Core statements that want no ORM session (the reconcile's load). Use as a context manager."""
    return _autocommit_engine(engine).connect()


def end_reads(db: Session) -> None:
    """End the read transaction of ``db`` before a network call (nothing is written; loaded rows stay usable).

    Raises when the session holds unflushed or flushed-but-uncommitted writes: those must not wait for Google.
    """
    if db.new or db.dirty or db.deleted:
        raise RuntimeError("end_reads: the session has pending writes; make the network call before them")
    if db.in_transaction():
        db.commit()


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database (one per URL)."""
    url = (settings or get_settings()).database_url
    with _engines_lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Install what runs after commit (the task layer's enqueue). ``None`` drops ids (tests of pure data)."""
    global _dispatcher
    _dispatcher = dispatcher


def current_dispatcher() -> Dispatcher | None:
    """The dispatcher installed by :func:`set_dispatcher` (None when none is)."""
    return _dispatcher


def log_dispatch_failure(ids: list[uuid.UUID], exc: BaseException) -> None:
    """One warning line: which sessions were saved but not queued, that the relay will, and why."""
    reason = str(exc).splitlines()[0] if str(exc) else ""
    log.warning(
        "saved but could not queue a sync of session(s) %s; the outbox relay sends them once the broker "
        "answers, else the periodic sweep will pick them up (%s%s)",
        ", ".join(str(i) for i in ids),
        type(exc).__name__,
        f": {reason}" if reason else "",
    )


class UnitOfWork:
    """One transaction plus the session ids to sync once it has committed."""

    def __init__(self, db: Session, dispatcher: Dispatcher | None = None) -> None:
        self.db = db
        self._dispatcher = dispatcher
        self._pending: dict[uuid.UUID, None] = {}  # insertion-ordered set

    def enqueue_session(self, session_id: uuid.UUID) -> None:
        """Ask for a reconcile of ``session_id`` after commit. Repeated ids are sent once."""
        self._pending[session_id] = None

    def commit(self) -> list[uuid.UUID]:
        """Write the collected ids to the outbox, commit, then send them. Returns the ids sent.

        A dispatcher error is logged (one warning line, no traceback) and swallowed: the data and its
        outbox rows are committed, and the rows it could not send are left to the relay.
        """
        ids = list(self._pending)
        dispatcher = self._dispatcher or _dispatcher
        if ids:
            outbox.record(db=self.db, session_ids=ids, sent=dispatcher is not None)
        self.db.commit()
        self._pending.clear()
        if ids and dispatcher is not None:
            failed: list[uuid.UUID] | None
            try:
                failed = dispatcher(ids)
            except Exception as exc:
                log_dispatch_failure(ids, exc)
                failed = ids
            if failed:
                try:
                    outbox.mark_unsent(self.db.get_bind(), failed)  # type: ignore[arg-type]
                except Exception as exc:  # the relay re-sends after outbox.RESEND_AFTER instead
                    log.warning("could not flag unsent sync requests %s: %s", failed, exc)
        return ids

    def rollback(self) -> None:
        self.db.rollback()
        self._pending.clear()


@contextmanager
def unit_of_work(engine: Engine | None = None, *, dispatcher: Dispatcher | None = None) -> Iterator[UnitOfWork]:
    """Open a unit of work; commit (then dispatch) on success, roll back on any exception."""
    with Session(engine or get_engine(), expire_on_commit=False) as db:
        uow = UnitOfWork(db, dispatcher)
        try:
            yield uow
        except BaseException:
            uow.rollback()
            raise
        else:
            if db.in_transaction() or uow._pending:
                uow.commit()
