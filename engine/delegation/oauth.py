"""Per-organizer OAuth ("Connect Google"): the signed consent URL, the callback, and the stored connection.

Where it sits: the admin UI's ``/oauth/google/start`` and ``/oauth/google/callback`` routes
(:mod:`admin_ui.views.account`) call :func:`start_url` and :func:`complete`; the reconciler reaches the
stored connection through :mod:`engine.delegation.placement`, which calls :func:`mark_broken` when Google answers
``invalid_grant``. HTTP to Google goes through the injected :class:`~connectors.ports.delegation.GoogleKit`.

Flow:
1. :func:`start_url` signs ``state`` = (tenant, person, nonce) with ``settings.secret_key`` (itsdangerous,
   15-minute lifetime) and returns Google's consent URL with ``access_type=offline``/``prompt=consent``.
2. Google redirects to ``{base_url}/oauth/google/callback?code=…&state=…``. :func:`complete` verifies
   the signature and age of ``state`` *before* spending the code, exchanges it, asks Google whose token
   it is (the primary calendar's id) and refuses a different account than the person's e-mail: events
   would otherwise be organized by someone else.
3. The refresh token is stored encrypted (:func:`engine.crypto.encrypt`) in a
   :class:`~engine.store.models.GoogleConnection` (``kind=oauth``), status ``connected``; every session the
   person hosts is enqueued after commit, so a backlog ("no connected organizer", "reconnect") drains.

Not done here: acting with the token (:mod:`engine.delegation.placement` builds credentials) and the check of a
connection (:mod:`engine.admin.connection_check`).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, col, select

from connectors.ports.delegation import GoogleKit, OAuthExchangeError, OAuthUnavailable, TokenGrant
from engine.crypto import encrypt
from engine.lifecycle.dispatch import request_transfer_after_commit
from engine.settings import Settings
from engine.store.models import (
    AuditEvent,
    ConnectionKind,
    ConnectionStatus,
    GoogleConnection,
    LiveSession,
    Person,
    PersonStatus,
    SessionHost,
    Tenant,
)
from engine.store.types import utcnow
from engine.store.unit_of_work import UnitOfWork, end_reads
from policies.successor import GONE_STATES

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
DIRECTORY_ROOMS_SCOPE = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
#: What an organizer consents to: their calendar (events, Meet, rooms as attendees, free/busy).
ORGANIZER_SCOPES: tuple[str, ...] = (CALENDAR_SCOPE,)
#: The tenant's Directory admin also lets Muster read the room list.
ADMIN_SCOPES: tuple[str, ...] = (CALENDAR_SCOPE, DIRECTORY_ROOMS_SCOPE)
#: How long a consent URL stays valid.
STATE_MAX_AGE_S = 15 * 60
CALLBACK_PATH = "/oauth/google/callback"
_SALT = "muster.oauth.google.state"


class OAuthError(Exception):
    """The connect flow cannot finish; ``message`` is for the person, ``fix`` what they can do."""

    def __init__(self, message: str, fix: str, *, code: str = "oauth") -> None:
        self.code = code
        self.fix = fix
        super().__init__(f"{message.rstrip('.')}. {fix[:1].upper()}{fix[1:].rstrip('.')}.")


@dataclass(frozen=True)
class ConnectResult:
    connection_id: uuid.UUID
    person_email: str
    google_email: str
    sessions_enqueued: int
    reconnected: bool


def redirect_uri(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + CALLBACK_PATH


def _client(settings: Settings) -> tuple[str, str]:
    if not settings.google_oauth_client_id or not settings.google_oauth_client_secret:
        raise OAuthError(
            "Connecting Google is not configured on this server",
            "set MUSTER_GOOGLE_OAUTH_CLIENT_ID and MUSTER_GOOGLE_OAUTH_CLIENT_SECRET",
            code="not_configured",
        )
    return settings.google_oauth_client_id, settings.google_oauth_client_secret


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    # itsdangerous takes keys oldest first: it signs with the last, verifies with each.
    return URLSafeTimedSerializer(list(reversed(settings.all_secret_keys)), salt=_SALT)


def scopes_for(tenant: Tenant, person: Person) -> tuple[str, ...]:
    admin = (tenant.directory_admin_email or "").lower()
    return ADMIN_SCOPES if admin and admin == person.email.lower() else ORGANIZER_SCOPES


def start_url(*, settings: Settings, tenant: Tenant, person: Person, kit: GoogleKit) -> str:
    """Google's consent URL for ``person``; ``state`` binds the answer to this person and tenant."""
    client_id, _ = _client(settings)
    if person.tenant_id != tenant.id:
        raise OAuthError(
            "This person belongs to another workspace", "sign in to the right workspace", code="wrong_tenant"
        )
    state = _serializer(settings).dumps({"t": str(tenant.id), "p": str(person.id), "n": secrets.token_hex(8)})
    return kit.authorization_url(
        root_url=settings.google_root_url,
        client_id=client_id,
        redirect_uri=redirect_uri(settings),
        scopes=scopes_for(tenant, person),
        state=state,
        login_hint=person.email,
    )


