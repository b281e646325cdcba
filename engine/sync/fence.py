"""Fencing tokens: a number per session that only grows, stored with the binding, so a worker whose lease
expired cannot write the binding after a newer holder started.

Where it sits: every holder of a session's lease (the reconcile actor, ``muster reconcile``, a transfer,
a mode switch) calls :func:`take_fence` once, in a short transaction of its own, *before* it reads the
binding; each binding write in :mod:`engine.sync.record` then passes the token to :func:`check_fence`, in
the transaction of that write. A token smaller than the stored one means a newer holder took over: the
write is refused (:class:`StaleFence`, logged) and its unit of work rolls back. The counter lives in the
database, not in Redis, so a Redis restart that loses data cannot make tokens go back.

A reconcile that is not handed a token takes none up front: it reads the binding's token with the rest of
the session (:func:`engine.sync.load.load`) and *claims* the next one at its first binding write, with a
conditional update that succeeds only if nobody wrote a newer token since that read (:class:`Claim`). A
reconcile that finds nothing to change therefore writes nothing at all, and a writer that read before a
newer holder wrote is still refused. Explicit holders (transfers, the stray sweep, tests) keep taking a
token first with :func:`take_fence`, which any reconcile that read before it then fails to claim past.

No network call happens inside either transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.runtime import metrics
from engine.store.models import CalendarBinding, LiveSession
from engine.store.unit_of_work import unit_of_work

log = logging.getLogger(__name__)


class StaleFence(Exception):
    """A binding write carried an older fencing token than the binding holds: a newer lease holder won."""

    def __init__(self, session_id: uuid.UUID, fence: int, current: int) -> None:
        super().__init__(
            f"binding write for session {session_id} refused: its lease (token {fence}) was superseded "
            f"by token {current}"
        )
        self.session_id = session_id
        self.fence = fence
        self.current = current


@dataclass
class Claim:
    """A reconcile's fencing token, claimed at its first binding write rather than before it reads.

    ``observed`` is the binding's token when the reconcile read it (0 when it had no binding). The first
    write stores ``observed + 1`` only where the stored token is still at most ``observed``; once that
    write committed (``claimed``), later writes of the same reconcile pass as the holder of that token.
    """

    session_id: uuid.UUID
    observed: int
    claimed: bool = False

    @property
    def token(self) -> int:
        return self.observed + 1


#: What binding writes accept: a token taken up front, a lazy :class:`Claim`, or None (unfenced).
Fence = int | Claim | None


def token_of(fence: Fence) -> int:
    """The token a new binding row starts with for ``fence``."""
    if isinstance(fence, Claim):
        return fence.token
    return fence or 0


def take_fence(engine: Engine, session_id: uuid.UUID) -> int | None:
    """The next fencing token of ``session_id`` (1, 2, 3 … per session), or None when there is no session.

    Creates the binding (``pending``) when the session has none yet, so the token has somewhere to live.
    """
    for _ in range(3):
        try:
            with unit_of_work(engine) as uow:
                db = uow.db
                bumped = db.execute(
                    update(CalendarBinding)
                    .where(CalendarBinding.session_id == session_id)  # type: ignore[arg-type]
                    .values(fence=CalendarBinding.fence + 1)
                    .execution_options(synchronize_session=False)
                )
                if not bumped.rowcount:  # type: ignore[attr-defined]
                    tenant_id = db.exec(select(LiveSession.tenant_id).where(LiveSession.id == session_id)).first()
                    if tenant_id is None:
                        return None
                    db.add(CalendarBinding(tenant_id=tenant_id, session_id=session_id, fence=1))
                    db.flush()
                    return 1
                return int(
                    db.exec(select(CalendarBinding.fence).where(CalendarBinding.session_id == session_id)).one()
                )
        except IntegrityError:  # another holder created the binding at the same moment: bump that one
            continue
    raise RuntimeError(f"could not take a fencing token for session {session_id}")


def check_fence(db: Session, session_id: uuid.UUID, fence: Fence) -> None:
    """In the caller's transaction: accept ``fence`` (store it, lock the row) or raise :class:`StaleFence`.

    ``None`` means an unfenced write (data functions used outside a lease, e.g. tests of pure data).
    The conditional UPDATE takes the row lock, so a newer holder's :func:`take_fence` waits for this
    transaction (PostgreSQL) or cannot interleave with it (SQLite's single writer).
    """
    if fence is None:
        return
    claiming = isinstance(fence, Claim) and not fence.claimed
    token = token_of(fence)
    # a claim passes only if no writer stored a token since it was read; a held token if none is newer
    ceiling = fence.observed if isinstance(fence, Claim) and claiming else token
    accepted = db.execute(
        update(CalendarBinding)
        .where(CalendarBinding.session_id == session_id, CalendarBinding.fence <= ceiling)  # type: ignore[arg-type]
        .values(fence=token)
        .execution_options(synchronize_session="fetch")
    )
    if accepted.rowcount:  # type: ignore[attr-defined]
        if claiming:
            _claimed_on_commit(db, fence)  # type: ignore[arg-type]
        return
    current = db.exec(select(CalendarBinding.fence).where(CalendarBinding.session_id == session_id)).first()
    if current is None:
        if claiming:
            _claimed_on_commit(db, fence)  # type: ignore[arg-type]
        return  # no binding yet: the write creates it (with this token)
    raise stale(session_id, token, int(current))


def stale(session_id: uuid.UUID, fence: int, current: int) -> StaleFence:
    """The refusal of a superseded write (counted and logged)."""
    metrics.incr("binding.fenced_out")
    err = StaleFence(session_id, fence, current)
    log.warning("%s", err)
    return err


def _claimed_on_commit(db: Session, claim: Claim) -> None:
    """Mark ``claim`` as held once the transaction that stored its token commits (not if it rolls back)."""

    def done(_session: Session) -> None:
        claim.claimed = True

    event.listen(db, "after_commit", done, once=True)
