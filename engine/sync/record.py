"""The only module that writes sync state: bindings, identity health and sync audit entries.

Where it sits: :mod:`engine.sync.reconciler` calls the ``do_*`` functions after it planned and applied (or
failed). Each function takes the caller's database session and never commits; the caller's unit of work
does (house style §10, zulip's ``actions.py``). The binding is the observed bookkeeping of one session:
where its event lives (calendar, deterministic id, acting identity), the essence hash and etag last
written, and how the last attempt went (status, error class, readable message).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from connectors.errors import ConnectorError
from connectors.ports.calendar import Actor, RemoteEvent
from engine.domain import snapshot
from engine.domain.desired import DesiredEvent
from engine.store.models import (
    AuditEvent,
    CalendarBinding,
    ConnectionStatus,
    GoogleConnection,
    GoogleIdentityStatus,
    SyncStatus,
)
from engine.store.types import utcnow
from engine.sync import own_writes
from engine.sync.apply import OpResult
from engine.sync.fence import Claim, Fence, check_fence, stale, token_of

#: Outcomes worth an audit entry (``unchanged`` is not).
_AUDITED = {"created", "adopted", "updated", "restored", "moved", "deleted"}


def get_binding(*, db: Session, session_id: uuid.UUID) -> CalendarBinding | None:
    return db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session_id)).first()


def _binding(
    db: Session, tenant_id: uuid.UUID, session_id: uuid.UUID, fence: Fence = None
) -> CalendarBinding:
    """The session's binding, created when missing; with ``fence``, only if that token is not stale
    (:func:`engine.sync.fence.check_fence` raises ``StaleFence`` otherwise)."""
    check_fence(db, session_id, fence)
    binding = get_binding(db=db, session_id=session_id)
    if binding is None:
        binding = CalendarBinding(tenant_id=tenant_id, session_id=session_id, fence=token_of(fence))
        db.add(binding)
        if isinstance(fence, Claim):
            try:  # another holder created the binding since this reconcile read: it is newer
                db.flush()
            except IntegrityError as exc:
                raise stale(session_id, fence.token, fence.token) from exc
    return binding


def _place(binding: CalendarBinding, actor: Actor, calendar_id: str, event_id: str) -> None:
    binding.calendar_id = calendar_id
    binding.event_id = event_id
    binding.owner_email = actor.email
    binding.actor_kind = actor.kind
    binding.actor_connection_id = actor.connection_id


def do_record_progress(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    results: Sequence[OpResult],
    fence: Fence = None,
) -> None:
    """Remember where events were written even when a later op failed (nothing written is forgotten)."""
    binding = _binding(db, tenant_id, session_id, fence)
    for res in results:
        desired = getattr(res.op, "desired", None)
        if isinstance(desired, DesiredEvent) and res.outcome in ("created", "adopted", "updated", "restored"):
            _place(binding, desired.actor, desired.calendar_id, desired.event_id)
            if res.remote is not None:
                binding.etag = res.remote.etag
                binding.last_written = snapshot.dump(res.remote)
    _audit(db, tenant_id, session_id, results)
    own_writes.end_write(db, binding, own_writes.etags(r.remote for r in results),
                         deleted=own_writes.removed(r.outcome for r in results))


def do_keep_observed(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    remote: RemoteEvent,
    mark: datetime | None,
    fence: Fence = None,
    now: datetime | None = None,
) -> bool:
    """A repair read the event and was put back for quota before its write: keep what it read as the
    binding's copy of the changed event (``remote_listed``, ``remote_etag``, the changed-in-Google mark set
    if none was), so the next attempt plans against it instead of reading again, its write conditional on
    that etag. Only if no change was noted since the read's own reconcile loaded the binding (the mark is
    still ``mark``): a newer note carries a newer copy, or none. True when it kept it."""
    binding = _binding(db, tenant_id, session_id, fence)
    if binding.remote_changed_at != mark or not remote.etag or remote.is_cancelled:
        return False
    when = now or utcnow()
    binding.remote_changed_at = mark or when
    binding.remote_etag = remote.etag
    binding.remote_seen_at = when
    binding.remote_listed = snapshot.dump(remote)
    db.add(binding)
    return True


def do_record_intent(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    actor: Actor,
    calendar_id: str,
    event_id: str,
    fence: Fence = None,
) -> None:
    """Write-ahead: the next write will put the session's event at ``(calendar_id, event_id)`` acting as
    ``actor``. Committed before the insert or move is sent, so the next reconcile reads that place too."""
    binding = _binding(db, tenant_id, session_id, fence)
    binding.intent_calendar_id = calendar_id
    binding.intent_event_id = event_id
    binding.intent_owner_email = actor.email
    binding.intent_actor_kind = actor.kind
    binding.intent_connection_id = actor.connection_id
    binding.updated_at = utcnow()
    db.add(binding)


def clear_intent(binding: CalendarBinding) -> None:
    binding.intent_calendar_id = binding.intent_event_id = binding.intent_owner_email = None
    binding.intent_actor_kind = None
    binding.intent_connection_id = None


@dataclass(frozen=True)
class Recorded:
    """What :func:`do_record_synced` is asked to record after a successful reconcile (its arguments)."""

    revision: int
    desired: DesiredEvent | None
    results: Sequence[OpResult]
    remote: RemoteEvent | None
    keep_intent: bool = False
    last_written: dict[str, Any] | None = None
    platform: dict[str, Any] | None = None
    seen_mark: datetime | None = None


def synced_unchanged(binding: CalendarBinding | None, record: Recorded) -> bool:
    """Pure: whether :func:`do_record_synced` would leave ``binding`` as it is (apart from the times).

    Then the reconcile writes nothing: a sweep over unchanged sessions costs no row write per session;
    only the verification time is kept, in batches (:class:`VerifiedAt`).
    """
    if binding is None or any(r.outcome in _AUDITED for r in record.results):
        return False
    desired, remote = record.desired, record.remote
    if desired is not None:
        a = desired.actor
        placed = (binding.calendar_id, binding.event_id, binding.owner_email, binding.actor_kind,
                  binding.actor_connection_id) == (desired.calendar_id, desired.event_id, a.email, a.kind,
                                                   a.connection_id)
        state = placed and binding.essence_hash == desired.essence_hash and binding.sync_status == SyncStatus.SYNCED
    else:
        state = binding.essence_hash is None and binding.sync_status == SyncStatus.REMOVED
    intent_clear = record.keep_intent or not (
        binding.intent_calendar_id or binding.intent_event_id or binding.intent_owner_email
        or binding.intent_actor_kind or binding.intent_connection_id
    )
    mark = record.seen_mark
    mark_kept = mark is None or binding.remote_changed_at is None or binding.remote_changed_at > mark
    return (
        state
        and intent_clear
        and mark_kept
        and binding.last_written == record.last_written
        and binding.platform_state == record.platform
        and (remote is None or not remote.etag or remote.etag == binding.etag)
        and binding.error_class is None
        and binding.last_error is None
        and not binding.attempts
        and binding.synced_revision == record.revision
        and binding.next_attempt_at is None
    )


def do_record_synced(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    revision: int,
    desired: DesiredEvent | None,
    results: Sequence[OpResult],
    remote: RemoteEvent | None,
    now: datetime | None = None,
    fence: Fence = None,
    keep_intent: bool = False,
    last_written: dict[str, Any] | None = None,
    platform: dict[str, Any] | None = None,
    seen_mark: datetime | None = None,
) -> CalendarBinding:
    """Google now holds what the platform says: record placement, hash, etag and clear errors (and the
    write-ahead intent, unless ``keep_intent``: its place could not be read and is looked at again later).

    ``last_written``: the event as Google returned or showed it (:func:`engine.domain.snapshot.dump`);
    ``platform``: the platform's side as synced (:func:`engine.domain.google_changes.platform_state`);
    ``seen_mark``: the changed-in-Google mark this reconcile read the event for, cleared unless the change
    feed set a newer one meanwhile."""
    now = now or utcnow()
    binding = _binding(db, tenant_id, session_id, fence)
    if binding.last_written != last_written:
        binding.last_written = last_written
    if binding.platform_state != platform:
        binding.platform_state = platform
    if seen_mark is not None and binding.remote_changed_at is not None and binding.remote_changed_at <= seen_mark:
        binding.remote_changed_at = None
        binding.remote_listed = None  # the listed copy goes with the mark it came with
    if desired is not None:
        _place(binding, desired.actor, desired.calendar_id, desired.event_id)
        binding.essence_hash = desired.essence_hash
        binding.sync_status = SyncStatus.SYNCED.value
    else:
        binding.essence_hash = None
        binding.sync_status = SyncStatus.REMOVED.value
    if remote is not None and remote.etag:
        binding.etag = remote.etag
    binding.error_class = None
    binding.last_error = None
    binding.attempts = 0
    if not keep_intent:  # what was intended is now observed and recorded (or superseded and deleted)
        clear_intent(binding)
    binding.synced_revision = revision
    binding.last_synced_at = now
    binding.next_attempt_at = None
    binding.updated_at = now
    _audit(db, tenant_id, session_id, results)
    own_writes.end_write(db, binding, own_writes.etags([r.remote for r in results] + [remote]), now,
                         deleted=own_writes.removed(r.outcome for r in results))
    return binding


def do_record_error(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    error: ConnectorError | Exception,
    error_class: str,
    blocked: bool = False,
    next_attempt_at: datetime | None = None,
    fence: Fence = None,
) -> None:
    """The attempt failed: keep the readable message and the class; ``blocked`` waits for a person."""
    now = utcnow()
    binding = _binding(db, tenant_id, session_id, fence)
    binding.sync_status = (SyncStatus.BLOCKED if blocked else SyncStatus.ERROR).value
    binding.error_class = error_class
    binding.last_error = str(error)[:4000]
    binding.attempts = (binding.attempts or 0) + 1
    binding.next_attempt_at = next_attempt_at
    binding.updated_at = now
    own_writes.end_write(db, binding, [], now)
    db.add(
        AuditEvent(
            tenant_id=tenant_id,
            actor="worker",
            action=f"sync.{error_class}_error",
            session_id=session_id,
            detail={"error": str(error)[:1000]},
        )
    )


def do_report_google_change(
    *, db: Session, tenant_id: uuid.UUID, session_id: uuid.UUID, detail: dict[str, object]
) -> None:
    """A change made in Google to the session's event was seen (an edit of ``fields``, or a deletion) and
    handled per the tenant's policy (``outcome``: restored | kept | recreated | flagged): audited as
    ``session.changed_in_google``, once per change (the next reconcile compares with what it saw now)."""
    db.add(
        AuditEvent(
            tenant_id=tenant_id,
            actor="worker",
            action="session.changed_in_google",
            session_id=session_id,
            detail=dict(detail),
        )
    )


def do_record_deleted_in_google(
    *, db: Session, tenant_id: uuid.UUID, session_id: uuid.UUID, message: str, fence: Fence = None
) -> None:
    """The event was deleted in Google and stays deleted (policy ``flag``): the session is ``blocked``
    with error class ``google_deleted`` and the message saying how to bring it back."""
    binding = _binding(db, tenant_id, session_id, fence)
    if binding.error_class == "google_deleted" and binding.sync_status == SyncStatus.BLOCKED.value:
        return
    binding.sync_status = SyncStatus.BLOCKED.value
    binding.error_class = "google_deleted"
    binding.last_error = message
    binding.remote_changed_at = None
    binding.remote_listed = None
    binding.updated_at = utcnow()
    db.add(binding)


def do_mark_identity_failed(*, db: Session, actor: Actor, error: ConnectorError) -> None:
    """Google refused this identity: mark it (and its connection) so the admin UI shows why."""
    now = utcnow()
    row = db.exec(select(GoogleIdentityStatus).where(GoogleIdentityStatus.email == actor.key)).first()
    if row is None:
        row = GoogleIdentityStatus(email=actor.key, kind=actor.kind)
        db.add(row)
    row.status = "auth_error"
    row.reason = (error.reason or error.error_class)[:64]
    row.last_error = str(error)[:4000]
    row.updated_at = now
    if actor.connection_id is not None:
        conn = db.get(GoogleConnection, actor.connection_id)
        if conn is not None:
            revoked = (error.reason or "") in ("invalid_grant",)
            suspended = (error.reason or "") == "notACalendarUser"
            conn.status = (
                ConnectionStatus.SUSPENDED
                if suspended
                else ConnectionStatus.REVOKED
                if revoked
                else ConnectionStatus.EXPIRED
            ).value
            conn.last_error = str(error)[:4000]
            conn.last_checked_at = now
            conn.updated_at = now


def do_mark_identity_ok(*, db: Session, actor: Actor) -> None:
    """A call through this identity succeeded: clear a previous failure mark."""
    row = db.exec(select(GoogleIdentityStatus).where(GoogleIdentityStatus.email == actor.key)).first()
    if row is not None and row.status != "ok":
        row.status = "ok"
        row.reason = None
        row.last_error = None
        row.updated_at = utcnow()


def identity_failure(*, db: Session, email: str) -> GoogleIdentityStatus | None:
    row = db.exec(select(GoogleIdentityStatus).where(GoogleIdentityStatus.email == email.lower())).first()
    return row if row is not None and row.status != "ok" else None


def do_clear_identity_failures(*, db: Session) -> list[uuid.UUID]:
    """After a configuration fix: forget identity failures; returns the blocked sessions to retry."""
    for row in db.exec(select(GoogleIdentityStatus).where(GoogleIdentityStatus.status != "ok")).all():
        row.status = "ok"
        row.reason = None
        row.last_error = None
        row.updated_at = utcnow()
    blocked = db.exec(
        select(CalendarBinding.session_id).where(CalendarBinding.sync_status == SyncStatus.BLOCKED.value)
    ).all()
    return list(blocked)


def _audit(db: Session, tenant_id: uuid.UUID, session_id: uuid.UUID, results: Sequence[OpResult]) -> None:
    for res in results:
        if res.outcome not in _AUDITED:
            continue
        op = res.op
        calendar_id = getattr(op, "calendar_id", None) or getattr(
            getattr(op, "desired", None), "calendar_id", None
        )
        event_id = getattr(op, "event_id", None) or getattr(getattr(op, "desired", None), "event_id", None)
        detail: dict[str, object] = {
            "calendar_id": calendar_id,
            "event_id": event_id,
            "send_updates": getattr(op, "send_updates", None),
        }
        fields = getattr(op, "fields", None)
        if fields:
            detail["fields"] = sorted(fields)
        db.add(
            AuditEvent(
                tenant_id=tenant_id,
                actor="worker",
                action=f"sync.{res.outcome}",
                session_id=session_id,
                subject=calendar_id,
                detail=detail,
            )
        )


def do_rebind_owner(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    actor: Actor,
    calendar_id: str,
    event_id: str | None,
    new_event: bool,
    room_released: bool,
    room_held_elsewhere: str | None = None,
    fence: Fence = None,
    own_etags: Sequence[str] = (),
) -> CalendarBinding:
    """Organizer lifecycle: the session's event now lives on ``calendar_id`` acting as ``actor``.

    The transfer's write mark (:func:`engine.sync.own_writes.begin_write`, taken before its move or its
    cancellation of the old event) ends here: what the change feed held meanwhile is judged against
    ``own_etags`` (the moved event's etag); for a recreated event (``new_event``) whatever was held concerned
    the old event, which Muster itself cancelled, and is dropped.

    ``event_id`` is the id Google kept after ``events.move`` / Data Transfer, or (``new_event``, recreate)
    the deterministic id for the new calendar: then hash, etag and Meet state are cleared so the next
    reconcile creates the event under the successor with a new Meet request. ``room_released`` forgets
    the room's answer so it is booked again. The binding goes back to ``pending`` until that reconcile confirms it.
    """
    binding = _binding(db, tenant_id, session_id, fence)
    binding.calendar_id = calendar_id
    binding.owner_email = actor.email
    binding.actor_kind = actor.kind
    binding.actor_connection_id = actor.connection_id
    binding.transfer_note = None
    binding.event_id = event_id
    if new_event:
        binding.essence_hash = None
        binding.etag = None
        binding.meet_link = None
        binding.meet_status = None
        binding.meet_request_id = None
        binding.meet_error = None
        binding.meet_attempt = 0
        binding.meet_polls = 0
    if new_event or room_released:
        binding.room_status = None
        binding.room_error = None
    if room_held_elsewhere:
        room = room_held_elsewhere.lower()
        binding.rooms_declined = sorted({*(binding.rooms_declined or []), room})
        binding.room_email = None
        binding.room_status = "declined"
        binding.room_error = (
            f"{room} is still booked by the previous organizer's event, which Google keeps "
            "for a deleted or suspended account; pick another room or free it in Google"
        )
    binding.sync_status = SyncStatus.PENDING.value
    binding.error_class = None
    binding.last_error = None
    binding.blocked_detail = {}
    binding.updated_at = utcnow()
    db.add(binding)
    db.flush()
    # a move leaves a cancelled copy on the old calendar: the transfer's own
    own_writes.end_write(db, binding, own_etags, judge=not new_event, deleted=True)
    return binding


def do_set_transfer_note(
    *, db: Session, tenant_id: uuid.UUID, session_id: uuid.UUID, note: str | None
) -> bool:
    """Show (or clear) why a departing owner's event could not be transferred yet. True if it changed."""
    binding = get_binding(db=db, session_id=session_id)
    if binding is None:
        if note is None:
            return False
        binding = _binding(db, tenant_id, session_id)
    if binding.transfer_note == note:
        return False
    binding.transfer_note = note
    binding.updated_at = utcnow()
    db.add(binding)
    return True


#: ``meet_status`` / ``room_status`` of a session whose wish vendor mode cannot fulfil.
UNSUPPORTED = "unsupported"
#: Why, in the words REST and the admin UI show.
VENDOR_LIMIT_REASON = (
    "vendor mode cannot create Meet links or book rooms: paste a link, or switch this workspace to delegation"
)


def vendor_limits(
    binding: CalendarBinding, *, wants_meet: bool, wants_room: bool
) -> tuple[str | None, str | None, str | None, str | None]:
    """Pure: ``(meet_status, meet_error, room_status, room_error)`` as :func:`do_note_vendor_limits` leaves them."""
    meet: tuple[str | None, str | None] = (UNSUPPORTED, VENDOR_LIMIT_REASON) if wants_meet else (None, None)
    room: tuple[str | None, str | None] = (UNSUPPORTED, VENDOR_LIMIT_REASON) if wants_room else (None, None)
    if not wants_meet and binding.meet_status != UNSUPPORTED:
        meet = (binding.meet_status, binding.meet_error)
    if not wants_room and binding.room_status != UNSUPPORTED:
        room = (binding.room_status, binding.room_error)
    return (*meet, *room)


def do_note_vendor_limits(*, db: Session, binding: CalendarBinding, wants_meet: bool, wants_room: bool) -> None:
    """Vendor mode: say on the binding that a Meet link or a room was asked for and cannot be provided.

    Called after every successful vendor-mode reconcile, so a session never shows "Meet pending" next to
    "synced"; a wish the platform withdrew clears the note."""
    meet_status, meet_error, room_status, room_error = vendor_limits(
        binding, wants_meet=wants_meet, wants_room=wants_room
    )
    meet, room = (meet_status, meet_error), (room_status, room_error)
    if (binding.meet_status, binding.meet_error, binding.room_status, binding.room_error) == (*meet, *room):
        return
    binding.meet_status, binding.meet_error = meet
    binding.room_status, binding.room_error = room
    db.add(binding)


class VerifiedAt:
    """When each unchanged session was last found in step with Google, kept until written in a batch.

    A reconcile that changes nothing writes no row (:func:`synced_unchanged`); it notes the session here.
    The noted times are written as one ``UPDATE`` (:func:`do_record_verified`) once :attr:`batch` sessions
    are noted, and otherwise by the reconciler's background flusher a few seconds later, so
    ``last_synced_at`` lags by seconds for sessions that did not change. Thread-safe.
    """

    def __init__(self, *, batch: int = 200) -> None:
        import threading

        self.batch = batch
        self._noted: dict[uuid.UUID, datetime] = {}
        self._lock = threading.Lock()

    def note(self, session_id: uuid.UUID, at: datetime) -> list[tuple[uuid.UUID, datetime]]:
        """Note one verification; returns a full batch to write now (else nothing)."""
        with self._lock:
            self._noted[session_id] = at
            return self._take() if len(self._noted) >= self.batch else []

    def take(self) -> list[tuple[uuid.UUID, datetime]]:
        """Everything noted and not yet written."""
        with self._lock:
            return self._take()

    def _take(self) -> list[tuple[uuid.UUID, datetime]]:
        out = list(self._noted.items())
        self._noted.clear()
        return out


def do_record_verified(*, db: Session, verified: Sequence[tuple[uuid.UUID, datetime]]) -> None:
    """Write a batch of verification times: one statement (never moves a time backwards)."""
    if not verified:
        return
    at = max(t for _sid, t in verified)
    db.execute(
        update(CalendarBinding)
        .where(col(CalendarBinding.session_id).in_([sid for sid, _t in verified]))
        .where((col(CalendarBinding.last_synced_at).is_(None)) | (col(CalendarBinding.last_synced_at) < at))
        .values(last_synced_at=at)
        .execution_options(synchronize_session=False)
    )
