"""Detection: learn that an organizer's Google account is suspended or deleted.

Where it sits: first step of :mod:`engine.lifecycle`. Three sources feed the same write functions of
:mod:`engine.lifecycle.departure`:

* the periodic Directory scan, :func:`scan_directory` (``users.list`` with ``query=isSuspended=true``
  and with ``showDeleted=true``, reference §5.1), run per delegation-mode tenant that has a Directory
  admin; a previously suspended person no longer in the list is marked returned;
* errors seen during a reconcile, :func:`on_identity_error`: Calendar's 403 ``notACalendarUser``
  (a suspended user, reference §5.2) and the token endpoint's ``invalid_grant`` for an account that does
  not exist any more ("The account has been deleted", "Invalid email or User ID"); other
  ``invalid_grant`` answers (a revoked consent) are the connection's problem, not a departure;
* the platform's announcement through the REST API (``PUT /v1/people/{email}/departure``).

Each returns the people whose events now need a transfer; the caller enqueues it after commit.
Nothing here calls Calendar; the scan reads the Directory through :class:`DirectoryUsersPort`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from connectors.errors import ConnectorError
from connectors.ports.lifecycle import DirectoryUser, DirectoryUsersPort
from engine.lifecycle.departure import mark_gone, mark_returned
from engine.lifecycle.facts import find_person, norm_email
from engine.store.models import Person, PersonStatus

#: Calendar's reason for a suspended user (or one whose Calendar service is off).
NOT_A_CALENDAR_USER = "notACalendarUser"
#: Token-endpoint descriptions that mean the account itself is gone (reference §5.2, §8.2).
DELETED_ACCOUNT_HINTS = ("account has been deleted", "invalid email or user id", "not a valid email")


@dataclass
class ScanResult:
    """What a scan changed, by email."""

    suspended: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)

    @property
    def needs_transfer(self) -> list[str]:
        return self.suspended + self.deleted


def apply_directory_state(*, db: Session, tenant_id: uuid.UUID, suspended: Sequence[DirectoryUser],
                          deleted: Sequence[DirectoryUser], source: str = "directory-scan") -> ScanResult:
    """Bring people's status in line with the Directory's lists. Idempotent; the caller commits."""
    result = ScanResult()
    people = {p.email: p for p in db.exec(select(Person).where(Person.tenant_id == tenant_id)).all()}
    gone_ids: dict[str, str] = {}
    for users, status, bucket in ((deleted, PersonStatus.DELETED, result.deleted),
                                  (suspended, PersonStatus.SUSPENDED, result.suspended)):
        for user in users:
            person = people.get(norm_email(user.email))
            if person is None or person.email in gone_ids:
                continue
            gone_ids[person.email] = user.id
            if user.id and not person.google_user_id:
                person.google_user_id = user.id
                db.add(person)
            why = (f"suspensionReason {user.suspension_reason}" if status is PersonStatus.SUSPENDED
                   and user.suspension_reason else f"listed as {status.value} by the Directory")
            if mark_gone(db=db, person=person, status=status, source=source, why=why):
                bucket.append(person.email)
    for person in people.values():
        if person.status == PersonStatus.SUSPENDED.value and person.email not in gone_ids \
                and mark_returned(db=db, person=person, source=source):
            result.returned.append(person.email)
    return result


def scan_directory(*, db: Session, tenant_id: uuid.UUID, directory: DirectoryUsersPort) -> ScanResult:
    """Read the Directory (two paged lists) and apply it. Raises the connector's errors unchanged."""
    suspended = directory.suspended()
    deleted = directory.deleted()
    return apply_directory_state(db=db, tenant_id=tenant_id, suspended=suspended, deleted=deleted)


def departure_from_error(err: ConnectorError) -> PersonStatus | None:
    """The state an identity error reveals: SUSPENDED, DELETED, or None (not a departure)."""
    reason = (err.reason or "").strip()
    text = str(err).lower()
    if reason == NOT_A_CALENDAR_USER or NOT_A_CALENDAR_USER.lower() in text:
        return PersonStatus.SUSPENDED
    grant = "invalid_grant" in reason.lower() or "invalid_grant" in text
    if grant and any(hint in text for hint in DELETED_ACCOUNT_HINTS):
        return PersonStatus.DELETED
    return None


def on_identity_error(*, db: Session, tenant_id: uuid.UUID, email: str, err: ConnectorError,
                      source: str = "reconcile") -> Person | None:
    """Called when acting as ``email`` failed with ``err``. Marks the person when the error reveals a
    suspension or deletion and returns them (their events need a transfer); otherwise None."""
    status = departure_from_error(err)
    if status is None:
        return None
    person = find_person(db, tenant_id, email)
    if person is None:
        return None
    changed = mark_gone(db=db, person=person, status=status, source=source, why=str(err)[:300])
    return person if changed or person.status == status.value else None


def people_to_transfer(*, db: Session, tenant_id: uuid.UUID, emails: Sequence[str]) -> list[Person]:
    """The people behind ``emails`` (helper for callers that enqueue transfers)."""
    wanted = [norm_email(e) for e in emails]
    if not wanted:
        return []
    return list(db.exec(select(Person).where(Person.tenant_id == tenant_id,
                                             col(Person.email).in_(wanted))).all())