def read_state(settings: Settings, state: str) -> tuple[uuid.UUID, uuid.UUID]:
    """``(tenant_id, person_id)`` from a signed state; :class:`OAuthError` if forged, stale or garbled."""
    try:
        data: Any = _serializer(settings).loads(state, max_age=STATE_MAX_AGE_S)
    except SignatureExpired:
        raise OAuthError(
            "The Google sign-in took too long", "click Connect Google again", code="state_expired"
        ) from None
    except BadSignature:
        raise OAuthError(
            "The answer from Google does not match a request from this server",
            "click Connect Google again from Muster",
            code="state_invalid",
        ) from None
    try:
        return uuid.UUID(data["t"]), uuid.UUID(data["p"])
    except (KeyError, TypeError, ValueError):
        raise OAuthError(
            "The answer from Google is incomplete", "click Connect Google again", code="state_invalid"
        ) from None


def complete(
    *,
    uow: UnitOfWork,
    settings: Settings,
    state: str,
    code: str | None,
    error: str | None = None,
    kit: GoogleKit,
    transport: Any = None,
) -> ConnectResult:
    """Finish the consent: verify ``state``, exchange ``code``, store the connection, enqueue sessions."""
    tenant_id, person_id = read_state(settings, state)
    if error:
        fix = (
            "click Connect Google again and choose Allow"
            if error == "access_denied"
            else "click Connect Google again; if it keeps failing, ask your Google admin"
        )
        raise OAuthError(f"Google did not grant access ({error})", fix, code=error)
    if not code:
        raise OAuthError("Google's answer has no authorization code", "click Connect Google again", code="missing_code")
    db = uow.db
    tenant = db.get(Tenant, tenant_id)
    person = db.get(Person, person_id)
    if tenant is None or person is None or person.tenant_id != tenant.id:
        raise OAuthError(
            "The person or workspace of this sign-in no longer exists",
            "ask your admin",
            code="unknown_person",
        )
    client_id, client_secret = _client(settings)
    end_reads(db)  # the code exchange and the calendar read below talk to Google: no transaction held meanwhile
    try:
        grant = kit.exchange_code(
            root_url=settings.google_root_url,
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            redirect_uri=redirect_uri(settings),
            transport=transport,
        )
        google_email = kit.primary_calendar_email(root_url=settings.google_root_url, access_token=grant.access_token)
    except OAuthUnavailable as exc:
        raise OAuthError(f"Google could not be reached ({exc})", "try again in a minute", code="unavailable") from None
    except OAuthExchangeError as exc:
        raise OAuthError(f"Google refused the sign-in ({exc})", "click Connect Google again", code=exc.error) from None
    if google_email != person.email.lower():
        raise OAuthError(
            f"You signed in to Google as {google_email}, but Muster knows you as {person.email}",
            f"click Connect Google again and choose {person.email}",
            code="wrong_account",
        )
    if not grant.refresh_token:
        raise OAuthError(
            "Google returned no refresh token",
            "remove Muster under myaccount.google.com > Security > Third-party access, then connect again",
            code="no_refresh_token",
        )
    missing = [s for s in scopes_for(tenant, person) if grant.scopes and s not in grant.scopes]
    if CALENDAR_SCOPE in missing:
        raise OAuthError(
            "Calendar access was not granted",
            "connect again and tick the Calendar permission",
            code="scope_missing",
        )
    return _store(uow, settings, tenant, person, google_email, grant)


