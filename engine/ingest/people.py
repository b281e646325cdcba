"""People created on the fly from the emails a session write names (hosts, learners).

Where it sits: called by :mod:`engine.ingest.sessions` (hosts, and a session PUT's learners with them) and
:mod:`engine.ingest.enrollments` (learners) inside the request's unit of work. Emails are lower-cased; hosts
gain the ``organizer`` role, learners the ``learner`` role. All the people of one write are upserted in one
statement, several rows at once in email order, returning every row (created or already there), so nothing
just written is read back: on PostgreSQL ``WITH created AS (INSERT ... ON CONFLICT DO NOTHING RETURNING)``
joined with the rows that were already there (no row lock on them: two writes naming the same host do not
wait for each other); on SQLite (a single writer) ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``. Two
requests creating the same new people neither fail nor deadlock: the later one waits for the earlier, then
reads the row the earlier one created (the one extra query a race costs).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from engine.ingest.rows import new_row
from engine.store.models import (
    Person,
    Role,
)
from engine.store.types import utcnow

_TABLE: sa.Table = Person.__table__  # type: ignore[attr-defined]


@lru_cache(maxsize=256)
def _sqlite_upsert_statement(n: int) -> Any:
    """SQLite's upsert of ``n`` people (see the module docstring), as text with one named parameter per value
    (``email_0``, ``roles_0``, ...): built once per size, so it is compiled once (SQLAlchemy does not cache a
    multi-row ``VALUES`` it builds itself)."""
    names = [c.name for c in _TABLE.c]
    columns = ", ".join(names)
    values = ", ".join("(" + ", ".join(f":{c}_{i}" for c in names) + ")" for i in range(n))
    sql = (  # only the table's own column names and numbered placeholders in the text: every value is a parameter
        f"INSERT INTO person ({columns}) VALUES {values} ON CONFLICT (tenant_id, email) "  # noqa: S608
        f"DO UPDATE SET email = excluded.email RETURNING {columns}"
    )
    binds = [sa.bindparam(f"{c.name}_{i}", type_=c.type) for i in range(n) for c in _TABLE.c]
    return select(Person).from_statement(sa.text(sql).bindparams(*binds).columns(*_TABLE.c))


#: Columns whose values differ between the rows of one people upsert (the others are the same for all).
_VARYING = {"id": "uuid[]", "email": "varchar[]", "display_name": "varchar[]", "roles": "json[]"}


@lru_cache(maxsize=1)
def _pg_upsert_statement() -> Any:
    """PostgreSQL's people upsert for any number of rows: the varying columns as arrays (``unnest``), the others
    as one parameter each, so the statement's text never changes (parsed and planned like any other)."""
    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    names = [c.name for c in _TABLE.c]
    columns = ", ".join(names)
    values = ", ".join(
        f"r.{c.name}" if c.name in _VARYING else f"CAST(:c_{c.name} AS {c.type.compile(dialect=pg)})" for c in _TABLE.c
    )
    arrays = ", ".join(f"CAST(:v_{name} AS {kind})" for name, kind in _VARYING.items())
    # The statement's snapshot predates its own inserts: the second part finds exactly those already there.
    sql = (  # only the table's own names and types in the text: every value is a parameter
        f"WITH created AS (INSERT INTO person ({columns}) SELECT {values} FROM unnest({arrays}) "  # noqa: S608
        f"AS r({', '.join(_VARYING)}) ORDER BY r.email ON CONFLICT (tenant_id, email) DO NOTHING "
        f"RETURNING {columns}) "
        f"SELECT {columns} FROM created UNION ALL "
        f"SELECT {columns} FROM person WHERE tenant_id = :c_tenant_id AND email = ANY(CAST(:v_email AS varchar[]))"
    )
    binds = [sa.bindparam(f"c_{c.name}", type_=c.type) for c in _TABLE.c if c.name not in _VARYING]
    return select(Person).from_statement(sa.text(sql).bindparams(*binds).columns(*_TABLE.c))


def _upsert_people(db: Session, tenant_id: uuid.UUID, rows: list[dict[str, Any]]) -> list[Person]:
    """The people of ``rows`` (in email order), inserted when missing: one statement returning every row
    that exists after it (one a concurrent, not yet committed request is creating is not returned)."""
    dialect = db.get_bind().dialect.name
    params: dict[str, Any]
    if dialect == "postgresql":
        params = {f"c_{name}": value for name, value in rows[0].items() if name not in _VARYING}
        params["v_id"] = [r["id"] for r in rows]
        params["v_email"] = [r["email"] for r in rows]
        params["v_display_name"] = [r["display_name"] for r in rows]
        params["v_roles"] = [json.dumps(r["roles"]) for r in rows]
        statement = _pg_upsert_statement()
    elif dialect == "sqlite":
        params = {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}
        statement = _sqlite_upsert_statement(len(rows))
    else:  # pragma: no cover - Muster runs on PostgreSQL and SQLite only
        raise RuntimeError(f"unsupported database dialect {dialect!r}")
    return list(db.scalars(statement, params, execution_options={"populate_existing": True}))


def known_people(*, db: Session, tenant_id: uuid.UUID, emails: Iterable[str]) -> dict[str, Person]:
    """The tenant's people among ``emails`` (lower-cased), in one query (none are created)."""
    wanted = sorted(dict.fromkeys(e.lower() for e in emails))
    if not wanted:
        return {}
    return {
        p.email: p
        for p in db.exec(select(Person).where(Person.tenant_id == tenant_id, col(Person.email).in_(wanted)))
    }


def ensure_roles(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    wanted: Mapping[str, Sequence[Role]],
    names: Mapping[str, str | None] | None = None,
    known: Mapping[str, Person] | None = None,
) -> dict[str, Person]:
    """People for the emails of ``wanted`` (lower-cased), created if new, each holding its roles.

    One upsert of those not in ``known`` (see the module docstring); none when ``known`` holds everyone.
    A person gains a role or a display name they lack with one ``UPDATE`` (only then).
    """
    roles: dict[str, list[Role]] = {}
    for email, needed in wanted.items():
        bucket = roles.setdefault(email.lower(), [])
        bucket.extend(r for r in needed if r not in bucket)
    if not roles:
        return {}
    names = {e.lower(): n for e, n in (names or {}).items()}
    found = {e: known[e] for e in roles if known and e in known}
    missing = sorted(e for e in roles if e not in found)
    if missing:
        now = utcnow()
        rows = [
            new_row(
                Person,
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                email=email,
                roles=[r.value for r in roles[email]],
                display_name=names.get(email),
                created_at=now,
                updated_at=now,
            )
            for email in missing
        ]
        for p in _upsert_people(db, tenant_id, rows):
            found[p.email] = p
        raced = [e for e in missing if e not in found]
        if raced:
            for p in db.exec(select(Person).where(Person.tenant_id == tenant_id, col(Person.email).in_(raced))):
                found[p.email] = p
    changed = False
    for email, needed in roles.items():
        person = found[email]
        updated = False
        lacking = [r.value for r in needed if r.value not in person.roles]
        if lacking:
            person.roles = [*person.roles, *lacking]
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


def ensure_people(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    emails: Iterable[str],
    role: Role,
    names: Mapping[str, str | None] | None = None,
    known: Mapping[str, Person] | None = None,
) -> dict[str, Person]:
    """People for ``emails`` (lower-cased), created if new, each holding ``role`` (see :func:`ensure_roles`)."""
    return ensure_roles(
        db=db, tenant_id=tenant_id, wanted={e.lower(): (role,) for e in emails}, names=names, known=known
    )
