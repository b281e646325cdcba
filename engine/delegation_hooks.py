"""Plugs organizer delegation into the sync engine: resolver, observer, auth-error hook, credentials.

Where it sits: composition, called where the reconciler is built (``engine.runtime``, the demo,
tests). One :class:`DelegationHooks` per process::

    hooks = DelegationHooks(settings, engine)
    ports = build_port_factory(settings, limiter=..., oauth=hooks.oauth_source)
    reconciler = SessionReconciler(engine=engine, calendars=ports, base_url=settings.base_url,
                                   resolvers={**DEFAULT_RESOLVERS, "delegation": hooks.resolve},
                                   observers=[hooks.observe], on_auth_error=hooks.on_auth_error)

* :meth:`DelegationHooks.resolve` - ``(db, facts, binding) -> Placement`` (whose calendar, Meet, room).
* :meth:`DelegationHooks.observe` - stores Meet/room state after the write; returns ``requeue_after``
  while Meet is ``pending`` or a room has not answered / declined.
* :meth:`DelegationHooks.on_auth_error` - marks the failed connection/user and asks for one requeue
  when another host may work (bounded: each round removes one identity).
* :attr:`DelegationHooks.oauth_source` - credentials of ``oauth`` actors from stored refresh tokens.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.delegation_ports import GoogleKit, RoomDirectory
from connectors.errors import AuthError, ConnectorError
from connectors.ports import Actor, RemoteEvent
from engine import meet
from engine.delegation import (
    DelegationResolver,
    Notes,
    credential_source,
    explain,
    note_auth_failure,
    oauth_lookup,
    record_outcome,
    service_account_info,
)
from engine.desired import Placement, SessionFacts
from engine.google_kit import google_kit
from engine.identity import event_id as deterministic_event_id
from engine.lifecycle.detect import on_identity_error
from engine.lifecycle.dispatch import request_transfer_after_commit
from engine.models import (
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    GoogleConnection,
    IntegrationMode,
    Person,
    Tenant,
)
from engine.oauth import DIRECTORY_ROOMS_SCOPE
from engine.rooms import RoomPlanner
from engine.settings import Settings
from policies.rooms import SeriesVerdict, series_verdict

#: Requeue after an identity was marked failed, so the next host is tried.
NEXT_HOST_DELAY = timedelta(seconds=1)


class DelegationHooks:
    def __init__(self, settings: Settings, engine: Engine, *, kit: GoogleKit | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.kit = kit or google_kit()
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

    def observe(
        self, db: Session, facts: SessionFacts, binding: CalendarBinding, remote: RemoteEvent | None
    ) -> timedelta | None:
        if facts.tenant.integration_mode != IntegrationMode.DELEGATION.value:
            if binding.actor_kind == "vendor":  # e.g. after a switch back to vendor mode
                _forget_delegation_state(db, binding)
            return None
        with self._lock:
            notes = self._notes.pop(facts.id, None)
        request_id = None
        if remote is not None and facts.video == "meet" and notes is not None:
            eid = binding.event_id or deterministic_event_id(facts.tenant.id, facts.id, remote.calendar_id)
            request_id = meet.request_id(eid, max(notes.meet_attempt, 1))
        outcome = record_outcome(db, binding, facts, remote, notes, request_id=request_id)
        if binding.actor_kind == "delegated" and binding.owner_email:
            _clear_delegation_mark(db, facts.tenant.id, binding.owner_email)
        if facts.recurrence and binding.room_email and binding.room_status == "accepted" and remote is not None:
            self._series_room(db, facts, binding)
        return outcome.requeue_after

    def _series_room(self, db: Session, facts: SessionFacts, binding: CalendarBinding) -> None:
        """One room for the whole series: keep it when single dates were declined, and say which."""
        detail = dict(binding.blocked_detail or {})
        key = f"{facts.revision}:{binding.room_email}"
        if detail.get("series_checked") == key or not binding.owner_email or not binding.event_id:
            return
        actor = Actor(
            kind="oauth" if binding.actor_kind == "oauth" else "delegated",
            email=binding.owner_email,
            tenant_id=facts.tenant.id,
            connection_id=binding.actor_connection_id,
        )
        directory = self.kit.room_directory(
            self.credentials,
            root_url=self.settings.google_root_url,
            directory_actor=None,
            calendar_actor=actor,
        )
        try:
            answers = directory.room_answers(
                binding.calendar_id or actor.email, binding.event_id, binding.room_email or ""
            )
        except ConnectorError as exc:
            binding.room_error = f"could not read the series' room answers: {exc}"
            db.add(binding)
            return
        verdict = series_verdict([a for _, a in answers], master_response=binding.room_status or "")
        declined = [when for when, answer in answers if answer == "declined"]
        if verdict is SeriesVerdict.PARTIAL:
            shown = ", ".join(d[:16] for d in declined[:6]) + (" …" if len(declined) > 6 else "")
            binding.room_error = (
                f"{binding.room_email} is booked for the series but declined {len(declined)} of "
                f"{len(answers)} dates ({shown}); those dates have no room"
            )
        detail["series_checked"] = key
        detail["series_declined_dates"] = declined
        binding.blocked_detail = detail
        db.add(binding)

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
    binding.room_email = binding.room_status = binding.room_error = None
    db.add(binding)


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
