"""People created on the fly from the emails a session write names (hosts, learners).

Where it sits: called by :mod:`engine.ingest.sessions` (hosts) and :mod:`engine.ingest.enrollments` (learners)
inside the request's unit of work. Emails are lower-cased; hosts gain the ``organizer`` role, learners the
``learner`` role. People are inserted with ``INSERT ... ON CONFLICT DO NOTHING`` in email order, so two
requests creating the same new people neither fail nor deadlock.
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


def _insert_missing_people(db: Session, rows: list[dict[str, Any]]) -> None:
    """``INSERT ... ON CONFLICT (tenant_id, email) DO NOTHING`` for ``rows`` (already in email order)."""
    dialect = db.get_bind().dialect.name
    table = Person.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "email"])
        db.execute(pg)
    elif dialect == "sqlite":
        lite = sqlite.insert(table).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "email"])
        db.execute(lite)
    else:  # pragma: no cover - Muster runs on PostgreSQL and SQLite only
        raise RuntimeError(f"unsupported database dialect {dialect!r}")


def ensure_people(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    emails: Iterable[str],
    role: Role,
    names: Mapping[str, str | None] | None = None,
) -> dict[str, Person]:
    """People for ``emails`` (lower-cased), created if new, each holding ``role``.

    One query when everyone exists; otherwise one ``INSERT ... ON CONFLICT DO NOTHING`` of the missing
    ones in email order (a concurrent request creating the same people neither fails nor deadlocks: the
    later one waits for the earlier, then skips those rows) and one more query to read them back.
    """
    wanted = sorted(dict.fromkeys(e.lower() for e in emails))
    if not wanted:
        return {}
    names = names or {}
    found = {
        p.email: p
        for p in db.exec(select(Person).where(Person.tenant_id == tenant_id, col(Person.email).in_(wanted)))
    }
    missing = [e for e in wanted if e not in found]
    if missing:
        columns = [c.name for c in Person.__table__.columns]  # type: ignore[attr-defined]
        rows = []
        for email in missing:
            person = Person(tenant_id=tenant_id, email=email, roles=[role.value], display_name=names.get(email))
            rows.append({name: getattr(person, name) for name in columns})
        _insert_missing_people(db, rows)
        for p in db.exec(select(Person).where(Person.tenant_id == tenant_id, col(Person.email).in_(missing))):
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
