"""Who is signed in, what they may do, and the CSRF check on every form.

Where it sits: every admin view depends on :func:`require` (roles per method) and every POST on
:func:`csrf_form`. Sessions live on the server (:mod:`engine.admin.web_sessions`): the signed cookie
(Starlette ``SessionMiddleware``, set up in :mod:`admin_ui.web`) holds only a random session token, a
CSRF token and a fingerprint of the password hash. Every request looks the token up (idle and absolute
timeouts) and reloads the person, so sign-out, a password or role change, a suspension or a deactivation
ends the session at once, and a copied cookie opens nothing afterwards.

What each role may do is decided in one place, :mod:`engine.admin.roles`, from the role an admin granted
(``Person.admin_role``); hosting a session grants nothing.

Refusals are exceptions turned into pages by :mod:`admin_ui.web`: :class:`LoginRequired` → 303 to the
sign-in form; :class:`PermissionDenied` → 403 page; :class:`NotFound` → 404 page (also for ids that
belong to another tenant, so their existence is not revealed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.datastructures import FormData

from engine.admin import web_sessions
from engine.admin.roles import Grants, Need, Scope, allows, grants_of
from engine.store.models import Person, PersonStatus, Tenant
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work

SESSION_TOKEN = "sid"
SESSION_FINGERPRINT = "pwf"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """No one is signed in; the handler redirects to the sign-in form."""


class PermissionDenied(Exception):
    """Signed in, but the role does not allow this page or action."""

    def __init__(self, message: str = "Your role does not allow this page.") -> None:
        super().__init__(message)
        self.message = message


class NotFound(Exception):
    """Nothing with this id in the signed-in tenant."""

    def __init__(self, what: str = "page") -> None:
        super().__init__(what)
        self.what = what


@dataclass(frozen=True)
class CurrentUser:
    person_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    tenant_name: str
    integration_mode: str
    email: str
    display_name: str | None
    #: The admin-side role an admin granted (``Person.admin_role``); see :mod:`engine.admin.roles`.
    role: str

    @property
    def roles(self) -> tuple[str, ...]:
        return (self.role,)

    @property
    def grants(self) -> Grants:
        grants = grants_of(self.role)
        assert grants is not None  # load_user builds a CurrentUser only for a known role
        return grants

    def may(self, need: Need | str) -> bool:
        return allows(self.role, Need(need))

    def has(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def is_admin(self) -> bool:
        return self.grants.manage_tenant

    @property
    def can_write_sessions(self) -> bool:
        return self.grants.write_sessions is not Scope.NONE

    @property
    def own_sessions_only(self) -> uuid.UUID | None:
        """The person id when the role limits them to the sessions they host; None for every session."""
        return self.person_id if self.grants.read_sessions is Scope.OWN else None

    @property
    def actor(self) -> str:
        """How this person appears in the audit log."""
        return f"user:{self.email}"


def password_fingerprint(password_hash: str | None) -> str:
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:24]


def db_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.db_engine
    return engine


def sign_in(request: Request, person: Person, db: Session) -> None:
    """Start a fresh server-side session for ``person`` in the caller's transaction (a new CSRF token;
    nothing carried over from before sign-in)."""
    token = web_sessions.start(db=db, person=person, now=utcnow())
    request.session.clear()
    request.session[SESSION_TOKEN] = token
    request.session[SESSION_FINGERPRINT] = password_fingerprint(person.password_hash)
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    """End this session on the server (a copy of the cookie opens nothing afterwards) and clear the cookie."""
    token = str(request.session.get(SESSION_TOKEN, ""))
    if token:
        with unit_of_work(db_engine(request)) as uow:
            web_sessions.end(db=uow.db, token=token)
    request.session.clear()
    request.scope.pop("muster.user", None)


def load_user(request: Request) -> CurrentUser | None:
    """The signed-in person, re-checked against the database on every request, or None."""
    cached = request.scope.get("muster.user")
    if isinstance(cached, CurrentUser):
        return cached
    if "session" not in request.scope:
        return None
    token = str(request.session.get(SESSION_TOKEN, ""))
    if not token:
        return None
    lifetime = web_sessions.Lifetime.of(request.app.state.settings)
    with unit_of_work(db_engine(request)) as uow:
        db = uow.db
        row = web_sessions.resolve(db=db, token=token, lifetime=lifetime, now=utcnow())
        person = db.get(Person, row.person_id) if row is not None else None
        tenant = db.get(Tenant, row.tenant_id) if row is not None else None
        if row is None or person is None or tenant is None or person.tenant_id != tenant.id:
            return None
        if not hmac.compare_digest(
            str(request.session.get(SESSION_FINGERPRINT, "")), password_fingerprint(person.password_hash)
        ):
            db.delete(row)
            return None
        if person.status not in (PersonStatus.ACTIVE.value, PersonStatus.LEAVING.value):
            db.delete(row)
            return None
        if grants_of(person.admin_role) is None:
            db.delete(row)
            return None
        user = CurrentUser(
            person_id=person.id,
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            tenant_name=tenant.name,
            integration_mode=tenant.integration_mode,
            email=person.email,
            display_name=person.display_name,
            role=str(person.admin_role),
        )
    request.scope["muster.user"] = user
    return user


def require(need: Need) -> Callable[[Request], CurrentUser]:
    """A dependency: the signed-in user if their role grants ``need`` (the table in engine.admin.roles)."""

    def dependency(request: Request) -> CurrentUser:
        user = load_user(request)
        if user is None:
            raise LoginRequired()
        if not user.may(need):
            raise PermissionDenied()
        return user

    return dependency


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the sign-in form needs one before sign-in)."""
    token = request.session.get(SESSION_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return token


class CsrfFailed(Exception):
    """The form's CSRF token is missing or does not match the session's."""


async def csrf_form(request: Request) -> FormData:
    """A dependency for every POST: the parsed form, once its CSRF token matched the session's."""
    form = await request.form()
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get(SESSION_CSRF)
    if not isinstance(sent, str) or not isinstance(expected, str) or not expected:
        raise CsrfFailed()
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()
    return form
