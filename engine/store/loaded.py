"""Model instances built from rows a Core statement read, as the ORM's own loading builds them.

Where it sits: used where a hot path reads with a Core statement but hands the row on as a model the ORM can
flush or attach (:mod:`engine.sync.load`: the reconcile's binding; :mod:`engine.ingest.sessions`: the session
row a PUT claims), without the ORM's per-row loading work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class

T = TypeVar("T")


def as_loaded(model: type[T], values: Mapping[Any, Any]) -> T:
    """An instance of ``model`` holding ``values`` (every column, by attribute name), detached, as a query would
    have loaded it: built without ``__init__``, the values as committed state (no attribute history), so what a
    caller changes after attaching it is flushed as an ``UPDATE``."""
    instance: T = manager_of_class(model).new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance
