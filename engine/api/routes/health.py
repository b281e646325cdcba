"""``GET /healthz``: is this process up and can it reach its database?

Where it sits: probed by load balancers and ``muster demo``; unauthenticated and cheap (one ``SELECT 1``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine.api.deps import context

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz", summary="Liveness and database reachability")
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
