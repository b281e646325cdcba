"""Muster's own writes are never taken for changes made in Google, even when the change feed lists one
before the write's result (its new etag) is recorded.

Where it sits: between the writers (the reconciler, :mod:`engine.sync.reconciler`, which the mode switch
runs for each session; the organizer transfer, :mod:`engine.lifecycle.transfer`, for its moves and its
cancellation of a recreated event's predecessor), the recording of their outcome (:mod:`engine.sync.record`,
``do_rebind_owner`` for a transfer) and the change feed (:mod:`engine.feed.sync`). Without it, a feed listing that
lands between a write and its recording sees an etag Muster has not stored yet, and notes Muster's own
write as a change made in Google (an extra read, an extra background reconcile).

The protocol, on the binding's row:

1. :func:`begin_write` commits ``writing_since`` just before a reconcile's first Google write (so any listing
   that can contain the write runs after the mark is visible);
2. the feed, for a change whose etag Muster does not know on a binding marked as being written
   (:func:`writing`), :func:`hold` s the change's etag instead of noting it: a conditional update that
   succeeds only while the mark is still there;
3. the recording (:func:`end_write`, in the transaction that stores the write's result) clears the mark
   and then reads what the feed held: an etag one of this reconcile's writes produced was Muster's own
   write and is dropped; any other is a change made in Google during the write, noted then
   (:func:`engine.sync.remote_change.note_remote_change`). An attempt that ends without having written (it
   waits for quota: re-enqueued) clears the mark the same way, with no etag of its own, so a change made in
   Google meanwhile is noted at once rather than held until the next attempt.

Both conditional updates take the row's lock, so the feed and the recording never miss each other: the
feed either holds before the recording (which then sees it), or finds the mark gone and compares with the
etag just recorded. A mark older than :data:`STALE_AFTER` (its worker died between write and record) is
ignored: the feed notes changes as usual. A held change whose recording never came is still found by the
periodic sweep (it reconciles bindings whose change was seen after their last sync).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connectors.ports.calendar import RemoteEvent
from engine.store.models import CalendarBinding
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work
from engine.sync.remote_change import note_remote_change

#: Prefix of a held etag that the feed saw on a *cancelled* event (a deletion, or the source copy of a move).
#: Google's tombstone carries an etag no write of Muster's returned, so it is judged by what the write did:
#: a write that deleted or moved the session's event made it; any other did not.
CANCELLED = "cancelled:"

#: A write mark older than this is a worker that died between its write and its recording (a reconcile
#: lasts at most its time limit, ten minutes).
STALE_AFTER = timedelta(minutes=15)


def begin_write(engine: Engine, session_id: uuid.UUID, now: datetime | None = None) -> None:
    """Mark the session's binding as being written, in a short transaction of its own (before the write)."""
    with unit_of_work(engine) as uow:
        uow.db.execute(
            update(CalendarBinding).where(col(CalendarBinding.session_id) == session_id)
            .values(writing_since=now or utcnow())
        )


def writing(binding: CalendarBinding, now: datetime) -> bool:
    """Pure: is a write of this binding under way (marked, and not stale)?"""
    since = binding.writing_since
    if since is None:
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return now - since < STALE_AFTER


def hold(db: Session, binding: CalendarBinding, etag: str, now: datetime, *, cancelled: bool = False) -> bool:
    """The feed saw ``etag`` (of a cancelled event: ``cancelled``) while the binding is being written: keep
    it for the recording to judge. False when the write was recorded meanwhile (the caller compares with the
    etag now stored)."""
    result = db.execute(
        update(CalendarBinding)
        .where(col(CalendarBinding.id) == binding.id, col(CalendarBinding.writing_since).is_not(None))
        .values(remote_held_etag=(CANCELLED + etag) if cancelled else etag, remote_seen_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def recorded_etags(db: Session, binding_id: uuid.UUID) -> tuple[str | None, str | None]:
    """``(etag, remote_etag)`` of the binding as committed now (after :func:`hold` found no mark)."""
    row = db.execute(
        select(CalendarBinding.etag, CalendarBinding.remote_etag).where(col(CalendarBinding.id) == binding_id)
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def etags(events: Iterable[RemoteEvent | None]) -> list[str]:
    """The etags of what Google returned (or showed) to this reconcile."""
    return [e.etag for e in events if e is not None and e.etag]


def removed(outcomes: Iterable[str]) -> bool:
    """Pure: did a write with these op outcomes delete or move the session's event (leaving a tombstone)?"""
    return any(o in ("deleted", "moved") for o in outcomes)


def end_write(
    db: Session, binding: CalendarBinding, own: Iterable[str], now: datetime | None = None, *, judge: bool = True,
    deleted: bool = False,
) -> None:
    """In the transaction that records a write's outcome: clear the mark, then judge what the feed held
    meanwhile: Muster's own write (one of the etags ``own``, see :func:`etags`) is dropped, anything else is
    noted as a change; a held cancellation (:data:`CANCELLED`) is Muster's own when the write ``deleted`` or
    moved the event (:func:`removed`). ``judge=False``: what was held is dropped unjudged (it was of an event
    Muster itself cancelled and replaced: a transfer that recreates the event)."""
    if binding.id is None:
        return
    db.execute(update(CalendarBinding).where(col(CalendarBinding.id) == binding.id).values(writing_since=None))
    held = db.execute(
        select(CalendarBinding.remote_held_etag).where(col(CalendarBinding.id) == binding.id)
    ).scalar_one_or_none()
    if held is None:
        return
    db.execute(update(CalendarBinding).where(col(CalendarBinding.id) == binding.id).values(remote_held_etag=None))
    if not judge or held in set(own) or held == binding.etag:
        return
    if held.startswith(CANCELLED):
        if deleted:
            return
        held = held.removeprefix(CANCELLED)
    note_remote_change(db, binding, None, now=now)
    binding.remote_etag = held
