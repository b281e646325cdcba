"""psycopg's cursor with a ``description`` built when read, not when asked for.

Where it sits: ``engine.store``, beside :mod:`engine.store.unit_of_work`, whose ``make_engine`` hands
:class:`Cursor` to psycopg (``connect_args={"cursor_factory": ...}``) for every PostgreSQL engine.

Why: SQLAlchemy asks for ``cursor.description`` after every statement, and psycopg builds a ``Column`` per
result column each time (its name decoded, its type looked up). For a statement it has run before SQLAlchemy
keeps the result's columns from the first run and only checks that a description exists: the session row,
tenant and binding that a reconcile reads were 68 ``Column`` objects built and dropped per reconcile, about a
twentieth of a no-op reconcile's instructions. Here the description is a sequence over the result it was asked
for (the same result object psycopg's own columns read, kept alive by it), whose columns are built on first
use: the same values, only later, and not at all when nobody reads them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import psycopg
from psycopg import Column
from psycopg.pq import ExecStatus

_TUPLES = (ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE, ExecStatus.TUPLES_CHUNK)


class _Result:
    """What psycopg's ``Column`` reads of a cursor, as it was for one result."""

    __slots__ = ("_encoding", "adapters", "pgresult")

    def __init__(self, pgresult: Any, encoding: str, adapters: Any) -> None:
        self.pgresult = pgresult
        self._encoding = encoding
        self.adapters = adapters


class Description(Sequence[Column]):
    """``cursor.description`` of one result: its length known at once, its columns built when first read."""

    __slots__ = ("_columns", "_n", "_result")

    def __init__(self, result: _Result, n: int) -> None:
        self._result = result
        self._n = n
        self._columns: list[Column] | None = None

    def _built(self) -> list[Column]:
        if self._columns is None:
            self._columns = [Column(self._result, i) for i in range(self._n)]  # type: ignore[arg-type]
        return self._columns

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> Column: ...

    @overload
    def __getitem__(self, index: slice) -> list[Column]: ...

    def __getitem__(self, index: int | slice) -> Column | list[Column]:
        return self._built()[index]

    def __iter__(self) -> Iterator[Column]:
        return iter(self._built())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Description):
            return self._built() == other._built()
        return self._built() == other

    __hash__ = None  # type: ignore[assignment]  # a list is not hashable either

    def __repr__(self) -> str:
        return repr(self._built())


class Cursor(psycopg.Cursor[Any]):
    @property
    def description(self) -> Description | None:  # type: ignore[override]
        res = self.pgresult
        if res and (res.nfields or res.status in _TUPLES):  # as psycopg decides it (``SELECT ;`` has none)
            return Description(_Result(res, self._encoding, self.adapters), res.nfields)
        return None
