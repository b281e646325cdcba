"""What a new session brings along, written in one statement on PostgreSQL: its people, hosts, learners and audit row.

Where it sits: called by :func:`engine.ingest.sessions.upsert_session` once :func:`~engine.ingest.sessions._claim`
has inserted the session row (and so holds its lock), inside the request's unit of work; SQLite (a single writer,
the embedded default) keeps the statement-per-table path of :mod:`engine.ingest.people` and
:mod:`engine.ingest.enrollments`. The checks those modules make (a host listed as a learner, the attendee cap) are
made by the caller before this runs, on the request alone: a new session has nothing stored to compare with.

The statement (data-modifying ``WITH`` queries, each run once and to completion)::

    WITH created  AS (INSERT INTO person ... FROM json_to_recordset(...)
                      ON CONFLICT (tenant_id, email) DO NOTHING RETURNING ...),
         people   AS (SELECT ... FROM created UNION ALL SELECT ... FROM person WHERE email = ANY(...)),
         hosts    AS (INSERT INTO session_host ... FROM json_to_recordset(...) JOIN people ON email),
         learners AS (INSERT INTO enrollment ... FROM json_to_recordset(...) JOIN people ON email),
         audited  AS (INSERT INTO audit_event ...)
    SELECT id, email, roles, display_name FROM people

Every value is a parameter, the rows that differ as one JSON recordset per table (``json_to_recordset``: one
parameter encoded in C, not an array per column dumped element by element), so the text never changes and
PostgreSQL parses and plans it like any other prepared statement. The statement's snapshot predates its own
inserts, so ``people`` holds each person once: created by it, or there before it. A person another request
created concurrently and committed while this one waited on the unique key is in neither part; the rows naming
that person are then written by a second statement once their row is read (what a race costs, as in
:mod:`engine.ingest.people`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from engine.ingest.rows import insert_rows, new_row, rows_json
from engine.store.models import AuditEvent, Enrollment, Person, SessionHost

_PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]
_HOSTS: sa.Table = SessionHost.__table__  # type: ignore[attr-defined]
_ENROLLMENTS: sa.Table = Enrollment.__table__  # type: ignore[attr-defined]
_AUDIT: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]

#: Columns of each table that differ between the rows of one statement (sent as arrays); ``email`` names the
#: person a host or learner row is joined to.
_PEOPLE_VARYING = ("id", "email", "display_name", "roles")
_HOSTS_VARYING = ("id", "email", "role", "position")
_LEARNERS_VARYING = ("id", "email", "status", "created_at")


@dataclass(frozen=True)
class Created:
    """The people of a new session after the statement: ``email -> (id, roles, display_name)``."""

    people: dict[str, tuple[uuid.UUID, list[str], str | None]]


def _kinds() -> dict[str, dict[str, str]]:
    """Each table's column types as PostgreSQL spells them."""
    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    return {t.name: {c.name: c.type.compile(dialect=pg) for c in t.c} for t in (_PEOPLE, _HOSTS, _ENROLLMENTS, _AUDIT)}


def _recordset(prefix: str, varying: Sequence[str], kinds: Mapping[str, str]) -> str:
    """``json_to_recordset(:<prefix>_rows) AS <prefix>(column type, ...)``: the rows that differ, as one JSON
    parameter (encoded in C by :mod:`json`, parsed by PostgreSQL), instead of an array parameter per column."""
    columns = ", ".join(f"{name} {kinds[name]}" for name in varying)
    return f"json_to_recordset(CAST(:{prefix}_rows AS JSON)) AS {prefix}({columns})"


def _select_list(table: sa.Table, prefix: str, varying: Sequence[str], kinds: Mapping[str, str]) -> str:
    """What an insert into ``table`` selects: the ``varying`` columns from the recordset ``prefix``, ``person_id``
    from the joined person (alias ``p``), the others as one parameter each (``<prefix>_c_<column>``)."""
    values = []
    for c in table.c:
        if c.name == "person_id":
            values.append("p.id")
        elif c.name in varying:
            values.append(f"{prefix}.{c.name}")
        else:
            values.append(f"CAST(:{prefix}_c_{c.name} AS {kinds[c.name]})")
    return ", ".join(values)


