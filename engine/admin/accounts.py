"""Admin UI accounts: argon2 password hashes, sign-in checks and setting a password.

Where it sits: below the admin UI (:mod:`admin_ui.auth`) and the CLI (``muster user set-password``). A
person signs in to a *tenant* (by slug) with their email and password; only people with a
``password_hash`` and an active or leaving status can sign in. Data functions take the caller's ``db``
session and never commit (house style §10).

Not done here: cookies, CSRF and roles per page; those belong to the web layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, select

from engine.admin.roles import ADMIN_ROLES, parse_role
from engine.store.models import Person, PersonStatus, Tenant
from engine.store.types import utcnow

#: Shortest password accepted by :func:`set_password`.
MIN_PASSWORD_LENGTH = 10
#: Roles that may sign in to the admin UI (learners never do): the admin-side roles of engine.admin.roles.
UI_ROLES = ADMIN_ROLES

_hasher = PasswordHasher()
#: Verified against when the account does not exist, so a wrong email costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("muster-no-such-account")


class AccountError(ValueError):
    """A bad account request. ``field`` names the input at fault; the message says the fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class SignedIn:
    """Who signed in: enough for the session cookie, nothing secret."""

    person_id: str
    tenant_id: str
    email: str


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False for a mismatch or an unreadable hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _find_person(*, db: Session, tenant_slug: str, email: str) -> tuple[Tenant | None, Person | None]:
    tenant = db.exec(select(Tenant).where(Tenant.slug == tenant_slug.strip().lower())).first()
    if tenant is None:
        return None, None
    person = db.exec(
        select(Person).where(Person.tenant_id == tenant.id, Person.email == email.strip().lower())
    ).first()
    return tenant, person


def authenticate(*, db: Session, tenant_slug: str, email: str, password: str) -> Person | None:
    """The person if the tenant, email and password match an account allowed to sign in, else None.

    The answer never says which part was wrong (no account enumeration), and an unknown account
    costs one argon2 verification like a known one.
    """
    _tenant, person = _find_person(db=db, tenant_slug=tenant_slug, email=email)
    if person is None or not person.password_hash:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(person.password_hash, password):
        return None
    if person.status not in (PersonStatus.ACTIVE.value, PersonStatus.LEAVING.value):
        return None
    if parse_role(person.admin_role) is None:
        return None
    if _hasher.check_needs_rehash(person.password_hash):
        person.password_hash = hash_password(password)
        db.add(person)
    return person


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError("password", f"too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password or not password.strip():
        raise AccountError("password", "must not start or end with spaces")


def set_password(
    *, db: Session, tenant_slug: str, email: str, password: str, role: str | None = None
) -> Person:
    """Set the admin UI password of ``email`` in ``tenant_slug``; the caller commits.

    ``role`` (optional) grants the admin-side role (``admin``, ``organizer`` or ``viewer``), replacing
    the one held; without it the person keeps their granted role, and a person without one is refused
    (a password alone opens nothing). Raises :class:`AccountError` naming the field at fault.
    """
    validate_password(password)
    if role is not None and parse_role(role) is None:
        raise AccountError("role", f"unknown role {role!r}: use one of {', '.join(UI_ROLES)}")
    tenant, person = _find_person(db=db, tenant_slug=tenant_slug, email=email)
    if tenant is None:
        raise AccountError(
            "tenant", f"no tenant with slug {tenant_slug!r}: check the slug (see `muster tenant list`)"
        )
    if person is None:
        raise AccountError(
            "email", f"no person {email!r} in tenant {tenant.slug!r}: create them first (REST API or seed)"
        )
    if role is None and parse_role(person.admin_role) is None:
        raise AccountError(
            "role",
            f"{person.email} has no admin-side role yet: grant one with --role ({', '.join(UI_ROLES)})",
        )
    person.password_hash = hash_password(password)
    if role is not None:
        person.admin_role = role
    person.updated_at = utcnow()
    db.add(person)
    return person