def _store(
    uow: UnitOfWork,
    settings: Settings,
    tenant: Tenant,
    person: Person,
    google_email: str,
    grant: TokenGrant,
) -> ConnectResult:
    db = uow.db
    conn = db.exec(
        select(GoogleConnection).where(
            GoogleConnection.person_id == person.id, GoogleConnection.kind == ConnectionKind.OAUTH.value
        )
    ).first()
    reconnected = conn is not None
    now = utcnow()
    if conn is None:
        conn = GoogleConnection(
            tenant_id=tenant.id,
            person_id=person.id,
            google_email=google_email,
            kind=ConnectionKind.OAUTH.value,
        )
    conn.google_email = google_email
    conn.refresh_token_encrypted = encrypt(settings.all_secret_keys, grant.refresh_token or "")
    conn.scopes = list(grant.scopes) or list(scopes_for(tenant, person))
    conn.status = ConnectionStatus.CONNECTED.value
    conn.last_error = None
    conn.last_checked_at = now
    conn.updated_at = now
    db.add(conn)
    db.flush()
    count = enqueue_hosted_sessions(uow, person.id)
    db.add(
        AuditEvent(
            tenant_id=tenant.id,
            actor=f"user:{person.email}",
            action="google.reconnected" if reconnected else "google.connected",
            subject=google_email,
            detail={"sessions_enqueued": count, "kind": "oauth"},
        )
    )
    _request_waiting_transfers(db, tenant.id)
    return ConnectResult(conn.id, person.email, google_email, count, reconnected)


def _request_waiting_transfers(db: Session, tenant_id: uuid.UUID) -> None:
    """A new working connection may be the successor (or fallback owner) a transfer waits for: ask, after
    commit, for the transfer of every leaving, suspended or deleted person of the tenant (idempotent)."""
    waiting = db.exec(
        select(Person.id).where(Person.tenant_id == tenant_id, col(Person.status).in_(sorted(GONE_STATES)))
    ).all()
    for person_id in waiting:
        request_transfer_after_commit(db, tenant_id, person_id)


def enqueue_hosted_sessions(uow: UnitOfWork, person_id: uuid.UUID) -> int:
    """Enqueue (after commit) every live session ``person_id`` hosts; returns how many."""
    rows = uow.db.exec(
        select(LiveSession.id)
        .join(SessionHost, col(SessionHost.session_id) == LiveSession.id)
        .where(SessionHost.person_id == person_id, col(LiveSession.deleted_at).is_(None))
    ).all()
    for sid in rows:
        uow.enqueue_session(sid)
    return len(rows)


def mark_broken(db: Session, connection: GoogleConnection, *, error: str, revoked: bool) -> bool:
    """Record that a stored connection stopped working (``invalid_grant``): status, reason, audit.

    Returns True when this call changed the status (so the caller enqueues follow-ups only once).
    The organizer sees a reconnect prompt from ``status``/``last_error``; their sessions stay bound and
    sync again when :func:`complete` stores a new token.
    """
    new_status = (ConnectionStatus.REVOKED if revoked else ConnectionStatus.EXPIRED).value
    changed = connection.status != new_status
    connection.status = new_status
    connection.last_error = (
        f"Google refused the stored access ({error}). Reconnect Google to resume syncing your sessions."
    )
    connection.last_checked_at = utcnow()
    connection.updated_at = connection.last_checked_at
    db.add(connection)
    if changed:
        db.add(
            AuditEvent(
                tenant_id=connection.tenant_id,
                actor="worker",
                action="google.connection_broken",
                subject=connection.google_email,
                detail={"error": error, "status": new_status},
            )
        )
    return changed


def connection_for(db: Session, person_id: uuid.UUID) -> GoogleConnection | None:
    return db.exec(
        select(GoogleConnection).where(
            GoogleConnection.person_id == person_id, GoogleConnection.kind == ConnectionKind.OAUTH.value
        )
    ).first()


def reconnect_prompts(db: Session, tenant_id: uuid.UUID) -> list[dict[str, str]]:
    """People of a tenant whose Google connection needs them to reconnect (for the admin UI banner)."""
    rows = db.exec(
        select(GoogleConnection, Person)
        .join(Person, col(Person.id) == GoogleConnection.person_id)
        .where(
            GoogleConnection.tenant_id == tenant_id,
            col(GoogleConnection.status).in_([ConnectionStatus.EXPIRED.value, ConnectionStatus.REVOKED.value]),
            Person.status == PersonStatus.ACTIVE.value,
        )
    ).all()
    return [{"email": p.email, "status": c.status, "message": c.last_error or ""} for c, p in rows]
