"""``GET /healthz``, ``/livez``, ``/readyz``: is this process up, and can it do its work?

Where it sits: probed by load balancers, orchestrators, ``muster status`` and ``muster demo``; unauthenticated
and cheap. Probes live in :mod:`engine.runtime.probes` (shared with the worker's health endpoint).

* ``/livez`` - the process answers (no dependency checked: restarting it would not fix a database outage).
* ``/readyz`` - the database is reachable and migrated to this build's head, and the broker (Redis)
  answers; 200 when ready, 503 otherwise, with each check's state and what to do. Reports the version.
* ``/healthz`` - kept for existing load balancers: the process and its database (one ``SELECT 1``).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine import version
from engine.api.deps import context
from engine.runtime import probes

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


class HealthBody(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    worker: Literal["embedded", "redis"]


class LiveBody(BaseModel):
    status: Literal["ok"]
    version: str


class ReadyBody(BaseModel):
    status: Literal["ready", "not ready"]
    version: str
    checks: dict[str, dict[str, Any]] = Field(description="Per dependency (database, broker): ok and the reason")


_HEALTHZ: dict[int | str, dict[str, Any]] = {
    200: {"model": HealthBody, "description": "The process answers and the database is reachable"},
    503: {"model": HealthBody, "description": "The database is unreachable"},
}
_READYZ: dict[int | str, dict[str, Any]] = {
    200: {"model": ReadyBody, "description": "Ready: database reachable and migrated, broker reachable"},
    503: {"model": ReadyBody, "description": "Not ready: each failed check says why (e.g. run `muster db upgrade`)"},
}


@router.get("/healthz", summary="Liveness and database reachability", responses=_HEALTHZ)
def healthz(request: Request) -> JSONResponse:
    ctx = context(request)
    body: dict[str, Any] = {
        "status": "ok",
        "database": "ok",
        "worker": "embedded" if ctx.settings.embedded_worker else "redis",
    }
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health check: database unreachable: %s", exc)
        body.update(status="unavailable", database="unreachable")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/livez", summary="Liveness: the process answers",
            responses={200: {"model": LiveBody, "description": "Alive"}})
def livez() -> JSONResponse:
    return JSONResponse({"status": "ok", "version": version()})


@router.get("/readyz", summary="Readiness: database reachable and migrated, broker reachable",
            responses=_READYZ)
def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    checks = {"database": probes.database(ctx.engine), "broker": probes.broker(ctx.settings.redis_url)}
    ready = all(p.ok for p in checks.values())
    body: dict[str, Any] = {
        "status": "ready" if ready else "not ready",
        "version": version(),
        "checks": {name: p.as_dict() for name, p in checks.items()},
    }
    return JSONResponse(body, status_code=200 if ready else 503)
