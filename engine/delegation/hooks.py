"""Plugs organizer delegation into the sync engine: resolver, observer, auth-error hook, credentials.

Where it sits: composition, called where the reconciler is built (``engine.runtime.wiring``, the demo,
tests). One :class:`DelegationHooks` per process::

    hooks = DelegationHooks(settings, engine, kit=google_kit())
    ports = build_port_factory(settings, limiter=..., oauth=hooks.oauth_source)
    reconciler = SessionReconciler(engine=engine, calendars=ports,
                                   resolvers={**DEFAULT_RESOLVERS, "delegation": hooks.resolve},
                                   observers=[hooks.observe], after_record=[hooks.after_record],
                                   on_auth_error=hooks.on_auth_error)

* :meth:`DelegationHooks.resolve` - ``(db, facts, binding) -> Placement`` (whose calendar, Meet, room).
* :meth:`DelegationHooks.observe` - stores Meet/room state after the write; returns ``requeue_after``
  while Meet is ``pending`` or a room has not answered / declined, and schedules Muster's own retry
  of a failed Meet link or room (:mod:`engine.delegation.retry`).
* :meth:`DelegationHooks.after_record` - after that transaction committed, reads a recurring session's dates
  and books a room on each date the series room declined (Google calls, no transaction open).
* :meth:`DelegationHooks.on_auth_error` - marks the failed connection/user and asks for one requeue
  when another host may work (bounded: each round removes one identity).
* :attr:`DelegationHooks.oauth_source` - credentials of ``oauth`` actors from stored refresh tokens.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.errors import AuthError, ConnectorError
from connectors.ports.calendar import Actor, RemoteEvent
from connectors.ports.delegation import GoogleKit, RoomDirectory
from engine.delegation import retry
from engine.delegation.oauth import DIRECTORY_ROOMS_SCOPE
from engine.delegation.placement import (
    ROOM_ANSWER_DELAY,
    ROOM_MAX_POLLS,
    DelegationResolver,
    Notes,
    credential_source,
    explain,
    note_auth_failure,
    oauth_lookup,
    record_outcome,
    service_account_info,
)
from engine.delegation.room_exceptions import DateRoom, SeriesRooms, reconcile_series_rooms
from engine.delegation.room_exceptions import summary as room_summary
from engine.delegation.rooms import RoomPlanner, needs_for, policy_for
from engine.domain import meet
from engine.domain.desired import Placement, SessionFacts
from engine.domain.event_ids import event_id as deterministic_event_id
from engine.lifecycle.detect import on_identity_error
from engine.lifecycle.dispatch import request_transfer_after_commit
from engine.settings import Settings
from engine.store.models import (
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    GoogleConnection,
    IntegrationMode,
    LiveSession,
    Person,
    Tenant,
)
from engine.store.unit_of_work import unit_of_work
from engine.sync.fence import Fence, check_fence
from engine.sync.record import UNSUPPORTED, VENDOR_LIMIT_REASON

#: Requeue after an identity was marked failed, so the next host is tried.
NEXT_HOST_DELAY = timedelta(seconds=1)


class DelegationHooks:
    def __init__(self, settings: Settings, engine: Engine, *, kit: GoogleKit) -> None:
        self.settings = settings
        self.engine = engine
        self.kit = kit
        self.credentials = credential_source(settings, self._db, self.kit)
        self.oauth_source: Any = None
        if settings.google_oauth_client_id and settings.google_oauth_client_secret:
            self.oauth_source = self.kit.oauth_source(
                oauth_lookup(self._db, settings),
                client_id=settings.google_oauth_client_id,
                client_secret=settings.google_oauth_client_secret,
                root_url=settings.google_root_url,
            )
        self._notes: dict[uuid.UUID, Notes] = {}
        #: Series whose dates :meth:`after_record` reads once the recording transaction has committed.
        self._series_due: dict[uuid.UUID, _SeriesCheck] = {}
        self._lock = threading.Lock()
        #: Directory/free-busy calls made while choosing rooms (benchmarks).
        self.directory_calls = 0

    def _db(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # ------------------------------------------------------------------ rooms
    def directory_for(self, tenant: Tenant, actor: Actor) -> RoomDirectory | None:
        """A room directory reading as the tenant's Directory admin, asking free/busy as ``actor``."""
        admin = (tenant.directory_admin_email or "").lower()
        directory_actor: Actor | None = None
        if admin and service_account_info(self.settings) is not None:
            directory_actor = Actor(kind="delegated", email=admin, tenant_id=tenant.id)
        elif admin:
            with self._db() as db:
                row = db.exec(
                    select(GoogleConnection)
                    .join(Person)
                    .where(
                        Person.tenant_id == tenant.id,
                        Person.email == admin,
                        GoogleConnection.kind == ConnectionKind.OAUTH.value,
                        GoogleConnection.status == ConnectionStatus.CONNECTED.value,
                    )
                ).first()
                if row is not None and DIRECTORY_ROOMS_SCOPE in (row.scopes or []):
                    directory_actor = Actor(kind="oauth", email=admin, tenant_id=tenant.id, connection_id=row.id)
        if directory_actor is None:
            return None
        return self.kit.room_directory(
            self.credentials,
            root_url=self.settings.google_root_url,
            directory_actor=directory_actor,
            calendar_actor=actor,
        )

    # ------------------------------------------------------------------ reconciler hooks
    def resolve(self, db: Session, facts: SessionFacts, binding: CalendarBinding | None) -> Placement:
        resolver = DelegationResolver(db, settings=self.settings, rooms=RoomPlanner(db, self.directory_for))
        placement = resolver(facts)
        notes = resolver.notes.get(facts.id)
        if notes is not None:
            with self._lock:
                self._notes[facts.id] = notes
                self.directory_calls += notes.directory_calls
        return placement

    def quiet(self, facts: SessionFacts, binding: CalendarBinding, remote: RemoteEvent | None) -> bool:
        """Pure: whether :meth:`observe` would change nothing (the reconcile may then write nothing).

        Only outside delegation mode: there the observer merely forgets delegation state left on a vendor
        binding (a Meet link, a room), which it would not find. In delegation mode it always runs."""
        if facts.tenant.integration_mode == IntegrationMode.DELEGATION.value:
            return False
        if binding.actor_kind != "vendor":
            return True
        noted = (None, UNSUPPORTED)
        return not (
            binding.meet_link or binding.meet_request_id or binding.room_email or binding.room_name
            or binding.meet_attempt or binding.meet_polls
            or binding.meet_status not in noted or binding.room_status not in noted
            or binding.meet_error not in (None, VENDOR_LIMIT_REASON)
            or binding.room_error not in (None, VENDOR_LIMIT_REASON)
        )

    def observe(
        self, db: Session, facts: SessionFacts, binding: CalendarBinding, remote: RemoteEvent | None
    ) -> timedelta | None:
        if facts.tenant.integration_mode != IntegrationMode.DELEGATION.value:
            if binding.actor_kind == "vendor":  # e.g. after a switch back to vendor mode
                _forget_delegation_state(db, binding)
            return None
        with self._lock:
            notes = self._notes.pop(facts.id, None)
            self._series_due.pop(facts.id, None)
        request_id = None
        if remote is not None and facts.video == "meet" and notes is not None:
            eid = binding.event_id or deterministic_event_id(facts.tenant.id, facts.id, remote.calendar_id)
            request_id = meet.request_id(eid, max(notes.meet_attempt, 1))
        outcome = record_outcome(db, binding, facts, remote, notes, request_id=request_id)
        _store_room_name(binding, notes)
        if binding.actor_kind == "delegated" and binding.owner_email:
            _clear_delegation_mark(db, facts.tenant.id, binding.owner_email)
        requeue = outcome.requeue_after
        if facts.recurrence and binding.room_email and binding.room_status == "accepted" and remote is not None:
            self._series_room(db, facts, binding)
        elif (binding.blocked_detail or {}).get("room_exceptions"):
            detail = dict(binding.blocked_detail)
            for key in ("room_exceptions", "series_checked", "series_declined_dates", "series_polls"):
                detail.pop(key, None)
            binding.blocked_detail = detail
            db.add(binding)
        # A failed Meet link or a room that could not be booked: Muster's own retry clock, with backoff.
        session = db.get(LiveSession, facts.id)
        retry.schedule(
            binding,
            facts,
            self.settings,
            room_wanted=bool(session is not None and (session.room_wanted or session.room_email)),
            room_picked=bool(session is not None and session.room_email),
        )
        db.add(binding)
        return requeue

    def _series_room(self, db: Session, facts: SessionFacts, binding: CalendarBinding) -> None:
        """One room for the whole series; each date it declines gets another room of its own
        (:mod:`engine.delegation.room_exceptions`). Inside the recording transaction this only decides whether
        the series' dates must be read: that read (and any date-room booking) is left to :meth:`after_record`,
        which the reconciler calls once the transaction has committed."""
        detail = dict(binding.blocked_detail or {})
        series_room = (binding.room_email or "").lower()
        previous = [DateRoom.from_json(d) for d in detail.get("room_exceptions") or [] if isinstance(d, dict)]
        key = f"{facts.revision}:{series_room}"
        if detail.get("series_checked") == key or not binding.owner_email or not binding.event_id:
            _room_summary(binding, series_room, previous, detail.get("series_total"))
            db.add(binding)
            return
        actor = Actor(
            kind="oauth" if binding.actor_kind == "oauth" else "delegated",
            email=binding.owner_email,
            tenant_id=facts.tenant.id,
            connection_id=binding.actor_connection_id,
        )
        check = _SeriesCheck(
            key=key,
            series_room=series_room,
            actor=actor,
            calendar_id=binding.calendar_id or actor.email,
            event_id=binding.event_id,
            previous=tuple(previous),
        )
        with self._lock:
            self._series_due[facts.id] = check

    def after_record(self, facts: SessionFacts, fence: Fence) -> timedelta | None:
        """After the reconcile's recording transaction committed: read the series' dates and book a room on
        each date the series room declined (network calls, no transaction open), then store the result in a
        short transaction of its own, fenced like every binding write. Returns when to look again while a
        date room has not answered."""
        with self._lock:
            check = self._series_due.pop(facts.id, None)
        if check is None:
            return None
        with self._db() as db:
            tenant = db.get(Tenant, facts.tenant.id)
            session = db.get(LiveSession, facts.id)
            if tenant is None or session is None:
                return None
            policy = policy_for(tenant)
            needs = needs_for(db, session, policy)
            db.expunge(tenant)
        directory = self.directory_for(tenant, check.actor) or self.kit.room_directory(
            self.credentials, root_url=self.settings.google_root_url, directory_actor=None,
            calendar_actor=check.actor,
        )
        error: str | None = None
        result = None
        try:
            result = reconcile_series_rooms(
                directory,
                calendar_id=check.calendar_id,
                event_id=check.event_id,
                series_room=check.series_room,
                needs=needs,
                policy=policy,
                previous=check.previous,
            )
        except ConnectorError as exc:
            error = f"could not check the series' dates for the room: {exc}"
        finally:
            with self._lock:
                self.directory_calls += int(getattr(directory, "calls", 0))
        with unit_of_work(self.engine) as uow:
            check_fence(uow.db, facts.id, fence)
            binding = uow.db.exec(select(CalendarBinding).where(CalendarBinding.session_id == facts.id)).first()
            if binding is None or binding.event_id != check.event_id or (
                (binding.room_email or "").lower() != check.series_room
            ):
                return None  # the event or its room changed meanwhile: the next reconcile decides again
            return _store_series_result(binding, check, result, error, uow.db)

    def on_auth_error(self, db: Session, facts: SessionFacts, actor: Actor | None, err: AuthError) -> timedelta | None:
        if facts.tenant.integration_mode != IntegrationMode.DELEGATION.value or actor is None:
            return None
        with self._lock:
            self._notes.pop(facts.id, None)
        changed = note_auth_failure(db, facts.tenant.id, actor, err)
        binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == facts.id)).first()
        if binding is not None:  # say what to do, keep Google's words for support
            _, advice = explain(err, actor)
            binding.last_error = f"{advice} [Google: {err}]"
            db.add(binding)
        # Organizer lifecycle: notACalendarUser / invalid_grant for a deleted account means the person left.
        gone = on_identity_error(db=db, tenant_id=facts.tenant.id, email=actor.email, err=err)
        if gone is not None:
            request_transfer_after_commit(db, facts.tenant.id, gone.id)
        if actor.kind == "oauth":
            conn = db.get(GoogleConnection, actor.connection_id) if actor.connection_id else None
            changed = changed or (conn is not None and conn.status != ConnectionStatus.CONNECTED.value)
        return NEXT_HOST_DELAY if changed else None


