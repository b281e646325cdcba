"""People created on the fly from the emails a session write names (hosts, learners).

Where it sits: called by :mod:`engine.ingest.sessions` (hosts) and :mod:`engine.ingest.enrollments` (learners)
inside the request's unit of work. Emails are lower-cased; hosts gain the ``organizer`` role, learners the
``learner`` role. People are inserted with ``INSERT ... ON CONFLICT DO NOTHING`` in email order, so two
requests creating the same new people neither fail nor deadlock. A new session's write looks its hosts
and learners up in one query (:func:`known_people`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from engine.store.models import (
    Person,
    Role,
)
from engine.store.types import utcnow


def _insert_missing_people(db: Session, rows: list[dict[str, Any]]) -> list[Person]:
    """``INSERT ... ON CONFLICT (tenant_id, email) DO NOTHING RETURNING`` for ``rows`` (in email order): the
    people it created (those a concurrent request created first are not returned)."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(Person)
    elif dialect == "sqlite":
        insert = sqlite.insert(Person)
    else:  # pragma: no cover - Muster runs on PostgreSQL and SQLite only
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    statement = insert.values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "email"]).returning(Person)
    return list(db.scalars(statement))


def known_people(*, db: Session, tenant_id: uuid.UUID, emails: Iterable[str]) -> dict[str, Person]:
    """The tenant's people among ``emails`` (lower-cased), in one query: hand it to :func:`ensure_people`
    as ``known`` when one write names hosts and learners, so they are looked up together."""
    wanted = sorted(dict.fromkeys(e.lower() for e in emails))
    if not wanted:
        return {}
    return {
        p.email: p
        for p in db.exec(select(Person).where(Person.tenant_id == tenant_id, col(Person.email).in_(wanted)))
    }


def ensure_people(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    emails: Iterable[str],
    role: Role,
    names: Mapping[str, str | None] | None = None,
    known: Mapping[str, Person] | None = None,
) -> dict[str, Person]:
    """People for ``emails`` (lower-cased), created if new, each holding ``role``.

    One query when everyone exists (none when ``known``, from :func:`known_people`, already holds what the
    tenant has of them); otherwise one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` of the missing ones
    in email order (a concurrent request creating the same people neither fails nor deadlocks: the later
    one waits for the earlier, then skips those rows), and one more query only for the people such a
    concurrent request created first.
    """
    wanted = sorted(dict.fromkeys(e.lower() for e in emails))
    if not wanted:
        return {}
    names = names or {}
    if known is None:
        known = known_people(db=db, tenant_id=tenant_id, emails=wanted)
    found = {e: known[e] for e in wanted if e in known}
    missing = [e for e in wanted if e not in found]
    if missing:
        columns = [c.name for c in Person.__table__.columns]  # type: ignore[attr-defined]
        rows = []
        for email in missing:
            person = Person(tenant_id=tenant_id, email=email, roles=[role.value], display_name=names.get(email))
            rows.append({name: getattr(person, name) for name in columns})
        for p in _insert_missing_people(db, rows):
            found[p.email] = p
        raced = [e for e in missing if e not in found]
        if raced:
            for p in db.exec(select(Person).where(Person.tenant_id == tenant_id, col(Person.email).in_(raced))):
                found[p.email] = p
    changed = False
    for email in wanted:
        person = found[email]
        updated = False
        if role.value not in person.roles:
            person.roles = [*person.roles, role.value]
            updated = True
        if names.get(email) and not person.display_name:
            person.display_name = names[email]
            updated = True
        if updated:
            person.updated_at = utcnow()
            db.add(person)
            changed = True
    if changed:
        db.flush()
    return found
