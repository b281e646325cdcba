"""The drift sweeps: by changes (periodic, cheap) and of every live session (the full verification).

Where it sits: :func:`sweep_changes` is the worker's periodic drift sweep (every
``settings.sweep_interval_s``, one process at a time, under a lock). It first syncs every followed
calendar's changes (:func:`engine.feed.run.sync_all`: one listing per calendar plus its extra pages; each
changed Muster event is noted by :func:`engine.sync.remote_change.note_remote_change` and reconciled),
then enqueues only the sessions that need it: no binding yet, pending or failed, a platform revision not
yet synced, or a change noted in Google after their last reconcile. Sessions that ended more than the
tenant's ``feed.ended_grace_days`` ago are not swept. So a sweep over unchanged sessions costs about one
call per calendar, not one per session.

:func:`sweep` enqueues a reconcile of every live session (each reads its event and writes only if it
drifted): ``muster sweep``, ``muster reconcile --all`` and the demo run it; it is the rare full
verification that catches anything the change feed could not (a change Google never reported).

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
from datetime import datetime, timedelta

from sqlalchemy import and_, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engine.runtime import metrics
from engine.store.models import CalendarBinding, LiveSession, SyncStatus, Tenant
from engine.store.types import utcnow
from policies.schema import SettingError
from policies.settings import TenantSettings

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


@dataclass(frozen=True)
class ChangeSweepReport:
    calendars: int  #: calendars whose changes were listed
    pages: int  #: listing calls made
    noted: int  #: Muster events the feed found changed in Google
    enqueued: int
    seconds: float
    coalesced: int = 0


def sweep_changes(
    engine: Engine,
    enqueue: Callable[[uuid.UUID], object],
    *,
    sync_feeds: Callable[[], tuple[int, int, int]] | None = None,
    now: datetime | None = None,
) -> ChangeSweepReport:
    """The periodic drift sweep by changes. ``sync_feeds`` syncs every followed calendar and returns
    ``(calendars, pages, noted)`` (the worker passes :func:`engine.feed.run.sync_all`)."""
    started = time.monotonic()
    now = now or utcnow()
    cals, pages, noted = sync_feeds() if sync_feeds is not None else (0, 0, 0)
    enqueued = coalesced = 0
    for session_id in sessions_needing_reconcile(engine, now=now):
        if enqueue(session_id) is False:
            coalesced += 1
        else:
            enqueued += 1
    metrics.set_value("sweep.last_at", int(time.time()))
    metrics.set_value("sweep.enqueued", enqueued)
    return ChangeSweepReport(cals, pages, noted, enqueued, time.monotonic() - started, coalesced)


def _grace_days(settings: object) -> int:
    try:
        return TenantSettings.parse(settings).feed.ended_grace_days
    except SettingError:
        return TenantSettings().feed.ended_grace_days  # a bad stored setting is reported by the reconcile


def sessions_needing_reconcile(engine: Engine, *, now: datetime) -> list[uuid.UUID]:
    """Sessions the change feed cannot vouch for: never synced, pending or failed, a platform revision not
    yet synced, or noted as changed in Google after their last reconcile; blocked bindings, removed
    sessions already cleaned up and sessions ended more than their tenant's grace period ago excluded."""
    out: list[uuid.UUID] = []
    with Session(engine) as db:
        tenants = db.exec(select(Tenant.id, Tenant.settings)).all()
        for tenant_id, settings in tenants:
            cutoff = now - timedelta(days=_grace_days(settings))
            query = (
                select(LiveSession.id)
                .join(CalendarBinding, col(CalendarBinding.session_id) == col(LiveSession.id), isouter=True)
                .where(LiveSession.tenant_id == tenant_id, col(LiveSession.end_at) >= cutoff)
                .where(
                    or_(
                        col(CalendarBinding.id).is_(None),
                        col(CalendarBinding.sync_status).in_([SyncStatus.PENDING.value, SyncStatus.ERROR.value]),
                        and_(
                            col(CalendarBinding.sync_status) != SyncStatus.BLOCKED.value,
                            or_(
                                col(CalendarBinding.synced_revision).is_(None),
                                col(CalendarBinding.synced_revision) != col(LiveSession.revision),
                                col(CalendarBinding.remote_changed_at).is_not(None),
                                and_(
                                    col(CalendarBinding.remote_seen_at).is_not(None),
                                    or_(
                                        col(CalendarBinding.last_synced_at).is_(None),
                                        col(CalendarBinding.remote_seen_at) > col(CalendarBinding.last_synced_at),
                                    ),
                                ),
                            ),
                        ),
                    )
                )
                .where(
                    or_(
                        col(LiveSession.deleted_at).is_(None),
                        col(CalendarBinding.sync_status).is_(None),
                        col(CalendarBinding.sync_status) != SyncStatus.REMOVED.value,
                    )
                )
                .order_by(col(LiveSession.id))
            )
            out.extend(db.exec(query).all())
    return out


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
