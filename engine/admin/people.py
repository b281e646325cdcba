"""People and their admin-side roles: add or invite an admin, organizer or viewer, list, deactivate; admin
tokens for the admin REST API and one-time sign-in links.

Where it sits: below ``muster user ...`` / ``muster tenant create --admin`` (:mod:`engine.cli.user`), the
admin REST API (``/v1/admin/people``, :mod:`engine.api.routes.admin`) and the admin UI's welcome page (a
sign-in link sets the first password). Data functions take the caller's ``db`` and never commit.

A role is exactly what an admin granted (``Person.admin_role``, read only by :mod:`engine.admin.roles`):
adding someone here grants the role named, and nothing else does. Hosting a session never grants one. A person
added here need not host anything yet. Deactivating removes the admin-side role, the password, every admin
token, every unused sign-in link and every signed-in admin UI session; it does not touch the person's platform
status (``leaving``/``suspended`` belong to the organizer lifecycle) or their sessions.

Secrets (admin tokens, sign-in links) are rows of ``api_key`` with their own :class:`ApiKeyKind`, stored
hashed and shown once, so the platform's ingest key never opens the admin API and the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import Session, col, select

from engine.admin import web_sessions
from engine.admin.accounts import hash_password, validate_password
from engine.admin.queries import record_audit
from engine.admin.roles import ADMIN_ROLES, AdminRole, parse_role
from engine.api.schemas import normalize_email
from engine.crypto import api_key_matches, api_key_prefix, new_api_key
from engine.store.models import ApiKey, ApiKeyKind, Person, PersonStatus, Tenant
from engine.store.types import utcnow

#: How long a one-time sign-in link works.
SIGN_IN_LINK_TTL = timedelta(days=3)
#: Person states in which no admin-side role can be granted (the account is gone in Google).
_GONE = (PersonStatus.SUSPENDED.value, PersonStatus.DELETED.value)


class PeopleError(ValueError):
    """A bad people request. ``field`` names the input at fault; ``message`` says the fix."""

    status_code = 422

    def __init__(self, field: str, message: str, *, status_code: int = 422) -> None:
        self.field = field
        self.message = message
        self.status_code = status_code
        super().__init__(f"{field}: {message}")


def find_person(*, db: Session, tenant: Tenant, email: str) -> Person | None:
    return db.exec(
        select(Person).where(Person.tenant_id == tenant.id, Person.email == email.strip().lower())
    ).first()


def _email(raw: str) -> str:
    try:
        return normalize_email(raw)
    except ValueError as exc:
        raise PeopleError("email", str(exc)) from None


def add_person(
    *, db: Session, tenant: Tenant, email: str, role: str, actor: str, display_name: str | None = None
) -> tuple[Person, bool]:
    """Grant ``role`` to ``email`` in ``tenant``, creating the person when Muster does not know them yet.

    Returns ``(person, created)``. Granting the role a person already holds changes nothing. The tenant's
    last admin cannot be given another role (409): nobody could manage the tenant afterwards.
    """
    if parse_role(role) is None:
        raise PeopleError("role", f"{role!r} is not a role: use one of {', '.join(ADMIN_ROLES)}")
    address = _email(email)
    if display_name is not None and len(display_name.strip()) > 200:
        raise PeopleError("displayName", "must be at most 200 characters")
    person = find_person(db=db, tenant=tenant, email=address)
    created = person is None
    if person is None:
        person = Person(tenant_id=tenant.id, email=address, display_name=(display_name or "").strip() or None)
    elif person.status in _GONE:
        raise PeopleError(
            "email", f"{address} is {person.status} in Google: they cannot be given access", status_code=409
        )
    old = person.admin_role
    if old == role and not created:
        return person, False
    if old == AdminRole.ADMIN.value and not created:
        _not_the_last_admin(db, tenant, person, "cannot be given another role")
    person.admin_role = role
    if display_name and display_name.strip():
        person.display_name = display_name.strip()
    person.updated_at = utcnow()
    db.add(person)
    db.flush()
    record_audit(
        db=db, tenant_id=tenant.id, actor=actor, action="person.role_granted", subject=address,
        detail={"role": [old, role], "created": created},
    )
    return person, created


def list_people(*, db: Session, tenant: Tenant, everyone: bool = False) -> Sequence[Person]:
    """People with an admin-side role (``everyone``: also hosts and learners without one), by email."""
    query = select(Person).where(Person.tenant_id == tenant.id)
    if not everyone:
        query = query.where(col(Person.admin_role).is_not(None))
    return db.exec(query.order_by(col(Person.email))).all()


def _revoke(db: Session, person: Person, kinds: Sequence[ApiKeyKind]) -> int:
    now, n = utcnow(), 0
    for row in db.exec(
        select(ApiKey).where(
            ApiKey.person_id == person.id,
            col(ApiKey.kind).in_([k.value for k in kinds]),
            col(ApiKey.revoked_at).is_(None),
        )
    ):
        row.revoked_at = now
        db.add(row)
        n += 1
    return n


def _not_the_last_admin(db: Session, tenant: Tenant, person: Person, what: str) -> None:
    """Refuse (409) a change that would leave ``tenant`` without an admin who can sign in."""
    others = db.exec(
        select(Person.id).where(
            Person.tenant_id == tenant.id,
            Person.admin_role == AdminRole.ADMIN.value,
            Person.id != person.id,
            col(Person.status).not_in(_GONE),
        )
    ).first()
    if others is None:
        raise PeopleError(
            "email", f"{person.email} is the last admin of {tenant.slug} and {what}: add another admin first",
            status_code=409,
        )


def deactivate(*, db: Session, tenant: Tenant, email: str, actor: str) -> Person:
    """Remove ``email``'s admin-side access (role, password, tokens, sign-in links). 404 for a stranger;
    refused for the tenant's last admin."""
    address = _email(email)
    person = find_person(db=db, tenant=tenant, email=address)
    if person is None:
        raise PeopleError("email", f"no person {address} in {tenant.slug}", status_code=404)
    if person.admin_role == AdminRole.ADMIN.value:
        _not_the_last_admin(db, tenant, person, "cannot be removed")
    revoked = _revoke(db, person, (ApiKeyKind.ADMIN, ApiKeyKind.SIGN_IN))
    signed_out = web_sessions.end_all(db=db, person_id=person.id)
    old = person.admin_role
    had_password = person.password_hash is not None
    person.admin_role = None
    person.password_hash = None
    person.updated_at = utcnow()
    db.add(person)
    record_audit(
        db=db, tenant_id=tenant.id, actor=actor, action="person.deactivated", subject=address,
        detail={"role": [old, None], "password_removed": had_password, "secrets_revoked": revoked,
                "sessions_ended": signed_out},
    )
    return person


