"""The ingest REST API application factory.

Where it sits: :func:`create_api` is the API's composition root. The web composition root
(``admin_ui.web.create_web_app``) mounts or extends the app it returns; tests call it directly with an
engine and a recording dispatcher. OpenAPI lives at ``/openapi.json``, the interactive docs at ``/docs``.

Data flow of a write: route → :mod:`engine.ingest.sessions` (no commit) → ``UnitOfWork.commit()`` → the dispatcher
(:func:`engine.store.unit_of_work.set_dispatcher`, installed by the task layer; or the one given here) receives the
session ids → a reconcile of each session.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from engine.api import errors
from engine.api.body_limit import BodySizeLimit
from engine.api.deps import ApiContext
from engine.api.routes import admin, enrollments, health, people, sessions
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


def create_api(
    settings: Settings, *, dispatcher: Dispatcher | None = None, engine: Engine | None = None
) -> FastAPI:
    """The REST API for ``settings``. ``dispatcher`` overrides the after-commit dispatcher (tests)."""
    app = FastAPI(
        title="Muster ingest API", version="1", description=DESCRIPTION, docs_url="/docs", redoc_url=None
    )
    app.state.muster = ApiContext(
        settings=settings, engine=engine or get_engine(settings), dispatcher=dispatcher
    )
    errors.install(app)
    app.add_middleware(BodySizeLimit)  # before any body is read
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))  # last: outermost
    app.include_router(health.router)
    app.include_router(sessions.router)
    app.include_router(enrollments.router)
    app.include_router(people.router)
    app.include_router(admin.router)
    return app
