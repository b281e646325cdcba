"""Where transfer requests go once the request that caused them has committed.

Where it sits: like :func:`engine.store.unit_of_work.set_dispatcher` for reconciles. The REST API and the detection
paths call :func:`request_transfer` after their commit (or :func:`request_transfer_after_commit` from
inside a transaction); the task layer installs a function that enqueues the ``transfer_person`` actor
(``set_transfer_dispatcher``). With none installed, requests are only remembered in
:data:`pending` and the periodic lifecycle sweep (:func:`engine.lifecycle.run.sweep`) does the work on
its next pass: the sweep is level-triggered, so a lost request delays a transfer but never loses it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

#: Called with (tenant_id, person_id) after commit.
TransferDispatcher = Callable[[uuid.UUID, uuid.UUID], object]

_dispatcher: TransferDispatcher | None = None
_lock = threading.Lock()
#: Requests made while no dispatcher was installed (newest last, without repeats).
pending: list[tuple[uuid.UUID, uuid.UUID]] = []


def set_transfer_dispatcher(fn: TransferDispatcher | None) -> None:
    global _dispatcher
    _dispatcher = fn


def request_transfer(tenant_id: uuid.UUID, person_id: uuid.UUID) -> None:
    """Ask for this person's transfer to run soon. Never raises into the caller's request."""
    fn = _dispatcher
    if fn is not None:
        try:
            fn(tenant_id, person_id)
            return
        except Exception:  # the broker is down: remember it; the periodic sweep will run it anyway
            log.exception("could not enqueue the transfer of person %s; the lifecycle sweep will", person_id)
    with _lock:
        key = (tenant_id, person_id)
        if key not in pending:
            pending.append(key)
            del pending[:-1000]


def request_transfer_after_commit(db: Session, tenant_id: uuid.UUID, person_id: uuid.UUID) -> None:
    """:func:`request_transfer` once ``db``'s current transaction commits (never if it rolls back)."""
    state = {"done": False}

    def after_commit(_session: Session) -> None:
        if not state["done"]:
            state["done"] = True
            request_transfer(tenant_id, person_id)

    def after_soft_rollback(_session: Session, previous_transaction: object) -> None:
        if getattr(previous_transaction, "parent", None) is None:  # the outermost transaction rolled back
            state["done"] = True

    event.listen(db, "after_commit", after_commit)
    event.listen(db, "after_soft_rollback", after_soft_rollback)
