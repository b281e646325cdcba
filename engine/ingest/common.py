"""What the ingest write functions share: their errors, the write result, the audit row and the revision bump.

Where it sits: under :mod:`engine.ingest.sessions`, :mod:`engine.ingest.enrollments` and :mod:`engine.ingest.people`
(the data functions behind the REST API); :mod:`engine.api.errors` turns an :class:`IngestError` into the HTTP
answer (422, or 404 / 409 for :class:`NotFound` / :class:`Conflict`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from engine.ingest.rows import new_row
from engine.store.models import (
    AuditEvent,
    LiveSession,
    SessionHost,
)
from engine.store.types import utcnow

_AUDIT: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]
_INSERT_AUDIT = sa.insert(_AUDIT)


class IngestError(Exception):
    """A write the API must refuse; ``status_code``, ``loc`` and ``message`` shape the HTTP answer."""

    status_code = 422

    def __init__(self, message: str, *, loc: Sequence[str | int] = ("body",)) -> None:
        super().__init__(message)
        self.message = message
        self.loc = list(loc)


class NotFound(IngestError):
    status_code = 404


class Conflict(IngestError):
    status_code = 409


@dataclass(frozen=True)
class Roster:
    """What a write that created a session put in it, so its answer needs no query: the hosts as
    ``(email, role)`` in order, and the enrolled and waitlisted counts. It has no binding yet."""

    hosts: tuple[tuple[str, str], ...]
    enrolled: int
    waitlisted: int


@dataclass(frozen=True)
class WriteResult:
    session: LiveSession
    created: bool
    changed: bool
    #: Set when the write created the session (see :class:`Roster`).
    roster: Roster | None = None


def audit(
    db: Session,
    *,
    session: LiveSession,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append the audit row of a write to ``session`` (one ``INSERT``, sent at once: the row refers to nothing
    the transaction has yet to write, and no model is built for it)."""
    row = new_row(
        AuditEvent,
        id=uuid.uuid4(),
        tenant_id=session.tenant_id,
        actor=actor,
        action=action,
        session_id=session.id,
        subject=subject or session.external_id,
        detail=detail or {},
    )
    db.connection().execute(_INSERT_AUDIT, row)


def bump(session: LiveSession) -> None:
    session.revision = (session.revision or 0) + 1
    session.updated_at = utcnow()


def host_person_ids(db: Session, session: LiveSession) -> set[uuid.UUID]:
    return set(db.exec(select(SessionHost.person_id).where(SessionHost.session_id == session.id)))