@dataclass(frozen=True)
class _SeriesCheck:
    """What :meth:`DelegationHooks.after_record` needs to check a series' dates, taken from the binding."""

    key: str  #: ``revision:series room``, stored as ``series_checked`` once every date has an answer
    series_room: str
    actor: Actor
    calendar_id: str
    event_id: str
    previous: tuple[DateRoom, ...]


def _store_series_result(
    binding: CalendarBinding, check: _SeriesCheck, result: SeriesRooms | None, error: str | None, db: Session
) -> timedelta | None:
    """Record the series' dates on the binding (or why they could not be read)."""
    if result is None:
        binding.room_error = error
        db.add(binding)
        return None
    detail = dict(binding.blocked_detail or {})
    detail["room_exceptions"] = [d.to_json() for d in result.dates]
    detail["series_declined_dates"] = result.series_declined
    detail["series_total"] = result.total
    polls = int(detail.get("series_polls") or 0)
    again: timedelta | None = None
    if result.pending and polls < ROOM_MAX_POLLS:
        detail["series_polls"] = polls + 1
        detail.pop("series_checked", None)
        again = ROOM_ANSWER_DELAY
    else:
        detail["series_polls"] = 0
        detail["series_checked"] = check.key
    binding.blocked_detail = detail
    _room_summary(binding, check.series_room, result.dates, result.total)
    db.add(binding)
    return again


