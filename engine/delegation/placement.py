"""Delegation mode's placement: whose calendar holds a session's event, with what Meet and which room.

Where it sits: :mod:`engine.sync.reconciler` asks for a :data:`~engine.domain.desired.PlacementResolver` per tenant;
for a delegation-mode tenant it is a :class:`DelegationResolver`. After the executor ran, the reconciler
hands the written/read event to :func:`record_outcome`, which stores Meet and room state on the
:class:`~engine.store.models.CalendarBinding` and returns how soon to look again (``requeue_after``).

Whose calendar (issue §2):

1. A session whose event already lives on a host's calendar stays there (``binding.owner_email``), so a
   broken token never creates a second event: the binding is *blocked* with "reconnect" until the
   organizer reconnects (:func:`engine.delegation.oauth.complete` enqueues their sessions).
2. Otherwise the hosts in order (organizer first): the first one Muster can act as. With domain-wide
   delegation that is any active host of the tenant's Google domain (unless Google said the user is not
   a Calendar user); with OAuth, a host whose connection is ``connected``.
3. Nobody: :class:`NoConnectedOrganizer`: the session is saved, its binding says "no connected
   organizer" and which hosts could connect; it syncs as soon as one does.

Errors a delegated identity meets are turned into binding text by :func:`explain` (e.g. a service
account without delegation: "Google refuses attendees and Meet links").
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from connectors.errors import AuthError, ConfigurationError, ConnectorError
from connectors.ports.calendar import Actor, RemoteEvent
from connectors.ports.delegation import GoogleKit, OAuthSecret
from engine.crypto import DecryptionError, decrypt
from engine.delegation import retry
from engine.delegation.oauth import mark_broken
from engine.domain import meet
from engine.domain.desired import Placement, PlacementError, SessionFacts
from engine.domain.event_ids import event_id as deterministic_event_id
from engine.settings import ConfigError, Settings, read_service_account_key
from engine.store.models import (
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    DelegationMethod,
    GoogleConnection,
    LiveSession,
    Person,
    PersonStatus,
    SessionHost,
    SyncStatus,
    Tenant,
)
from engine.store.types import utcnow


class NoConnectedOrganizer(PlacementError):
    """No host of the session can be acted as. ``could_connect`` lists who could fix it."""

    def __init__(self, could_connect: Sequence[str], reasons: Sequence[str]) -> None:
        self.could_connect = tuple(could_connect)
        self.reasons = tuple(reasons)
        who = ", ".join(self.could_connect) or "nobody (the session has no active host)"
        super().__init__(
            f"no connected organizer: {who} could connect Google"
            + (f" ({'; '.join(self.reasons)})" if self.reasons else "")
        )


class ReconnectNeeded(PlacementError):
    """The event lives on ``email``'s calendar and their connection stopped working."""

    def __init__(self, email: str, detail: str | None) -> None:
        self.email = email
        super().__init__(
            f"{email} must reconnect Google: {detail or 'the stored access no longer works'}; "
            "the session syncs again as soon as they do"
        )


class DelegationSetupError(PlacementError):
    """The tenant's delegation setup is incomplete (e.g. domain-wide delegation without a key)."""


@dataclass
class Notes:
    """What the resolver learned that the binding should show after the write."""

    room_email: str | None = None
    room_capacity: int | None = None
    room_status: str | None = None
    room_error: str | None = None
    meet_attempt: int = 0
    directory_calls: int = 0
    blocked_detail: dict[str, Any] = field(default_factory=dict)


#: A delegated user Google refused (suspended, no Calendar) is tried again after this long.
DELEGATED_RETRY_AFTER = timedelta(hours=6)


def _stale(conn: GoogleConnection) -> bool:
    """A refusal old enough to try the user again (they may have been unsuspended since)."""
    return conn.last_checked_at is None or utcnow() - conn.last_checked_at > DELEGATED_RETRY_AFTER


def _email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def service_account_info(settings: Settings) -> dict[str, str] | None:
    """The service account key if configured and readable, else None."""
    if settings.google_service_account_file is None:
        return None
    try:
        return read_service_account_key(settings.google_service_account_file)
    except ConfigError:
        return None


