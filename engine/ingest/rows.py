"""Column values of new rows, with the models' own defaults, for the Core inserts of the ingest hot path.

Where it sits: under :mod:`engine.ingest.sessions` and :mod:`engine.ingest.people`, which create a session, its
hosts, learners and audit row with multi-row ``INSERT`` statements (``RETURNING`` what they need) instead of
ORM objects flushed one by one. :func:`new_row` fills every column the caller leaves out from the model's
field default or default factory (a fresh id, ``utcnow()``, an empty list), exactly as building the
model would, without the cost of validating a model per row.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic_core import PydanticUndefined
from sqlmodel import SQLModel


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
