"""``GET /metrics``: the Prometheus exposition of ``muster serve`` (every web process's series added up).

Where it sits: mounted with the REST API (:func:`engine.api.app.create_api`), unauthenticated like ``/readyz``:
keep it off the public proxy and let only Prometheus reach it (docs/operations.md). Besides the series of
:mod:`engine.runtime.metrics` it reads, per scrape, ``muster_sessions{tenant,sync_status}`` from the
database (sessions the platform has not removed; ``unsynced`` for those never reconciled), the outbox
backlog (``muster_outbox_*``, :func:`engine.store.outbox.backlog`) and, with Redis, ``muster_queue_depth``.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from engine.api.deps import context
from engine.runtime import metrics
from engine.runtime.actors import redis_queue_depth
from engine.store import outbox
from engine.store.models import CalendarBinding, LiveSession, Tenant

router = APIRouter()

#: Sync status of a session Muster has not reconciled yet.
UNSYNCED = "unsynced"


def sessions_by_status(engine: Engine) -> Iterator[tuple[str, str, int]]:
    """``(tenant slug, sync status, sessions)`` for every tenant's sessions that are not removed."""
    with Session(engine) as db:
        rows = db.exec(
            select(Tenant.slug, CalendarBinding.sync_status, func.count())
            .select_from(LiveSession)
            .join(Tenant, col(Tenant.id) == LiveSession.tenant_id)
            .join(CalendarBinding, col(CalendarBinding.session_id) == LiveSession.id, isouter=True)
            .where(col(LiveSession.deleted_at).is_(None))
            .group_by(col(Tenant.slug), col(CalendarBinding.sync_status))
        ).all()
    for slug, status, n in rows:
        yield str(slug), str(status or UNSYNCED), int(n)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request) -> Response:
    ctx = context(request)
    body = metrics.exposition(
        metrics.sessions_collector(lambda: list(sessions_by_status(ctx.engine))),
        metrics.outbox_collector(lambda: outbox.backlog(ctx.engine)),
        metrics.queue_depth_collector(
            lambda: redis_queue_depth(ctx.settings.redis_url, ctx.settings.redis_namespace)
        ),
    )
    return Response(body, media_type=metrics.CONTENT_TYPE)
