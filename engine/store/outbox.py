"""The transactional outbox of sync requests: data functions over :class:`~engine.store.models.SyncRequest`.

Where it sits: :meth:`engine.store.unit_of_work.UnitOfWork.commit` calls :func:`record` inside the
transaction that changes a session, so "session X needs a reconcile at revision N" is committed with the
change or not at all. The after-commit dispatcher then sends the session id to the broker at once; when
that fails (Redis down) :func:`mark_unsent` flags the rows, and the relay in every worker and in the
embedded runner (:mod:`engine.runtime.relay`) sends them as soon as the broker answers again:

* :func:`due` lists what to send: never sent (or the hand-over failed), or sent more than
  :data:`RESEND_AFTER` ago while the session's binding still shows an older revision (the message was lost,
  e.g. a Redis restart without its data), at most :data:`MAX_SENDS` times (the periodic sweep remains);
* :func:`mark_sent` records a hand-over, unless the row was re-requested meanwhile;
* :func:`resend_all` makes every request due again at once (the broker came back without its data: what it
  held is gone);
* :func:`prune` deletes what the binding shows synced;
* :func:`backlog` is what health and readiness checks report.

Rows are keyed by session (a later request replaces an earlier one), so the table holds at most one row
per session with unsynced changes. Keyword-only functions; they never commit, except where a docstring
says the function runs its own short transaction on an engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from engine.store.models import CalendarBinding, LiveSession, SyncRequest, SyncStatus
from engine.store.types import UTCDateTime, utcnow

#: A request handed to the broker this long ago whose session is still behind is sent again.
RESEND_AFTER = timedelta(seconds=120)
#: Hand-overs of one request before the relay leaves it to the periodic sweep.
MAX_SENDS = 5

_TABLE = SyncRequest.__table__  # type: ignore[attr-defined]


def record(*, db: Session, session_ids: Sequence[uuid.UUID], sent: bool, now: datetime | None = None) -> None:
    """Write "needs a reconcile at its current revision" for each of ``session_ids`` (one statement).

    ``sent``: the caller hands the ids to the broker right after the commit (and calls
    :func:`mark_unsent` if that fails); otherwise the relay sends them.
    """
    if not session_ids:
        return
    now = now or utcnow()
    db.connection().execute(
        _record_statement(db.get_bind().dialect.name),
        {"ids": list(session_ids), "now": now, "sent_at": now if sent else None, "sends": 1 if sent else 0},
    )


@lru_cache(maxsize=4)
def _record_statement(dialect: str) -> Any:
    """The statement of :func:`record` for ``dialect``, built once (it runs on every write that syncs)."""
    source = sa.select(
        col(LiveSession.id),
        col(LiveSession.revision),
        sa.bindparam("now", type_=UTCDateTime()),
        sa.bindparam("sent_at", type_=UTCDateTime()),
        sa.bindparam("sends", type_=sa.Integer()),
    ).where(col(LiveSession.id).in_(sa.bindparam("ids", expanding=True)))
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_TABLE).from_select(
        ["session_id", "revision", "requested_at", "sent_at", "sends"], source
    )
    excluded = insert.excluded
    return insert.on_conflict_do_update(
        index_elements=["session_id"],
        set_={
            "revision": excluded.revision,
            "requested_at": excluded.requested_at,
            "sent_at": excluded.sent_at,
            "sends": excluded.sends,
        },
    )


def mark_unsent(engine: Engine, session_ids: Sequence[uuid.UUID]) -> None:
    """The hand-over of ``session_ids`` failed: leave them to the relay (own short transaction)."""
    if not session_ids:
        return
    with Session(engine) as db, db.begin():
        db.execute(
            sa.update(_TABLE)
            .where(_TABLE.c.session_id.in_(list(session_ids)))
            .values(sent_at=None, sends=sa.case((_TABLE.c.sends > 0, _TABLE.c.sends - 1), else_=0))
        )


@dataclass(frozen=True)
class Due:
    session_id: uuid.UUID
    requested_at: datetime


def due(*, db: Session, now: datetime | None = None, limit: int = 500) -> list[Due]:
    """Requests to hand to the broker now, oldest first (see the module docstring)."""
    now = now or utcnow()
    behind = sa.or_(
        col(CalendarBinding.id).is_(None),
        sa.and_(
            col(CalendarBinding.sync_status) != SyncStatus.BLOCKED.value,
            sa.or_(
                col(CalendarBinding.synced_revision).is_(None),
                col(CalendarBinding.synced_revision) < col(SyncRequest.revision),
            ),
        ),
    )
    query = (
        select(SyncRequest.session_id, SyncRequest.requested_at)
        .join(CalendarBinding, col(CalendarBinding.session_id) == col(SyncRequest.session_id), isouter=True)
        .where(
            sa.or_(
                col(SyncRequest.sent_at).is_(None),
                sa.and_(
                    col(SyncRequest.sent_at) < now - RESEND_AFTER,
                    col(SyncRequest.sends) < MAX_SENDS,
                    behind,
                ),
            )
        )
        .order_by(col(SyncRequest.requested_at))
        .limit(limit)
    )
    return [Due(sid, at) for sid, at in db.exec(query).all()]


def mark_sent(*, db: Session, sent: Sequence[Due], now: datetime | None = None) -> None:
    """Record the hand-over of ``sent``; a row re-requested since it was listed is left alone."""
    if not sent:
        return
    now = now or utcnow()
    statement = (
        sa.update(_TABLE)
        .where(_TABLE.c.session_id == sa.bindparam("sid"), _TABLE.c.requested_at == sa.bindparam("at"))
        .values(sent_at=now, sends=_TABLE.c.sends + 1)
    )
    db.connection().execute(statement, [{"sid": d.session_id, "at": d.requested_at} for d in sent])


def resend_all(*, db: Session) -> int:
    """Make every request handed to the broker due again (its messages were lost with the broker's data).

    Returns how many. A request whose session is synced meanwhile costs one reconcile that writes nothing.
    """
    result = db.execute(sa.update(_TABLE).where(_TABLE.c.sent_at.is_not(None)).values(sent_at=None))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune(*, db: Session) -> int:
    """Delete requests the session's binding shows synced (at their revision or later). Returns how many.

    An unsent request is never deleted: its hand-over is still owed. One statement; the condition is
    checked again on each row as it is deleted, so a request re-written meanwhile stays.
    """
    synced = (
        select(col(CalendarBinding.synced_revision))
        .where(col(CalendarBinding.session_id) == _TABLE.c.session_id)
        .scalar_subquery()
    )
    result = db.execute(sa.delete(_TABLE).where(_TABLE.c.sent_at.is_not(None), _TABLE.c.revision <= synced))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Backlog:
    """What a health or readiness check reports about the outbox."""

    unsent: int  #: requests not (successfully) handed to the broker yet
    oldest_unsent_s: float | None  #: age of the oldest of them (None when there is none)
    waiting: int  #: every request not yet shown synced (sent or not)

    def as_dict(self) -> dict[str, float | int | None]:
        return {"unsent": self.unsent, "oldestUnsentS": self.oldest_unsent_s, "waiting": self.waiting}


def backlog(engine: Engine, *, now: datetime | None = None) -> Backlog:
    """The outbox backlog, in one query (own short read transaction).

    For whoever serves ``/healthz`` or ``/readyz``: a growing ``unsent`` with an old ``oldest_unsent_s``
    means committed changes are not reaching the broker (Redis down, or no worker running a relay).
    """
    now = now or utcnow()
    with Session(engine) as db:
        unsent, oldest, waiting = db.exec(
            select(
                sa.func.count().filter(col(SyncRequest.sent_at).is_(None)),
                sa.func.min(col(SyncRequest.requested_at)).filter(col(SyncRequest.sent_at).is_(None)),
                sa.func.count(),
            )
        ).one()
    age = None
    if oldest is not None:
        if oldest.tzinfo is None:  # SQLite aggregates lose the column type
            oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=now.tzinfo)
        age = max(0.0, (now - oldest).total_seconds())
    return Backlog(unsent=int(unsent or 0), oldest_unsent_s=age, waiting=int(waiting or 0))
