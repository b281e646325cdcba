"""Request-scoped dependencies of the ingest REST API: the unit of work and the calling tenant.

Where it sits: every route in :mod:`engine.api.routes` takes :data:`Uow` (one database session and one
:class:`~engine.store.unit_of_work.UnitOfWork` per request, closed afterwards; anything not committed is rolled back)
and
:data:`Caller` (the tenant owning the ``Authorization: Bearer <key>`` key). A missing, malformed,
unknown or revoked key is a 401 with ``WWW-Authenticate: Bearer``. Routes commit themselves, so a failed
commit is answered inside the request, and the unit of work enqueues only after the commit succeeded.

A key's ``last_used_at`` is refreshed at most once per :data:`LAST_USED_RESOLUTION` per key, on the
request's own connection, committed at once in a transaction of its own (nothing else of the request is
in it yet). A request therefore never holds one pooled connection while waiting for a second: with more
concurrent requests than the pool has connections, requests queue for the pool instead of deadlocking
on it. Bookkeeping never fails a request: an error is logged and the request goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from engine.api.key_cache import KeyCache
from engine.ingest.tenants import tenant_for_key
from engine.settings import Settings
from engine.store.models import ApiKey, Tenant
from engine.store.types import utcnow
from engine.store.unit_of_work import Dispatcher, UnitOfWork

log = logging.getLogger(__name__)

#: How stale a key's ``last_used_at`` may get before a request refreshes it.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiContext:
    """What :func:`engine.api.app.create_api` wires in (kept on ``app.state.muster``)."""

    settings: Settings
    engine: Engine
    #: None: the process-wide one from :func:`engine.store.unit_of_work.set_dispatcher`
    dispatcher: Dispatcher | None = None
    #: Ingest keys this app checked recently (:mod:`engine.api.key_cache`).
    keys: KeyCache = field(default_factory=KeyCache)


def context(request: Request) -> ApiContext:
    ctx = request.app.state.muster
    assert isinstance(ctx, ApiContext)
    return ctx


def get_uow(request: Request) -> Iterator[UnitOfWork]:
    """The request's unit of work, opened and closed in a worker thread. (Opened on the event loop instead, a
    benchmark burst of 220 enrollments to one session on one event loop took 33 s instead of 3 s, the last
    ones answered 503 after waiting for the pool until it timed out; measured again after a change that opened
    it on the loop: 10 of 250 such enrollments answered 503.)"""
    ctx = context(request)
    db = Session(ctx.engine, expire_on_commit=False)
    uow = UnitOfWork(db, ctx.dispatcher)
    try:
        yield uow
    finally:
        _close(uow)


def _close(uow: UnitOfWork) -> None:
    uow.rollback()  # no-op after a commit; drops pending ids otherwise
    uow.db.close()


Uow = Annotated[UnitOfWork, Depends(get_uow)]

_bearer = HTTPBearer(auto_error=False, description="The tenant's API key: `Authorization: Bearer mk_...`")


@dataclass(frozen=True)
class Authenticated:
    tenant: Tenant
    key: ApiKey

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"api-key:{self.key.prefix}"


def _unauthorized(message: str, error: str | None) -> HTTPException:
    challenge = 'Bearer realm="muster"' + (f', error="{error}"' if error else "")
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": challenge})


async def authenticate(
    request: Request, uow: Uow, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Authenticated:
    """The caller's tenant and key. A key this process checked less than
    :data:`engine.api.key_cache.TTL_S` seconds ago is taken from memory (no query, no thread hand-over);
    otherwise it is read (in a worker thread) and remembered. See :mod:`engine.api.key_cache`."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized(
            "missing API key: send `Authorization: Bearer <key>` with the tenant's key "
            "(create one with `muster tenant create`)",
            None,
        )
    presented = credentials.credentials.strip()
    cache = context(request).keys
    found = cache.get(presented)
    if found is None:
        found = await run_in_threadpool(_read_key, uow.db, presented)
        if found is None:
            raise _unauthorized(
                "invalid API key: it is unknown, revoked or mistyped; check the key or issue a new one",
                "invalid_token",
            )
        cache.put(presented, found)
    tenant, key = found
    if needs_touch(key):
        await run_in_threadpool(touch_last_used, uow.db, key)
    return Authenticated(tenant=tenant, key=key)


def _read_key(db: Session, key: str) -> tuple[Tenant, ApiKey] | None:
    """The key's tenant and row, detached from ``db`` (they are shared through the cache: a rollback of this
    request must not expire them under another one), read in a transaction of its own."""
    found = tenant_for_key(db=db, key=key)
    if found is not None:
        db.expunge(found[0])
        db.expunge(found[1])
    # The read's transaction ends here and its connection goes back to the pool: the request never holds a
    # connection while it waits for a thread to run its route (with every thread waiting for a connection
    # held that way, requests would stall until the pool's timeout).
    db.rollback()
    return found


def needs_touch(key: ApiKey, now: datetime | None = None) -> bool:
    """Whether ``key``'s recorded last use is missing or older than :data:`LAST_USED_RESOLUTION`."""
    cutoff = (now or utcnow()) - LAST_USED_RESOLUTION
    return key.last_used_at is None or key.last_used_at <= cutoff


def touch_last_used(db: Session, key: ApiKey, now: datetime | None = None) -> bool:
    """Record that ``key`` was just used, unless it was recorded less than a minute ago.

    One conditional ``UPDATE`` on ``db``'s connection, committed at once (so concurrent requests write
    it at most once, and each holds the row lock only for that statement); the request's later work
    starts a new transaction on the same session. A failure is logged and ignored. Returns True when
    the row was written.
    """
    now = now or utcnow()
    cutoff = now - LAST_USED_RESOLUTION
    if not needs_touch(key, now):
        return False
    key_id, prefix = key.id, key.prefix
    statement = (
        update(ApiKey)
        .where(col(ApiKey.id) == key_id)
        .where(or_(col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) <= cutoff))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    try:
        written = bool(db.execute(statement).rowcount > 0)  # type: ignore[attr-defined]
        db.commit()
    except SQLAlchemyError as exc:
        db.rollback()
        log.warning("could not record the use of API key %s: %s", prefix, exc)
        return False
    set_committed_value(key, "last_used_at", now)  # the request's own unit of work does not write it again
    return written


Caller = Annotated[Authenticated, Depends(authenticate)]
