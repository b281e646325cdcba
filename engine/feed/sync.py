"""One incremental sync of one calendar: list its changes, note the ones that are not Muster's own writes.

Where it sits: run by the ``sync_feed`` actor (a push notification, the feed clock) under the calendar's
lease, and by the sweep. Level-triggered: it takes only a :class:`~engine.store.models.FeedCalendar` id
and reads everything else. Three steps, never a Google call inside a transaction:

1. read the row (calendar, acting identity, sync token) and end the read;
2. list the changes since the token (every page; :class:`~connectors.errors.SyncTokenExpiredError`, a
   410, drops the token and lists the calendar from scratch: a full resync of that calendar only);
3. in one unit of work: map changes to bindings (:func:`engine.feed.plan.changed_bindings`), call
   :func:`engine.sync.remote_change.note_remote_change` for each (or, for a binding Muster is writing
   right now, hold the change for the write's recording to judge: :mod:`engine.sync.own_writes`), and
   store the new token (only now: a failed listing or a rolled-back write keeps the old token, so
   nothing is skipped).

A connector error is recorded on the row (``error_class``, ``last_error``) and re-raised as it is, so the
actor retries a retryable one and the clock tries again later.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connectors.errors import ConnectorError, SyncTokenExpiredError
from connectors.ports.feed import ChangeBatch, ChangeFeedFactory
from engine.feed import plan
from engine.feed.calendars import actor_of
from engine.runtime import metrics
from engine.store.models import CalendarBinding, FeedCalendar, SyncStatus, Tenant
from engine.store.types import utcnow
from engine.store.unit_of_work import end_reads, unit_of_work
from engine.sync import own_writes
from engine.sync.remote_change import note_remote_change

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedSyncReport:
    calendar_id: str
    changes: int
    pages: int
    noted: int
    full: bool
    resynced: bool  #: the stored token was refused (410) and the calendar listed from scratch


def sync_calendar(engine: Engine, feeds: ChangeFeedFactory, feed_id: uuid.UUID) -> FeedSyncReport | None:
    """Sync one calendar's changes; ``None`` when the row is gone or no longer followed."""
    with Session(engine, expire_on_commit=False) as db:
        row = db.get(FeedCalendar, feed_id)
        tenant = db.get(Tenant, row.tenant_id) if row is not None and row.tenant_id is not None else None
        end_reads(db)
    if row is None or not row.active:
        return None
    port = feeds(actor_of(row))
    resynced = False
    with metrics.tenant_scope(row.tenant_id, tenant.slug if tenant is not None else None):
        try:
            try:
                batch = port.list_changes(row.calendar_id, row.sync_token)
            except SyncTokenExpiredError:
                log.info("sync token of %s refused (410): full resync of that calendar", row.calendar_id)
                metrics.record_change_feed_read("token_expired")
                resynced = True
                batch = port.list_changes(row.calendar_id, None)
        except ConnectorError as exc:
            metrics.record_change_feed_read(exc.error_class)
            _record_error(engine, feed_id, exc)
            raise
        metrics.record_change_feed_read("changes" if batch.changes else "no_changes")
        noted = _apply(engine, feed_id, row.calendar_id, batch)
        if noted:
            metrics.incr("feed.noted", noted)
    return FeedSyncReport(row.calendar_id, len(batch.changes), batch.pages, noted, batch.full, resynced)


def _apply(engine: Engine, feed_id: uuid.UUID, calendar_id: str, batch: ChangeBatch) -> int:
    now = utcnow()
    with unit_of_work(engine) as uow:
        db = uow.db
        live = CalendarBinding.sync_status != SyncStatus.REMOVED.value
        query = select(CalendarBinding).where(CalendarBinding.calendar_id == calendar_id, live)
        if not batch.full:
            ids = {c.event_id for c in batch.changes} | {c.series_id for c in batch.changes if c.series_id}
            query = query.where(col(CalendarBinding.event_id).in_(sorted(ids)))
        on_calendar = list(db.exec(query).all()) if batch.full or batch.changes else []
        sessions = plan.marker_sessions(batch) - {b.session_id for b in on_calendar}
        elsewhere = (
            list(db.exec(select(CalendarBinding).where(col(CalendarBinding.session_id).in_(sorted(sessions)),
                                                       live)).all())
            if sessions else []
        )
        rows = {b.id: b for b in on_calendar + elsewhere}
        noted = plan.changed_bindings(
            batch,
            [_view(b) for b in on_calendar],
            {b.session_id: _view(b) for b in elsewhere},
        )
        count = 0
        for item in noted:
            binding = rows[item.binding_id]
            if item.etag and own_writes.writing(binding, now):
                # Muster is writing this event: its own write may be what was listed; the recording judges
                cancelled = item.change is not None and item.change.status == "cancelled"
                if own_writes.hold(db, binding, item.etag, now, cancelled=cancelled):
                    continue
                if item.etag in own_writes.recorded_etags(db, binding.id):  # recorded meanwhile: its own
                    continue
            note_remote_change(db, binding, item.change.remote if item.change else None, now=now)
            count += 1
        row = db.get(FeedCalendar, feed_id)
        if row is not None:
            row.sync_token = batch.next_sync_token
            row.synced_at = now
            if batch.full:
                row.full_synced_at = now
            row.error_class = row.last_error = None
            row.updated_at = now
            db.add(row)
    return count


def _view(b: CalendarBinding) -> plan.BindingView:
    return plan.BindingView(b.id, b.session_id, b.event_id, b.etag, b.remote_etag)


def _record_error(engine: Engine, feed_id: uuid.UUID, exc: ConnectorError) -> None:
    with unit_of_work(engine) as uow:
        row = uow.db.get(FeedCalendar, feed_id)
        if row is not None:
            row.error_class = exc.error_class[:16]
            row.last_error = str(exc)[:2000]
            row.updated_at = utcnow()
            uow.db.add(row)
