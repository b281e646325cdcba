"""Background reconciles asked for from inside a transaction, sent once it commits.

Where it sits: like :func:`engine.store.unit_of_work.set_dispatcher` for platform changes, but for the
background lane (:data:`engine.runtime.actors.BACKGROUND_QUEUE`): the change feed
(``engine.sync.remote_change.note_remote_change``) calls :func:`verify_after_commit` with its database
session; once that commits, the session ids go to the dispatcher the task layer installed
(:meth:`engine.runtime.actors.Tasks.dispatch_background`), which sends ``verify_session``: a reconcile that
reads the event first (or plans against the copy the feed listed, ``CalendarBinding.remote_listed``, its write
conditional on that etag), at background priority and within the background share of the quota. A rollback
sends nothing. With no dispatcher installed (a process that only serves the API) the request is dropped:
the binding's changed-in-Google mark stays, so the next reconcile of the session reads the event anyway,
and the periodic sweep finds it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

BackgroundDispatcher = Callable[[Iterable[uuid.UUID]], object]

_dispatcher: BackgroundDispatcher | None = None


def set_background_dispatcher(fn: BackgroundDispatcher | None) -> None:
    global _dispatcher
    _dispatcher = fn


def request_verify(session_ids: Iterable[uuid.UUID]) -> None:
    """Send background reconciles now (outside any transaction). Never raises."""
    fn = _dispatcher
    if fn is None:
        return
    try:
        fn(list(session_ids))
    except Exception as exc:  # the broker is down: the mark stays, the sweep finds the session
        log.warning("could not enqueue background reconciles: %s", exc)


_PENDING = "muster_verify_after_commit"
_LISTENING = "muster_verify_listening"


def verify_after_commit(db: Session, session_id: uuid.UUID) -> None:
    """A background reconcile of ``session_id`` once ``db``'s transaction commits (never if it rolls back).
    Several calls in one transaction send each session once."""
    pending: dict[uuid.UUID, None] = db.info.setdefault(_PENDING, {})
    pending[session_id] = None
    if db.info.get(_LISTENING):
        return
    db.info[_LISTENING] = True

    def after_commit(session: Session) -> None:
        ids = list(session.info.pop(_PENDING, {}) or {})
        if ids:
            request_verify(ids)

    def after_soft_rollback(session: Session, previous_transaction: object) -> None:
        if getattr(previous_transaction, "parent", None) is None:  # the outermost transaction rolled back
            session.info.pop(_PENDING, None)

    event.listen(db, "after_commit", after_commit)
    event.listen(db, "after_soft_rollback", after_soft_rollback)