def _issue(db: Session, person: Person, kind: ApiKeyKind, name: str, ttl: timedelta | None) -> str:
    key, prefix, key_hash = new_api_key()
    db.add(
        ApiKey(
            tenant_id=person.tenant_id,
            person_id=person.id,
            kind=kind.value,
            name=name[:100],
            prefix=prefix,
            key_hash=key_hash,
            expires_at=utcnow() + ttl if ttl else None,
        )
    )
    db.flush()
    return key


def issue_admin_token(*, db: Session, tenant: Tenant, email: str, actor: str, name: str = "admin") -> str:
    """A token for the admin REST API, acting as ``email`` (who must be an admin); shown once."""
    person = find_person(db=db, tenant=tenant, email=_email(email))
    if person is None or person.admin_role != AdminRole.ADMIN.value or person.status in _GONE:
        raise PeopleError(
            "email", f"{email.strip().lower()} is not an admin of {tenant.slug}: add them with --role admin first"
        )
    token = _issue(db, person, ApiKeyKind.ADMIN, name, None)
    record_audit(db=db, tenant_id=tenant.id, actor=actor, action="person.admin_token", subject=person.email)
    return token


def sign_in_link(*, db: Session, tenant: Tenant, email: str, base_url: str, actor: str) -> str:
    """A one-time link that lets ``email`` (who has a role) choose a password; valid for three days.

    Earlier unused links of the same person stop working."""
    person = find_person(db=db, tenant=tenant, email=_email(email))
    if person is None or parse_role(person.admin_role) is None:
        raise PeopleError("email", f"{email.strip().lower()} has no role in {tenant.slug}: add them first")
    _revoke(db, person, (ApiKeyKind.SIGN_IN,))
    token = _issue(db, person, ApiKeyKind.SIGN_IN, "sign-in link", SIGN_IN_LINK_TTL)
    record_audit(db=db, tenant_id=tenant.id, actor=actor, action="person.sign_in_link", subject=person.email)
    return f"{base_url.rstrip('/')}/admin/welcome?token={token}"


def person_for_token(*, db: Session, token: str, kind: ApiKeyKind) -> tuple[Person, ApiKey] | None:
    """The person a presented admin token or sign-in link belongs to, if it is valid right now."""
    prefix = api_key_prefix(token)
    if prefix is None:
        return None
    now = utcnow()
    for row in db.exec(
        select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.kind == kind.value, col(ApiKey.revoked_at).is_(None))
    ):
        if not api_key_matches(token, row.key_hash) or row.person_id is None:
            continue
        if row.expires_at is not None and row.expires_at <= now:
            return None
        person = db.get(Person, row.person_id)
        if person is None or parse_role(person.admin_role) is None or person.status in _GONE:
            return None
        return person, row
    return None


def redeem_sign_in_link(*, db: Session, token: str, password: str) -> Person:
    """Set the password of the link's person and spend the link. :class:`PeopleError` when it is not valid."""
    found = person_for_token(db=db, token=token, kind=ApiKeyKind.SIGN_IN)
    if found is None:
        raise PeopleError(
            "token", "this sign-in link is unknown, used or expired: ask an admin for a new one", status_code=404
        )
    validate_password(password)
    person, row = found
    person.password_hash = hash_password(password)
    person.updated_at = row.revoked_at = row.last_used_at = utcnow()
    db.add(person)
    db.add(row)
    record_audit(db=db, tenant_id=person.tenant_id, actor=f"user:{person.email}", action="person.password_set",
                 subject=person.email)
    return person
