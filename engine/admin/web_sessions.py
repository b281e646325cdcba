"""Server-side admin UI sessions: start, look up (with idle and absolute timeouts), end.

Where it sits: below :mod:`admin_ui.auth`, which keeps only a random token in the signed cookie and asks
:func:`resolve` on every request. Rows are :class:`~engine.store.models.AdminSession`; only the token's
SHA-256 is stored, so a copy of the database cannot be replayed as a cookie. Sign-out deletes the row,
so a cookie copied before "Sign out" opens nothing afterwards. Password, role and status changes end every
session of the person through the store's flush rule (:mod:`engine.store.revocation`).

Lifetimes come from the settings: ``MUSTER_SESSION_IDLE_MINUTES`` without a request, and
``MUSTER_SESSION_MAX_HOURS`` after sign-in whatever the activity. Data functions take the caller's ``db``
and never commit (house style §10).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select

from engine.store.models import AdminSession, Person

#: ``last_seen_at`` is written at most this often per session (a page view is not a database write).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, settings: object) -> Lifetime:
        return cls(
            idle=timedelta(minutes=int(getattr(settings, "session_idle_minutes", 30))),
            absolute=timedelta(hours=int(getattr(settings, "session_max_hours", 12))),
        )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(*, db: Session, person: Person, now: datetime) -> str:
    """A new session for ``person``; returns the token for the cookie (shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    db.add(
        AdminSession(
            token_hash=_hash(token), tenant_id=person.tenant_id, person_id=person.id, created_at=now, last_seen_at=now
        )
    )
    return token


def resolve(*, db: Session, token: str, lifetime: Lifetime, now: datetime) -> AdminSession | None:
    """The live session of ``token``, or None (unknown, ended, idle too long or too old: then it is ended)."""
    if not token:
        return None
    row = db.exec(select(AdminSession).where(AdminSession.token_hash == _hash(token))).first()
    if row is None:
        return None
    if now - row.last_seen_at > lifetime.idle or now - row.created_at > lifetime.absolute:
        db.delete(row)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        db.add(row)
    return row


def end(*, db: Session, token: str) -> None:
    """Sign-out: the session of ``token`` ends (nothing happens for an unknown token)."""
    if token:
        db.exec(delete(AdminSession).where(col(AdminSession.token_hash) == _hash(token)))


def end_all(*, db: Session, person_id: uuid.UUID) -> int:
    """End every session of ``person_id``; returns how many there were."""
    rows = db.exec(select(AdminSession).where(AdminSession.person_id == person_id)).all()
    for row in rows:
        db.delete(row)
    return len(rows)


def active_count(*, db: Session, person_id: uuid.UUID) -> int:
    return len(db.exec(select(AdminSession.id).where(AdminSession.person_id == person_id)).all())
