"""The domain model: every table Muster keeps, multi-tenant from the first one.

Where it sits: the REST API (:mod:`engine.api`) and the admin UI write the platform's truth here
(tenants, people, sessions, hosts, enrollments); the reconciler (:mod:`engine.sync.reconciler`) reads it as the
*desired* state and records what it did in :class:`CalendarBinding` (the *observed* bookkeeping) and
:class:`AuditEvent`. Data functions never commit; the unit-of-work owner does (house style §10).

Every datetime column is :class:`~engine.store.types.UTCDateTime`: aware UTC in, aware UTC out. A session's
own IANA zone is kept next to its UTC instants and applied only at the Google mapping edge.

Enumerations are stored as short strings (portable across SQLite and PostgreSQL, readable in SQL) and
exposed as :class:`enum.StrEnum` so code compares against names, not literals.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.store.types import UTCDateTime, utcnow


class IntegrationMode(enum.StrEnum):
    VENDOR = "vendor"  #: Muster's own owner account(s) own every event; no rooms, no Meet.
    DELEGATION = "delegation"  #: Muster acts as each organizer (OAuth consent or domain-wide delegation).


class Role(enum.StrEnum):
    ADMIN = "admin"
    ORGANIZER = "organizer"
    LEARNER = "learner"
    VIEWER = "viewer"


class PersonStatus(enum.StrEnum):
    ACTIVE = "active"
    LEAVING = "leaving"  #: the platform announced a departure (optionally with ``leaving_on``)
    SUSPENDED = "suspended"
    DELETED = "deleted"


class SessionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class VideoChoice(enum.StrEnum):
    MEET = "meet"  #: a unique Google Meet link (delegation mode only)
    MANUAL = "manual"  #: the organizer pasted ``manual_join_link``
    NONE = "none"


class DelegationMethod(enum.StrEnum):
    """How a delegation-mode tenant lets Muster act as its organizers (see docs/integration-modes.md)."""

    OAUTH = "oauth"  #: each organizer clicks "Connect Google" and consents
    DOMAIN_WIDE = "domain_wide"  #: the Workspace admin authorized Muster's service account client id


class ModeSwitchStatus(enum.StrEnum):
    PREVIEWED = "previewed"  #: a plan was computed and shown; nothing changed in Google yet
    RUNNING = "running"
    PAUSED = "paused"  #: stopped cleanly on an error; ``apply`` resumes from the next pending session
    DONE = "done"


class HostRole(enum.StrEnum):
    ORGANIZER = "organizer"
    CO_HOST = "co_host"
    PRESENTER = "presenter"


class EnrollmentStatus(enum.StrEnum):
    ENROLLED = "enrolled"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class ConnectionKind(enum.StrEnum):
    OAUTH = "oauth"  #: the organizer consented; we hold their refresh token (encrypted)
    DELEGATION = "delegation"  #: the customer's admin authorized our service account domain-wide


class ConnectionStatus(enum.StrEnum):
    CONNECTED = "connected"
    EXPIRED = "expired"
    REVOKED = "revoked"
    SUSPENDED = "suspended"


class SyncStatus(enum.StrEnum):
    PENDING = "pending"  #: saved, not yet reconciled
    SYNCED = "synced"  #: Google holds what the platform says
    ERROR = "error"  #: the last attempt failed; ``last_error`` says why, a retry is scheduled
    BLOCKED = "blocked"  #: cannot sync until someone acts (connect, reconnect, fix config)
    REMOVED = "removed"  #: the event was deleted because the session was removed


def _uuid() -> uuid.UUID:
    return uuid.uuid4()


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    """A UTC timestamp column (defaults to now when not nullable)."""
    if nullable:
        return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=index))
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=index))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class Tenant(SQLModel, table=True):
    """A customer workspace and how Muster talks to its Google.

    ``settings`` holds the policy settings as validated data (see :mod:`policies`): privacy
    (guest-list visibility), notifications, room upsizing, successor rules.
    """

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    slug: str = Field(max_length=63, unique=True, index=True)
    name: str = Field(max_length=200)
    google_domain: str | None = Field(default=None, max_length=253)
    integration_mode: str = Field(default=IntegrationMode.VENDOR.value, max_length=16)
    #: Vendor mode: the pool of vendor-owned calendar users that own events (a stable hash picks one).
    vendor_owner_emails: list[str] = _json(list)
    #: Delegation mode: the customer admin Directory calls impersonate (rooms, users).
    directory_admin_email: str | None = Field(default=None, max_length=320)
    #: Delegation mode: per-organizer OAuth consent, or domain-wide delegation (see DelegationMethod).
    delegation_method: str = Field(default=DelegationMethod.OAUTH.value, max_length=16)
    #: Organizer lifecycle: who inherits events when no co-host can.
    fallback_owner_email: str | None = Field(default=None, max_length=320)
    settings: dict[str, Any] = _json(dict)
    #: The shared secret of the tenant's outbound webhooks (Fernet ciphertext, see :mod:`engine.crypto`);
    #: set through tenant set-up (``webhook_secret``), never shown again. None: no secret set.
    webhook_secret_encrypted: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class ApiKeyKind(enum.StrEnum):
    """What a key opens. Each kind is refused everywhere else (an ingest key never administers)."""

    INGEST = "ingest"  #: the platform's key for the ingest REST API (``/v1/sessions`` ...)
    ADMIN = "admin"  #: one admin's token for the admin REST API (``/v1/admin/...``), tied to ``person_id``
    SIGN_IN = "sign_in"  #: a one-time sign-in link: sets ``person_id``'s password once, before ``expires_at``


class ApiKey(SQLModel, table=True):
    """A per-tenant secret: the platform's ingest key, an admin's token, or a one-time sign-in link.

    Only a hash is stored; the secret is shown once. ``kind`` says what it opens (:class:`ApiKeyKind`).
    """

    __tablename__ = "api_key"

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    name: str = Field(default="default", max_length=100)
    prefix: str = Field(max_length=16, index=True)  #: the key's public start, to find the row
    key_hash: str = Field(max_length=128)  #: sha256 hex of the whole key (keys are 256-bit random)
    kind: str = Field(
        default=ApiKeyKind.INGEST.value,
        max_length=16,
        sa_column_kwargs={"server_default": ApiKeyKind.INGEST.value},
    )
    #: The person an admin token or sign-in link belongs to (None for the platform's ingest keys).
    person_id: uuid.UUID | None = Field(default=None, index=True)
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    expires_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class Person(SQLModel, table=True):
    """Anyone Muster knows in a tenant: admins, organizers, learners, viewers.

    ``roles`` says what the person does on the platform (``organizer`` when they host, ``learner`` when
    they enroll); it grants nothing. ``admin_role`` is the admin-side role an admin granted (admin,
    organizer, viewer; None = no admin UI), the only input of :mod:`engine.admin.roles`.
    ``password_hash`` is set only for people who sign in to the admin UI with a password (argon2).
    """

    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_person_tenant_email"),)

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    email: str = Field(max_length=320)  #: lower-cased
    display_name: str | None = Field(default=None, max_length=200)
    roles: list[str] = _json(list)
    admin_role: str | None = Field(default=None, max_length=16)
    status: str = Field(default=PersonStatus.ACTIVE.value, max_length=16)
    leaving_on: date | None = Field(default=None)
    google_user_id: str | None = Field(default=None, max_length=64)
    password_hash: str | None = Field(default=None, max_length=255)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class LiveSession(SQLModel, table=True):
    """A live session as the learning platform describes it (the desired state's root).

    ``start_at``/``end_at`` are UTC instants; ``time_zone`` is the IANA zone the session is held in
    (recurrences keep their local wall-clock time in that zone across clock changes).
    ``deleted_at`` marks a session the platform removed: its event is deleted, the row stays for audit.
    ``revision`` increases on every platform write, so a reconcile can tell what it saw.
    """

    __tablename__ = "live_session"
    __table_args__ = (UniqueConstraint("tenant_id", "external_id", name="uq_session_tenant_external"),)

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    external_id: str = Field(max_length=200)
    title: str = Field(max_length=500)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    start_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    end_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    time_zone: str = Field(max_length=64)
    recurrence: str | None = Field(default=None, max_length=500)  #: an RRULE line, e.g. ``RRULE:FREQ=WEEKLY;COUNT=8``
    location: str | None = Field(default=None, max_length=500)
    video: str = Field(default=VideoChoice.NONE.value, max_length=16)
    manual_join_link: str | None = Field(default=None, max_length=2000)
    #: The platform's own page for this session (linked from the event's description); None: no link.
    platform_url: str | None = Field(default=None, max_length=2000)
    #: The learning platform has written this session through the REST API: its fields are the platform's,
    #: so the admin UI's session form shows them read-only (the platform's next PUT would replace any edit).
    platform_owned: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    capacity: int | None = Field(default=None)
    status: str = Field(default=SessionStatus.SCHEDULED.value, max_length=16)
    room_wanted: bool = Field(default=False)
    room_min_capacity: int | None = Field(default=None)
    room_building: str | None = Field(default=None, max_length=100)
    room_features: list[str] = _json(list)
    #: An explicit room the organizer picked (resource email); None lets policy choose.
    room_email: str | None = Field(default=None, max_length=320)
    revision: int = Field(default=1)
    deleted_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts(index=True)


class SessionHost(SQLModel, table=True):
    """Organizer, co-hosts and presenters of a session, in order (``position`` 0 is the organizer)."""

    __tablename__ = "session_host"
    __table_args__ = (UniqueConstraint("session_id", "person_id", name="uq_host_session_person"),)

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    session_id: uuid.UUID = Field(foreign_key="live_session.id", index=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    role: str = Field(default=HostRole.CO_HOST.value, max_length=16)
    position: int = Field(default=0)
    #: The host's answer in Google as last observed (see :class:`Enrollment`); None: never seen.
    response_status: str | None = Field(default=None, max_length=16)
    response_comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    responded_at: datetime | None = _ts(nullable=True)


class Enrollment(SQLModel, table=True):
    """A learner's place in a session. Only ``enrolled`` learners become attendees."""

    __table_args__ = (UniqueConstraint("session_id", "person_id", name="uq_enrollment_session_person"),)

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    session_id: uuid.UUID = Field(foreign_key="live_session.id", index=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    status: str = Field(default=EnrollmentStatus.ENROLLED.value, max_length=16)
    #: The learner's answer to the invitation as Muster last observed it on the event in Google
    #: (``needsAction`` / ``accepted`` / ``tentative`` / ``declined``; None: never seen), with the comment
    #: they wrote and when Muster saw it change (:mod:`engine.sync.answers`).
    response_status: str | None = Field(default=None, max_length=16)
    response_comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    responded_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class GoogleConnection(SQLModel, table=True):
    """How Muster may act as a person in Google, and whether that currently works.

    ``refresh_token_encrypted`` is Fernet ciphertext (see :mod:`engine.crypto`); plaintext tokens are
    never stored. ``status`` is what the admin UI shows; ``last_error`` says why it is not connected.
    """

    __tablename__ = "google_connection"
    __table_args__ = (UniqueConstraint("person_id", "kind", name="uq_connection_person_kind"),)

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    google_email: str = Field(max_length=320)
    kind: str = Field(max_length=16)
    refresh_token_encrypted: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    scopes: list[str] = _json(list)
    status: str = Field(default=ConnectionStatus.CONNECTED.value, max_length=16)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_checked_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CalendarBinding(SQLModel, table=True):
    """What Muster last did in Google for one session: where its event lives and how that went.

    One row per session. ``event_id`` is deterministic (see :mod:`engine.domain.event_ids`), so a binding can be
    lost and rebuilt from Google. ``essence_hash`` is the hash of the fields Muster owns as last written;
    equal hashes mean no write is needed.
    """

    __tablename__ = "calendar_binding"
    __table_args__ = (Index("ix_binding_status_next", "sync_status", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    session_id: uuid.UUID = Field(foreign_key="live_session.id", unique=True)
    calendar_id: str | None = Field(default=None, max_length=320)
    event_id: str | None = Field(default=None, max_length=1024)
    owner_email: str | None = Field(default=None, max_length=320)  #: the Google identity acting for the event
    #: How ``owner_email`` acts (vendor | delegated | oauth) and, for oauth/delegated, through which connection.
    actor_kind: str | None = Field(default=None, max_length=16)
    actor_connection_id: uuid.UUID | None = Field(default=None)
    essence_hash: str | None = Field(default=None, max_length=64)
    etag: str | None = Field(default=None, max_length=100)
    meet_link: str | None = Field(default=None, max_length=2000)
    meet_status: str | None = Field(default=None, max_length=16)  #: pending | success | failure
    meet_request_id: str | None = Field(default=None, max_length=100)
    meet_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    room_email: str | None = Field(default=None, max_length=320)
    #: The booked room's Directory name (``generatedResourceName`` or ``resourceName``) as of booking.
    room_name: str | None = Field(default=None, max_length=500)
    room_status: str | None = Field(default=None, max_length=16)  #: needsAction | accepted | declined
    room_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: Meet: how many times a ``pending`` conference was polled in the current attempt (backoff input).
    meet_polls: int = Field(default=0)
    #: Meet: number of the current create attempt (a new attempt gets a new ``requestId``).
    meet_attempt: int = Field(default=0)
    #: Rooms that declined this session (skipped when choosing the next candidate).
    rooms_declined: list[str] = _json(list)
    #: Why no acting organizer could be used, and who could connect (delegation mode).
    blocked_detail: dict[str, Any] = _json(dict)
    #: Organizer lifecycle: why this event could not leave a departing owner yet and what an admin must do
    #: (None when nothing is pending). Shown beside the sync status; see engine.lifecycle.transfer.
    transfer_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: Write-ahead intent (engine.sync.reconciler): where the next first write to a calendar will put the
    #: event, recorded before the insert or move is sent; read back by the next reconcile (and by the stray
    #: sweep) so an insert whose answer was lost is found even if the acting identity changed meanwhile.
    intent_calendar_id: str | None = Field(default=None, max_length=320)
    intent_event_id: str | None = Field(default=None, max_length=1024)
    intent_owner_email: str | None = Field(default=None, max_length=320)
    intent_actor_kind: str | None = Field(default=None, max_length=16)
    intent_connection_id: uuid.UUID | None = Field(default=None)
    #: The fencing token of the last lease allowed to write this binding (engine.sync.fence): it only grows;
    #: a write carrying a smaller token (a worker whose lease expired) is refused.
    fence: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    #: The event as Google returned it after Muster's last write, or as last read (etag included), as
    #: :func:`engine.domain.snapshot.dump` stores it. A reconcile not asked to verify plans against it and
    #: writes with ``If-Match`` on its etag instead of reading first; it is also the base against which an
    #: edit made in Google is recognised (:mod:`engine.domain.google_changes`). None: never written.
    last_written: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: The platform's side as last synced (per field group a hash, and the guest list):
    #: :func:`engine.domain.google_changes.platform_state`. Under "report only" it tells what the platform
    #: changed since (written) from what only Google changed (kept).
    platform_state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Set when the change feed saw the event change in Google (``engine.sync.remote_change``): the next
    #: reconcile reads the event before writing, then clears it (only if no newer mark arrived meanwhile).
    remote_changed_at: datetime | None = _ts(nullable=True)
    sync_status: str = Field(default=SyncStatus.PENDING.value, max_length=16)
    error_class: str | None = Field(default=None, max_length=16)  #: retryable | auth | permanent | config
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempts: int = Field(default=0)
    synced_revision: int | None = Field(default=None)
    last_synced_at: datetime | None = _ts(nullable=True)
    next_attempt_at: datetime | None = _ts(nullable=True)
    #: What the change feed last saw of the event when it differed from Muster's own write
    #: (:func:`engine.sync.remote_change.note_remote_change`): its etag and when it was seen.
    remote_etag: str | None = Field(default=None, max_length=100)
    remote_seen_at: datetime | None = _ts(nullable=True)
    #: The changed event as the change feed listed it (the full resource, etag included, as
    #: :func:`engine.domain.snapshot.dump` stores it), kept while ``remote_changed_at`` is set: the repair
    #: plans against it instead of reading the event again, and writes with ``If-Match`` on its etag, so a
    #: copy that went stale is refused (412) and the event is read. None: not listed in full (a tombstone,
    #: one instance of a series) or nothing pending.
    remote_listed: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Set (committed) just before a reconcile writes to Google, cleared when its outcome is recorded
    #: (:mod:`engine.sync.own_writes`): meanwhile the change feed cannot tell Muster's write from another
    #: change, so it holds what it saw (``remote_held_etag``) for the recording to judge.
    writing_since: datetime | None = _ts(nullable=True)
    remote_held_etag: str | None = Field(default=None, max_length=100)
    updated_at: datetime = _ts()


class AuditEvent(SQLModel, table=True):
    """An append-only record of what happened: platform writes, syncs, transfers, admin actions."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_tenant_at", "tenant_id", "at"),)

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id")
    at: datetime = _ts()
    actor: str = Field(max_length=320)  #: ``api-key:<prefix>``, ``user:<email>``, ``worker``, ``system``
    action: str = Field(max_length=64, index=True)  #: e.g. ``session.upsert``, ``sync.created``
    session_id: uuid.UUID | None = Field(default=None, index=True)
    subject: str | None = Field(default=None, max_length=320)
    detail: dict[str, Any] = _json(dict)


class ModeSwitch(SQLModel, table=True):
    """A tenant's move between vendor and delegation mode: the preview and the resumable migration.

    ``plan`` holds one entry per session (what will happen, who is emailed, whose quota pays), computed
    by :func:`engine.delegation.mode_switch.preview`; ``progress`` maps session id → ``done`` / ``error: …`` as the
    migration runs, so a stopped run resumes where it stopped. One row per switch; see docs/mode-switch.md.
    """

    __tablename__ = "mode_switch"
    __table_args__ = (Index("ix_mode_switch_tenant_created", "tenant_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id")
    from_mode: str = Field(max_length=16)
    to_mode: str = Field(max_length=16)
    status: str = Field(default=ModeSwitchStatus.PREVIEWED.value, max_length=16)
    plan: list[dict[str, Any]] = _json(list)
    progress: dict[str, str] = _json(dict)
    total: int = Field(default=0)
    done: int = Field(default=0)
    failed: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    requested_by: str | None = Field(default=None, max_length=320)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)


class GoogleIdentityStatus(SQLModel, table=True):
    """Whether a Google identity Muster acts as (a vendor owner account, a delegated user) can act.

    Written by the sync engine when Google refuses an identity (``invalid_grant``, ``unauthorized_client``,
    ``notACalendarUser`` ...): sessions placed on it are ``blocked`` until it is fixed, instead of being
    retried blindly. Cleared when a reconcile through it succeeds again or the configuration changes.
    """

    __tablename__ = "google_identity_status"

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    kind: str = Field(max_length=16)  #: vendor | delegated | oauth
    status: str = Field(default="ok", max_length=16)  #: ok | auth_error
    reason: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    updated_at: datetime = _ts()


class AdminSession(SQLModel, table=True):
    """One signed-in admin UI session, held on the server so it can be ended (see engine.admin.web_sessions).

    The browser's signed cookie carries only a random token; ``token_hash`` is its SHA-256. A row is
    deleted on sign-out, and every row of a person is deleted when their password, admin role or status
    changes (a flush listener in :mod:`engine.store.revocation`), so those end every session at once.
    """

    __tablename__ = "admin_session"

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    person_id: uuid.UUID = Field(foreign_key="person.id", index=True)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()


class SignInThrottle(SQLModel, table=True):
    """Failed sign-ins per account or client address, for the growing delay and the temporary lock.

    ``key`` is ``account:<tenant slug>:<email>`` or ``address:<client address>``; see :mod:`engine.admin.throttle`.
    """

    __tablename__ = "sign_in_throttle"

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    key: str = Field(max_length=400, unique=True)
    failures: int = Field(default=0)
    last_failure_at: datetime = _ts()
    locked_until: datetime | None = _ts(nullable=True)


class SyncRequest(SQLModel, table=True):
    """The transactional outbox of sync requests: "session X needs a reconcile at revision N".

    Written in the same transaction as the change (:meth:`engine.store.unit_of_work.UnitOfWork.commit`),
    one row per session (a later request replaces an earlier one). ``sent_at`` is when the request was
    last handed to the broker (None: not yet, or the hand-over failed); the relay
    (:mod:`engine.runtime.relay`) sends what is unsent, re-sends what was sent long ago and still is not
    synced, and deletes what the session's binding shows synced. See :mod:`engine.store.outbox`.
    """

    __tablename__ = "sync_outbox"
    __table_args__ = (Index("ix_sync_outbox_sent_at", "sent_at"),)

    session_id: uuid.UUID = Field(foreign_key="live_session.id", primary_key=True)
    revision: int = Field(default=1)
    requested_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    #: How many times the request was handed to the broker (re-sends stop after a few; the sweep remains).
    sends: int = Field(default=0)


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"  #: not delivered yet: being tried, or waiting for its next attempt
    DELIVERED = "delivered"  #: the platform answered 2xx
    FAILED = "failed"  #: every attempt failed; an admin can replay it
    #: cannot be signed (no webhook secret, or one ``MUSTER_SECRET_KEY`` cannot read): not retried, kept;
    #: sent again as soon as a secret is saved (or replayed)
    PARKED = "parked"


class WebhookDelivery(SQLModel, table=True):
    """One event told to a tenant's platform by webhook: the durable queue and the delivery log at once.

    Written in the transaction of the change it reports (:func:`engine.webhooks.outbox.emit`); ``id`` is the
    idempotency key the platform sees (``Muster-Webhook-Id``), the same on every attempt and replay.
    ``payload`` is the JSON body as first built (so every attempt sends the same bytes' content).
    The delivery clock and actor (:mod:`engine.webhooks.delivery`) send what is due with backoff.
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_due", "status", "next_attempt_at"),
        Index("ix_webhook_tenant_created", "tenant_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id")
    event_type: str = Field(max_length=64)
    session_id: uuid.UUID | None = Field(default=None)
    payload: dict[str, Any] = _json(dict)
    status: str = Field(default=WebhookStatus.PENDING.value, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = _ts()
    #: Until when one worker holds this delivery (an attempt under way); None: free.
    lease_until: datetime | None = _ts(nullable=True)
    last_attempt_at: datetime | None = _ts(nullable=True)
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    delivered_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()


class FeedCalendar(SQLModel, table=True):
    """A calendar Muster writes to and follows (:mod:`engine.feed`): the acting identity, the sync token of
    its change listing, and its push channel. One row per calendar; ``active`` is false once no binding
    uses the calendar any more (its channel is then stopped)."""

    __tablename__ = "feed_calendar"

    id: uuid.UUID = Field(default_factory=_uuid, primary_key=True)
    calendar_id: str = Field(max_length=320, unique=True)
    actor_kind: str = Field(max_length=16)
    actor_email: str = Field(max_length=320)
    actor_connection_id: uuid.UUID | None = Field(default=None)
    tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenant.id")
    active: bool = Field(default=True)
    sync_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    synced_at: datetime | None = _ts(nullable=True)
    full_synced_at: datetime | None = _ts(nullable=True)
    error_class: str | None = Field(default=None, max_length=16)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    channel_id: str | None = Field(default=None, max_length=64)
    channel_resource_id: str | None = Field(default=None, max_length=200)
    channel_expires_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