class DelegationResolver:
    """``SessionFacts -> Placement`` for a delegation-mode tenant (one instance per reconcile or batch).

    ``rooms`` (optional) is called as ``rooms(session, binding, actor, notes) -> room email | None`` and
    fills ``notes`` (see :class:`engine.delegation.rooms.RoomPlanner`). ``notes[session_id]`` is read back by
    :func:`record_outcome`.
    """

    def __init__(
        self,
        db: Session,
        *,
        settings: Settings,
        rooms: Callable[[LiveSession, CalendarBinding | None, Actor, Notes], str | None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.rooms = rooms
        self.notes: dict[uuid.UUID, Notes] = {}
        self._dwd_ready = service_account_info(settings) is not None

    # ------------------------------------------------------------------ who can act
    def actor_for(self, tenant: Tenant, person: Person) -> tuple[Actor | None, str | None]:
        """The identity Muster can use for ``person`` now, or why not."""
        # A person who announced a departure keeps a working account until their last day; the
        # organizer lifecycle (engine.lifecycle) moves their events before then.
        if person.status not in (PersonStatus.ACTIVE.value, PersonStatus.LEAVING.value):
            return None, f"{person.email} is {person.status}"
        conns = {
            c.kind: c
            for c in self.db.exec(
                select(GoogleConnection).where(GoogleConnection.person_id == person.id)
            ).all()
        }
        oauth = conns.get(ConnectionKind.OAUTH.value)
        if oauth is not None and oauth.status == ConnectionStatus.CONNECTED.value:
            return Actor(
                kind="oauth", email=oauth.google_email.lower(), tenant_id=tenant.id, connection_id=oauth.id
            ), None
        if tenant.delegation_method == DelegationMethod.DOMAIN_WIDE.value:
            in_domain = (
                not tenant.google_domain or _email_domain(person.email) == tenant.google_domain.lower()
            )
            dwd = conns.get(ConnectionKind.DELEGATION.value)
            if not self._dwd_ready:
                return (
                    None,
                    "domain-wide delegation is selected but MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE is not set",
                )
            if in_domain and (dwd is None or dwd.status == ConnectionStatus.CONNECTED.value or _stale(dwd)):
                return Actor(
                    kind="delegated",
                    email=person.email.lower(),
                    tenant_id=tenant.id,
                    connection_id=dwd.id if dwd else None,
                ), None
            if dwd is not None and dwd.status != ConnectionStatus.CONNECTED.value:
                return None, f"{person.email}: {dwd.last_error or dwd.status}"
            if not in_domain:
                return None, f"{person.email} is outside {tenant.google_domain} and has not connected Google"
        if oauth is not None:
            return None, f"{person.email}: {oauth.last_error or 'connection ' + oauth.status}"
        return None, f"{person.email} has not connected Google"

    def _hosts(self, session_id: uuid.UUID) -> list[Person]:
        rows = self.db.exec(
            select(SessionHost, Person)
            .where(SessionHost.session_id == session_id, col(SessionHost.person_id) == Person.id)
            .order_by(col(SessionHost.position))
        ).all()
        return [p for _, p in rows]

    def choose_actor(self, tenant: Tenant, session_id: uuid.UUID, binding: CalendarBinding | None) -> Actor:
        """Whose calendar (rules in the module docstring); raises a :class:`PlacementError` subclass."""
        hosts = self._hosts(session_id)
        bound = (binding.owner_email or "").lower() if binding and binding.event_id else ""
        if bound and binding is not None and binding.sync_status != SyncStatus.REMOVED.value:
            fallback = (tenant.fallback_owner_email or "").lower()
            if bound == fallback and all(p.email.lower() != bound for p in hosts):
                # The organizer lifecycle handed the event to the tenant's fallback owner: it stays there.
                keeper = self.db.exec(
                    select(Person).where(Person.tenant_id == tenant.id, Person.email == bound)
                ).first()
                hosts = [keeper, *hosts] if keeper is not None else hosts
            for person in hosts:
                if person.email.lower() == bound:
                    actor, why = self.actor_for(tenant, person)
                    if actor is not None:
                        return actor
                    raise ReconnectNeeded(person.email, why)
        reasons: list[str] = []
        could: list[str] = []
        for person in hosts:
            actor, why = self.actor_for(tenant, person)
            if actor is not None:
                return actor
            if why:
                reasons.append(why)
            if person.status == PersonStatus.ACTIVE.value:
                could.append(person.email)
        raise NoConnectedOrganizer(could, reasons)

    # ------------------------------------------------------------------ placement
    def __call__(self, facts: SessionFacts) -> Placement:
        tenant = self.db.get(Tenant, facts.tenant.id)
        session = self.db.get(LiveSession, facts.id)
        if tenant is None or session is None:
            raise PlacementError("the session or its tenant no longer exists")
        binding = self.db.exec(select(CalendarBinding).where(CalendarBinding.session_id == facts.id)).first()
        actor = self.choose_actor(tenant, facts.id, binding)
        notes = self.notes.setdefault(facts.id, Notes())
        calendar_id = actor.email
        eid = deterministic_event_id(tenant.id, facts.id, calendar_id)
        if binding is not None and binding.event_id and (binding.calendar_id or "").lower() == calendar_id:
            eid = binding.event_id  # moved here by events.move / Data Transfer: Google kept the old id
        same_event = binding is not None and binding.event_id == eid
        attempt = meet.next_attempt(
            video=facts.video,
            attempt=binding.meet_attempt if binding and same_event else 0,
            status=binding.meet_status if binding and same_event else None,
            retry_due=retry.meet_due(binding if same_event else None, facts.revision),
        )
        notes.meet_attempt = attempt
        conference = meet.conference_wish(
            video=facts.video, manual_link=facts.manual_join_link, event_id=eid, attempt=attempt
        )
        room: str | None = None
        if facts.wants_event and self.rooms is not None:
            room = self.rooms(session, binding if same_event else None, actor, notes)
        return Placement(
            actor=actor, calendar_id=calendar_id, event_id=eid, conference=conference, room_email=room
        )


# ---------------------------------------------------------------------- after the write
#: How soon to look at a room's answer after booking it (rooms answer a moment after the write).
ROOM_ANSWER_DELAY = timedelta(seconds=2)
#: Looks at an unanswered room before reporting it as waiting for a resource manager.
ROOM_MAX_POLLS = 5


@dataclass(frozen=True)
class Outcome:
    requeue_after: timedelta | None
    meet_status: str | None
    room_status: str | None


def _min(a: timedelta | None, b: timedelta | None) -> timedelta | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def record_outcome(
    db: Session,
    binding: CalendarBinding,
    facts: SessionFacts,
    remote: RemoteEvent | None,
    notes: Notes | None,
    *,
    request_id: str | None = None,
) -> Outcome:
    """Store Meet and room state seen on the event; return when to reconcile again (poll, next room)."""
    notes = notes or Notes()
    requeue: timedelta | None = None
    # Meet
    if facts.video == "meet" and remote is not None:
        binding.meet_attempt = max(notes.meet_attempt, 1)
        binding.meet_request_id = request_id or meet.request_id(remote.event_id, binding.meet_attempt)
    state = meet.observe(remote, video=facts.video, polls=binding.meet_polls, expected_request_id=request_id)
    binding.meet_status = state.status
    binding.meet_link = (
        state.link if facts.video == "meet" else (facts.manual_join_link if facts.video == "manual" else None)
    )
    binding.meet_error = state.error
    binding.meet_polls = state.polls
    requeue = _min(requeue, state.requeue_after)
    # Room
    room = notes.room_email
    if room and remote is not None and not remote.is_cancelled:
        answer = remote.responses.get(room.lower(), "needsAction")
        binding.room_email = room
        binding.room_status = answer
        polls = int(binding.blocked_detail.get("room_polls", 0)) if binding.blocked_detail else 0
        if answer == "declined":
            declined = list(binding.rooms_declined or [])
            if room.lower() not in declined:
                declined.append(room.lower())
            binding.rooms_declined = declined
            binding.room_error = f"{room} declined (busy at that time, or Muster's organizer may not book it)"
            binding.room_email = None
            requeue = _min(requeue, timedelta(seconds=0.2))
            polls = 0
        elif answer == "needsAction":
            if polls < ROOM_MAX_POLLS:
                requeue = _min(requeue, ROOM_ANSWER_DELAY)
                polls += 1
            else:
                binding.room_error = (
                    f"{room} has not answered yet (a resource manager may need to approve it)"
                )
        else:
            binding.room_error = notes.room_error
            polls = 0
        binding.blocked_detail = {
            **(binding.blocked_detail or {}),
            "room_polls": polls,
            "room_capacity": notes.room_capacity,
        }
    elif room is None:
        released = binding.room_email is not None and (
            remote is None or remote.is_cancelled or not facts.wants_event
        )
        binding.room_email = None
        binding.room_status = "released" if released else notes.room_status
        binding.room_error = notes.room_error
        if notes.room_status == "none":  # remember the revision, so polls do not ask the Directory again
            binding.blocked_detail = {
                **(binding.blocked_detail or {}),
                "room_none_revision": facts.revision,
                "rooms_declined_count": len(binding.rooms_declined or []),
            }
    binding.updated_at = utcnow()
    db.add(binding)
    return Outcome(requeue, binding.meet_status, binding.room_status)


# ---------------------------------------------------------------------- errors → binding text
def explain(err: ConnectorError, actor: Actor | None) -> tuple[str, str]:
    """``(sync_status, message)`` for an error met while acting as ``actor`` in delegation mode."""
    reason = err.reason or ""
    who = actor.email if actor else "the organizer"
    if reason == "forbiddenForServiceAccounts":
        return (
            SyncStatus.BLOCKED.value,
            "this is a service account without delegation: Google refuses attendees and Meet links for it. "
            "Authorize Muster's client id for domain-wide delegation in Google Admin, or let the organizer "
            "connect Google",
        )
    if reason == "unauthorized_client":
        return (
            SyncStatus.BLOCKED.value,
            "Muster's client id is not authorized for domain-wide delegation (or not for the "
            "Calendar scope): a service account without delegation, for which Google refuses "
            "attendees and Meet links. Fix it in Google Admin > Security > API controls > "
            "Domain-wide delegation, then run Test connection",
        )
    if reason == "invalid_grant":
        return (
            SyncStatus.BLOCKED.value,
            f"{who} must reconnect Google: the stored access was expired or revoked",
        )
    if reason == "notACalendarUser":
        return SyncStatus.BLOCKED.value, f"{who} is suspended or has no Google Calendar"
    if isinstance(err, AuthError):
        return SyncStatus.BLOCKED.value, f"{who} cannot act in Google"
    return SyncStatus.ERROR.value, str(err)


def note_auth_failure(db: Session, tenant_id: uuid.UUID, actor: Actor, err: AuthError) -> bool:
    """Mark the connection behind ``actor`` after an ``AuthError`` so the next reconcile moves on.

    OAuth ``invalid_grant`` marks the connection expired/revoked (reconnect prompt); a delegated user
    that Google says cannot use Calendar (``notACalendarUser``, ``invalid_grant`` for a deleted user) gets
    a ``delegation`` connection row with status ``suspended``. Returns True when something changed (the
    caller may then requeue once so the next host is tried). Tenant-wide setup errors
    (``unauthorized_client``, ``forbiddenForServiceAccounts``) change nothing per person: every session
    of the tenant shows the same fix, and nothing retries until the setup changes.
    """
    reason = err.reason or ""
    if actor.kind == "oauth":
        conn = db.get(GoogleConnection, actor.connection_id) if actor.connection_id else None
        if conn is None or reason not in ("invalid_grant", "insufficientPermissions", "invalid_client"):
            return False
        return mark_broken(db, conn, error=f"{reason}: {err}", revoked="revoked" in str(err).lower())
    if actor.kind == "delegated" and reason in ("notACalendarUser", "invalid_grant"):
        person = db.exec(
            select(Person).where(Person.tenant_id == tenant_id, Person.email == actor.email)
        ).first()
        if person is None:
            return False
        conn = db.exec(
            select(GoogleConnection).where(
                GoogleConnection.person_id == person.id,
                GoogleConnection.kind == ConnectionKind.DELEGATION.value,
            )
        ).first()
        if conn is None:
            conn = GoogleConnection(
                tenant_id=tenant_id,
                person_id=person.id,
                google_email=actor.email,
                kind=ConnectionKind.DELEGATION.value,
            )
        changed = conn.status != ConnectionStatus.SUSPENDED.value
        conn.status = ConnectionStatus.SUSPENDED.value
        conn.last_error = f"Google says {actor.email} cannot use Calendar ({reason})"
        conn.last_checked_at = utcnow()
        db.add(conn)
        return changed
    return False


# ---------------------------------------------------------------------- credentials for the sync
def oauth_lookup(engine_db: Callable[[], Session], settings: Settings) -> Callable[[Actor], OAuthSecret]:
    """``Actor -> OAuthSecret`` reading the connection in its own short session (worker threads)."""

    def lookup(actor: Actor) -> OAuthSecret:
        with engine_db() as db:
            conn = db.get(GoogleConnection, actor.connection_id) if actor.connection_id else None
            if conn is None or not conn.refresh_token_encrypted:
                raise AuthError(
                    f"{actor.email} has no stored Google connection",
                    identity=actor.email,
                    reason="invalid_grant",
                )
            if conn.status != ConnectionStatus.CONNECTED.value:
                raise AuthError(
                    f"{actor.email}: {conn.last_error or conn.status}",
                    identity=actor.email,
                    reason="invalid_grant",
                )
            try:
                token = decrypt(settings.all_secret_keys, conn.refresh_token_encrypted)
            except DecryptionError as exc:
                # Muster's key is wrong, not the person's grant: never mark the connection expired.
                raise ConfigurationError(f"{actor.email}: {exc}", reason="secret_key") from None
            return OAuthSecret(token, tuple(conn.scopes or ()))

    return lookup


def credential_source(
    settings: Settings, engine_db: Callable[[], Session], kit: GoogleKit
) -> Any:
    """The credential source for delegation-mode sync (service account + stored OAuth tokens)."""
    return kit.credential_source(
        service_account_info=service_account_info(settings),
        root_url=settings.google_root_url,
        oauth_lookup=oauth_lookup(engine_db, settings),
        client_id=settings.google_oauth_client_id,
        client_secret=settings.google_oauth_client_secret,
    )
