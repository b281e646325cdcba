"""The periodic drift sweep: enqueue a reconcile of every live session, in batches, doing no work inline.

Where it sits: run by the worker every ``settings.sweep_interval_s`` (one process at a time, under a
lock) and by ``muster sweep``. Event-driven reconciles cover platform changes; the sweep catches what
happened in Google (someone moved a Muster event or removed its guests) and anything whose message was
lost. Each enqueued reconcile reads the event (one ``get``) and writes only if it drifted, so a sweep
over unchanged sessions costs no Google writes.

On PostgreSQL each batch is selected ``FOR UPDATE SKIP LOCKED``, so two sweepers never enqueue the same
batch and a session being edited right now is left to its own event-driven reconcile. Sessions whose
binding is ``blocked`` (waiting for a person to fix access) and removed sessions already cleaned up are
skipped: no blind retries.

:func:`enqueue_due_retries` is the worker's retry clock: synced sessions whose Meet link or room Muster
retries by itself (:mod:`engine.delegation.retry`) are enqueued once their try is due.

The report counts real sends: ``enqueue`` returning ``False`` means the session's reconcile was already
scheduled (merged), and is counted as ``coalesced``. The worker and ``muster sweep`` enqueue with
``take_over_stale`` (:meth:`engine.runtime.actors.Tasks.enqueue`), so a marker whose message was lost never
makes the sweep skip a session.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engine.runtime import metrics
from engine.store.models import CalendarBinding, LiveSession, SyncStatus
from engine.store.types import utcnow

#: Sessions selected (and locked) per transaction.
BATCH_SIZE = 500


@dataclass(frozen=True)
class SweepReport:
    scanned: int
    enqueued: int  #: messages really sent
    seconds: float
    coalesced: int = 0  #: sessions whose reconcile was already scheduled


def sweep(
    engine: Engine,
    enqueue: Callable[[uuid.UUID], object],
    *,
    batch_size: int = BATCH_SIZE,
    tenant_id: uuid.UUID | None = None,
) -> SweepReport:
    """Enqueue every session that may need a reconcile; returns counts."""
    started = time.monotonic()
    last: uuid.UUID | None = None
    scanned = enqueued = coalesced = 0
    postgres = engine.dialect.name == "postgresql"
    while True:
        with Session(engine) as db, db.begin():
            query = (
                select(LiveSession.id, CalendarBinding.sync_status)
                .join(CalendarBinding, col(CalendarBinding.session_id) == col(LiveSession.id), isouter=True)
                .order_by(col(LiveSession.id))
                .limit(batch_size)
            )
            if last is not None:
                query = query.where(col(LiveSession.id) > last)
            if tenant_id is not None:
                query = query.where(LiveSession.tenant_id == tenant_id)
            query = query.where(
                or_(
                    col(CalendarBinding.sync_status).is_(None),
                    and_(
                        col(CalendarBinding.sync_status) != SyncStatus.BLOCKED.value,
                        or_(
                            col(LiveSession.deleted_at).is_(None),
                            col(CalendarBinding.sync_status) != SyncStatus.REMOVED.value,
                        ),
                    ),
                )
            )
            if postgres:
                query = query.with_for_update(skip_locked=True, of=LiveSession)
            rows = db.exec(query).all()
            if not rows:
                break
            for session_id, _status in rows:
                if enqueue(session_id) is False:
                    coalesced += 1
                else:
                    enqueued += 1
            scanned += len(rows)
            last = rows[-1][0]
        if len(rows) < batch_size:
            break
    metrics.set_value("sweep.last_at", int(time.time()))
    metrics.set_value("sweep.enqueued", enqueued)
    return SweepReport(
        scanned=scanned, enqueued=enqueued, seconds=time.monotonic() - started, coalesced=coalesced
    )


def enqueue_due_retries(
    engine: Engine, enqueue: Callable[[uuid.UUID], object], *, now: datetime | None = None
) -> int:
    """The retry clock: enqueue every synced session whose own retry (a Meet link, a room) is due.

    ``CalendarBinding.next_attempt_at`` of a synced session is set only by
    :func:`engine.delegation.retry.schedule`; the reconcile clears or moves it, so each due try is
    enqueued about once. Returns how many sessions were enqueued.
    """
    now = now or utcnow()
    with Session(engine) as db:
        ids = db.exec(
            select(CalendarBinding.session_id)
            .join(LiveSession, col(LiveSession.id) == col(CalendarBinding.session_id))
            .where(
                CalendarBinding.sync_status == SyncStatus.SYNCED.value,
                col(CalendarBinding.next_attempt_at).is_not(None),
                col(CalendarBinding.next_attempt_at) <= now,
                col(LiveSession.deleted_at).is_(None),
            )
            .order_by(col(CalendarBinding.next_attempt_at))
            .limit(BATCH_SIZE)
        ).all()
    for session_id in ids:
        enqueue(session_id)
    return len(ids)