@lru_cache(maxsize=1)
def _statement() -> sa.TextualSelect:
    """The statement of the module docstring, built once (only table and column names and types in its text)."""
    kinds = _kinds()
    person_kinds = {**kinds["person"], "roles": "JSON"}
    host_kinds = {**kinds["session_host"], "email": "VARCHAR"}
    learner_kinds = {**kinds["enrollment"], "email": "VARCHAR"}
    columns = ", ".join(c.name for c in _PEOPLE.c)
    audit_values = ", ".join(f"CAST(:au_{c.name} AS {kinds['audit_event'][c.name]})" for c in _AUDIT.c)
    # only the tables' own names and types in the text: every value is a parameter
    sql = (
        f"WITH created AS (INSERT INTO person ({columns}) "  # noqa: S608
        f"SELECT {_select_list(_PEOPLE, 'pr', _PEOPLE_VARYING, person_kinds)} "
        f"FROM {_recordset('pr', _PEOPLE_VARYING, person_kinds)} ORDER BY pr.email "
        f"ON CONFLICT (tenant_id, email) DO NOTHING RETURNING {columns}), "
        f"people AS (SELECT {columns} FROM created UNION ALL SELECT {columns} FROM person "
        f"WHERE tenant_id = CAST(:pr_c_tenant_id AS UUID) AND email = ANY(ARRAY("  # the unique index, not a scan
        f"SELECT pr.email FROM {_recordset('pr', ('email',), person_kinds)}))), "
        f"hosts AS (INSERT INTO session_host ({', '.join(c.name for c in _HOSTS.c)}) "
        f"SELECT {_select_list(_HOSTS, 'hr', _HOSTS_VARYING, host_kinds)} "
        f"FROM {_recordset('hr', _HOSTS_VARYING, host_kinds)} JOIN people p ON p.email = hr.email RETURNING 1), "
        f"learners AS (INSERT INTO enrollment ({', '.join(c.name for c in _ENROLLMENTS.c)}) "
        f"SELECT {_select_list(_ENROLLMENTS, 'er', _LEARNERS_VARYING, learner_kinds)} "
        f"FROM {_recordset('er', _LEARNERS_VARYING, learner_kinds)} JOIN people p ON p.email = er.email "
        "RETURNING 1), "
        f"audited AS (INSERT INTO audit_event ({', '.join(c.name for c in _AUDIT.c)}) VALUES ({audit_values}) "
        "RETURNING 1) "
        "SELECT id, email, roles, display_name FROM people"
    )
    return sa.text(sql).columns(
        sa.column("id", postgresql.UUID(as_uuid=True)),
        sa.column("email", sa.String()),
        sa.column("roles", _PEOPLE.c.roles.type),
        sa.column("display_name", sa.String()),
    )


def _constants(prefix: str, row: Mapping[str, Any], varying: Sequence[str]) -> dict[str, Any]:
    return {f"{prefix}_c_{name}": value for name, value in row.items() if name not in varying and name != "person_id"}


def write_new_session(
    db: Session,
    *,
    tenant_id: uuid.UUID,
    session_id: uuid.UUID,
    people: Sequence[Mapping[str, Any]],
    hosts: Sequence[Mapping[str, Any]],
    learners: Sequence[Mapping[str, Any]],
    audit_row: Mapping[str, Any],
) -> Created:
    """Write a new session's people (complete :func:`~engine.ingest.rows.new_row` rows, upserted), hosts and
    learners (rows whose ``email`` names their person instead of a ``person_id``) and audit row, in one statement
    (see the module docstring); the people as they are afterwards."""
    template_host = hosts[0]
    template_learner = learners[0] if learners else new_row(
        Enrollment, id=uuid.uuid4(), session_id=session_id, person_id=None, status="enrolled"
    )
    params: dict[str, Any] = {
        **_constants("pr", people[0], _PEOPLE_VARYING),
        "pr_rows": rows_json(people, _PEOPLE_VARYING),
        **_constants("hr", template_host, _HOSTS_VARYING),
        "hr_rows": rows_json(hosts, _HOSTS_VARYING),
        **_constants("er", template_learner, _LEARNERS_VARYING),
        "er_rows": rows_json(learners, _LEARNERS_VARYING),
        **{f"au_{name}": value for name, value in audit_row.items()},
    }
    params["au_detail"] = json.dumps(params["au_detail"])
    found = {
        email: (pid, list(roles or []), name)
        for pid, email, roles, name in db.connection().execute(_statement(), params)
    }
    raced = [p["email"] for p in people if p["email"] not in found]
    if raced:  # created by a concurrent request that committed while this statement waited: read, then link
        for pid, email, roles, name in db.connection().execute(
            sa.select(_PEOPLE.c.id, _PEOPLE.c.email, _PEOPLE.c.roles, _PEOPLE.c.display_name).where(
                _PEOPLE.c.tenant_id == tenant_id, _PEOPLE.c.email.in_(raced)
            )
        ):
            found[email] = (pid, list(roles or []), name)
        late = set(raced)
        insert_rows(db, _HOSTS, [_linked(h, found) for h in hosts if h["email"] in late], _by_id(_HOSTS_VARYING))
        insert_rows(db, _ENROLLMENTS, [_linked(e, found) for e in learners if e["email"] in late],
                    _by_id(_LEARNERS_VARYING))
    return Created(people=found)


def _by_id(varying: Sequence[str]) -> tuple[str, ...]:
    """``varying`` for rows linked by ``person_id`` (:func:`_linked`) instead of by ``email``."""
    return tuple("person_id" if name == "email" else name for name in varying)


def _linked(row: Mapping[str, Any], people: Mapping[str, tuple[uuid.UUID, list[str], str | None]]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "email"}
    out["person_id"] = people[row["email"]][0]
    return out


def add_roles(
    db: Session,
    *,
    people: Mapping[str, tuple[uuid.UUID, list[str], str | None]],
    wanted: Mapping[str, Sequence[str]],
    names: Mapping[str, str | None],
    now: datetime,
) -> None:
    """Give each person of ``wanted`` the roles they lack and a display name they have none of (one ``UPDATE``
    per person who lacks something; none in the usual case)."""
    for email, roles in wanted.items():
        pid, held, display = people[email]
        lacking = [r for r in roles if r not in held]
        name = names.get(email) if not display else None
        if not lacking and not name:
            continue
        values: dict[str, Any] = {"updated_at": now}
        if lacking:
            values["roles"] = [*held, *lacking]
        if name:
            values["display_name"] = name
        db.connection().execute(sa.update(_PEOPLE).where(_PEOPLE.c.id == pid).values(**values))
