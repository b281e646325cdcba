"""Column values of new rows, with the models' own defaults, for the Core inserts of the ingest hot path.

Where it sits: under :mod:`engine.ingest.sessions` and :mod:`engine.ingest.people`, which create a session, its
hosts, learners and audit row with multi-row ``INSERT`` statements (``RETURNING`` what they need) instead of
ORM objects flushed one by one. :func:`new_row` fills every column the caller leaves out from the model's
field default or default factory (a fresh id, ``utcnow()``, an empty list), exactly as building the
model would, without the cost of validating a model per row. :func:`insert_rows` sends many such rows in
one statement, on the session's connection (Core: no ORM bookkeeping for rows no model tracks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import sqlalchemy as sa
from pydantic_core import PydanticUndefined
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, SQLModel


@cache
def _defaults(model: type[SQLModel]) -> tuple[tuple[str, Any, Any], ...]:
    """``(column, default, default_factory)`` for each column of ``model``'s table."""
    out: list[tuple[str, Any, Any]] = []
    for column in model.__table__.columns:  # type: ignore[attr-defined]
        field = model.model_fields.get(column.name)
        if field is None:  # pragma: no cover - every column of Muster's tables is a model field
            out.append((column.name, None, None))
            continue
        default = None if field.default is PydanticUndefined else field.default
        out.append((column.name, default, field.default_factory))
    return tuple(out)


def new_row(model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """Every column of a new ``model`` row: ``values``, else the field's default (factories called)."""
    row: dict[str, Any] = {}
    for name, default, factory in _defaults(model):
        if name in values:
            row[name] = values[name]
        elif factory is not None:
            row[name] = factory()
        else:
            row[name] = default
    return row


def _json_value(value: Any) -> str:
    """How a recordset row's ids and times are written in its JSON (PostgreSQL reads them back by column type)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def rows_json(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows``' ``columns`` as a JSON array of objects, for ``json_to_recordset`` (:mod:`engine.ingest.create`):
    one parameter encoded in C by :mod:`json`, where an array parameter per column is dumped by psycopg element by
    element in Python."""
    return json.dumps([{name: row[name] for name in columns} for row in rows], default=_json_value)


@lru_cache(maxsize=16)
def _pg_unnest_insert(table: sa.Table, varying: tuple[str, ...]) -> sa.TextClause:
    """``INSERT INTO table SELECT ... FROM unnest(arrays)``: the ``varying`` columns as one array parameter each
    (``v_<column>``), the others as one parameter each (``c_<column>``); one statement text for any number of
    rows. Only the table's own column names and types go into the text; every value is a parameter."""
    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    kinds = {c.name: c.type.compile(dialect=pg) for c in table.c}
    values = ", ".join(f"r.{c.name}" if c.name in varying else f"CAST(:c_{c.name} AS {kinds[c.name]})" for c in table.c)
    arrays = ", ".join(f"CAST(:v_{name} AS {kinds[name]}[])" for name in varying)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(c.name for c in table.c)}) "  # noqa: S608
        f"SELECT {values} FROM unnest({arrays}) AS r({', '.join(varying)})"
    )
    binds = [sa.bindparam(f"c_{c.name}", type_=c.type) for c in table.c if c.name not in varying]
    return sa.text(sql).bindparams(*binds)


def insert_rows(db: Session, table: sa.Table, rows: list[dict[str, Any]], varying: tuple[str, ...]) -> None:
    """Insert ``rows`` (complete, from :func:`new_row`) in one statement. On PostgreSQL the ``varying`` columns
    go as arrays (``unnest``) when every other column holds one value for all rows (the statement's text then
    never changes, however many rows); otherwise, and on SQLite, one ``executemany``."""
    if not rows:
        return
    first = rows[0]
    constant = [c.name for c in table.c if c.name not in varying]
    if db.get_bind().dialect.name == "postgresql" and all(r[c] == first[c] for r in rows for c in constant):
        params: dict[str, Any] = {f"c_{c}": first[c] for c in constant}
        for name in varying:
            params[f"v_{name}"] = [r[name] for r in rows]
        db.connection().execute(_pg_unnest_insert(table, varying), params)
        return
    db.connection().execute(sa.insert(table), rows)
