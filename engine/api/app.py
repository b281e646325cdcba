"""The ingest REST API application factory.

Where it sits: :func:`create_api` is the API's composition root. The web composition root
(``admin_ui.web.create_web_app``) mounts or extends the app it returns; tests call it directly with an
engine and a recording dispatcher. OpenAPI lives at ``/openapi.json``, the interactive docs at ``/docs``
(Swagger UI served from Muster's own files: it works offline).

Data flow of a write: route → :mod:`engine.ingest.sessions` (no commit) → ``UnitOfWork.commit()`` → the dispatcher
(:func:`engine.store.unit_of_work.set_dispatcher`, installed by the task layer; or the one given here) receives the
session ids → a reconcile of each session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine

from engine.api import errors
from engine.api.body_limit import BodySizeLimit
from engine.api.deps import ApiContext
from engine.api.routes import admin, enrollments, feed, health, metrics, people, push, sessions, webhooks
from engine.api.schemas import ErrorBody
from engine.api.security_headers import SecurityHeaders
from engine.settings import Settings
from engine.store.unit_of_work import Dispatcher, get_engine

DESCRIPTION = """\
Muster keeps Google Calendar in step with a learning platform's live sessions. The platform writes
sessions, hosts and enrollments here; Muster syncs them to Google in the background and reports each
session's sync status.

Authenticate with the tenant's API key: `Authorization: Bearer mk_...` (`muster tenant create` prints one).
Writes are idempotent (`PUT` by the platform's external id). Invalid input gets a 422 whose `detail` lists
each field (`loc`) with a readable `msg`. Request bodies are limited to 1 MiB; a larger one gets a 413.

The admin routes (`/v1/admin/...`: the tenant's set-up and its people) take an admin's token instead
(`muster user token --tenant SLUG --email ADMIN`); the tenant's ingest key does not open them.
"""


def _error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"model": ErrorBody, "description": description}
    if retry_after:
        answer["headers"] = {"Retry-After": {"description": "seconds to wait before retrying",
                                             "schema": {"type": "integer"}}}
    return answer


#: The error answers of every ``/v1`` operation (422 is FastAPI's own, with the same ``detail`` list).
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("The body is not JSON or not UTF-8."),
    401: {**_error("No API key, or a wrong or revoked one."),
          "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}},
    409: _error("A write to a removed session, or a concurrent write to the same data (retry).", retry_after=True),
    404: _error("No such session, learner or person in this tenant (operations with one in the path)."),
    413: _error("The body is larger than 1 MiB."),
    503: _error("The database is unavailable (retry), or not migrated (run `muster db upgrade`).",
                retry_after=True),
}


#: The error answers of every ``/v1/admin`` operation: the same bodies, opened by an admin's token.
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    401: {**_error("No admin token, or a wrong, revoked or non-admin one (the tenant's ingest key is refused "
                   "here: `muster user token --tenant SLUG --email ADMIN` issues one)."),
          "headers": {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}},
    404: _error("No such person in this tenant (operations with an email in the path)."),
    409: _error("A refused change of state (the tenant's last admin, an account gone in Google, a switch "
                "already running, a tenant already in that mode), or a concurrent write (retry).",
                retry_after=True),
}


#: Swagger UI's files, served by Muster itself so /docs works without internet (fastapi-offline ships them).
DOCS_STATIC = Path(fastapi_offline.__file__).parent / "static"


def serve_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from Muster's own ``/docs/static`` files, never from a CDN."""
    app.mount("/docs/static", StaticFiles(directory=str(DOCS_STATIC)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Muster ingest API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon.png",
        )


def create_api(
    settings: Settings, *, dispatcher: Dispatcher | None = None, engine: Engine | None = None
) -> FastAPI:
    """The REST API for ``settings``. ``dispatcher`` overrides the after-commit dispatcher (tests)."""
    app = FastAPI(title="Muster ingest API", version="1", description=DESCRIPTION, docs_url=None, redoc_url=None)
    serve_docs(app)
    app.state.muster = ApiContext(
        settings=settings, engine=engine or get_engine(settings), dispatcher=dispatcher
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit)  # before any body is read
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))  # last: outermost
    app.include_router(health.router)
    app.include_router(metrics.router)
    for router in (sessions.router, enrollments.router, people.router):
        app.include_router(router, responses=ERRORS)
    app.include_router(admin.router, responses=ADMIN_ERRORS)
    app.include_router(webhooks.router, responses=ADMIN_ERRORS)
    app.include_router(feed.router, responses=ADMIN_ERRORS)
    app.include_router(push.router)
    return app