def _forget_delegation_state(db: Session, binding: CalendarBinding) -> None:
    """The event now lives on a vendor owner account's calendar, which carries no Meet conference and no
    room (mode switch back to vendor): the binding must not keep showing the old link or room answer."""
    if not (
        binding.meet_link
        or binding.meet_status
        or binding.room_email
        or binding.room_status
        or binding.meet_request_id
        or binding.meet_error
        or binding.room_error
    ):
        return
    binding.meet_link = binding.meet_status = binding.meet_request_id = binding.meet_error = None
    binding.meet_attempt = binding.meet_polls = 0
    binding.room_email = binding.room_status = binding.room_error = binding.room_name = None
    db.add(binding)


def _store_room_name(binding: CalendarBinding, notes: Notes | None) -> None:
    """Keep the booked room's Directory name beside its email (None when no room is booked)."""
    if not binding.room_email:
        binding.room_name = None
        return
    name = getattr(notes, "room_name", None) if notes is not None else None
    if notes is not None and (notes.room_email or "").lower() == binding.room_email.lower():
        binding.room_name = name if isinstance(name, str) and name else binding.room_name


def _room_summary(binding: CalendarBinding, series_room: str, dates: list[DateRoom], total: object = None) -> None:
    """Say on the binding which dates of the series have no room (appended to the series' own message)."""
    line = room_summary(series_room, dates, total if isinstance(total, int) else None)
    if line and line not in (binding.room_error or ""):
        binding.room_error = f"{binding.room_error}; {line}" if binding.room_error else line


def _clear_delegation_mark(db: Session, tenant_id: uuid.UUID, email: str) -> None:
    """A write as this delegated user worked again: forget an earlier refusal."""
    row = db.exec(
        select(GoogleConnection)
        .join(Person)
        .where(
            Person.tenant_id == tenant_id,
            Person.email == email,
            GoogleConnection.kind == ConnectionKind.DELEGATION.value,
        )
    ).first()
    if row is not None and row.status != ConnectionStatus.CONNECTED.value:
        row.status = ConnectionStatus.CONNECTED.value
        row.last_error = None
        db.add(row)
