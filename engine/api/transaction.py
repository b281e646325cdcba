"""Running one REST write as one all-or-nothing transaction, retried when the database asks for it.

Where it sits: every write route in :mod:`engine.api.routes` hands :func:`write` a function that does the
whole request (read, write through :mod:`engine.ingest.sessions`, build the answer) without committing;
:func:`write` commits it. When PostgreSQL aborts the transaction because of another one (a deadlock, a
serialization failure, a lock it could not get) or a concurrent insert won a unique key, or SQLite's
single writer slot stays taken, everything is rolled back and the function runs again from the start,
a few times with a short jittered pause. If it still cannot commit, :class:`Busy` is raised, which the
API answers 409 with ``Retry-After`` (:mod:`engine.api.errors`): the database is up, the data is
contended, nothing was saved.

The answer is built inside the transaction, before the commit, so a request never commits and then
fails while reading its own result (which would answer 500 for a write that happened).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError

from engine.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Attempts of one request before it is answered 409.
ATTEMPTS = 4
#: Upper bound of the first pause between attempts (seconds); doubles on each retry, jittered.
FIRST_PAUSE_S = 0.02
#: What a 409 for contention tells the client to wait before retrying (seconds).
RETRY_AFTER_S = 1

#: PostgreSQL SQLSTATEs that mean "this transaction lost a race; running it again may succeed".
RETRYABLE_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
    }
)


class Busy(Exception):
    """A write still conflicted with concurrent ones after :data:`ATTEMPTS` tries (answered 409)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind a SQLAlchemy error, if any."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code else None


def is_contention(exc: BaseException) -> bool:
    """Whether ``exc`` means the transaction lost a race with another one (so a retry may succeed)."""
    if isinstance(exc, IntegrityError):
        return True  # a unique key another request inserted first; the next attempt finds its row
    if not isinstance(exc, DBAPIError):
        return False
    if sqlstate(exc) in RETRYABLE_SQLSTATES:
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database table is locked" in text


def write(uow: UnitOfWork, work: Callable[[], T], *, attempts: int = ATTEMPTS) -> T:
    """Run ``work`` and commit; on contention roll back and run it again; :class:`Busy` when it never commits.

    ``work`` must do the whole request from its first read (it runs again from scratch) and must not
    commit. Errors that are not contention (invalid input, a database that is down) propagate at once.
    """
    pause = FIRST_PAUSE_S
    for attempt in range(1, attempts + 1):
        try:
            result = work()
            uow.commit()
            return result
        except (IntegrityError, DBAPIError) as exc:
            uow.rollback()
            if not is_contention(exc):
                raise
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            if attempt == attempts:
                log.warning("write still contended after %d attempts: %s", attempts, reason)
                raise Busy(reason) from None
            log.info("write attempt %d lost a race (%s); retrying", attempt, reason)
            time.sleep(random.uniform(0, pause))  # jitter, not security
            pause *= 2
    raise AssertionError("unreachable")  # pragma: no cover
