"""The web composition root: one ASGI app with the REST API and the admin UI.

Where it sits: ``muster serve`` runs ``admin_ui.web:create_web_app`` (uvicorn factory). The REST API
(:func:`engine.api.app.create_api`) is mounted as built by the engine; the admin pages live under
``/admin/`` with their static files under ``/admin/static/``. Sessions are signed cookies (key:
``settings.secret_key``; HttpOnly and SameSite=Lax always, ``Secure`` when ``MUSTER_BASE_URL`` is https).
Every answer carries the security headers of :mod:`engine.api.security_headers`.

Requests under ``/v1/`` go straight to the REST API app (:class:`WebApp`): it has its own error handling,
body limit and security headers, and skipping the admin UI's session cookie middleware and its hundred-odd
routes (matched one by one before the API's mount) saves a REST write about a tenth of its CPU.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal
from urllib.parse import quote

import itsdangerous
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from admin_ui.auth import CsrfFailed, LoginRequired, NotFound, PermissionDenied
from admin_ui.templating import STATIC_DIR, render
from admin_ui.views import (
    account,
    audit,
    auth,
    google_sign_in,
    health,
    integration,
    organizers,
    people,
    session_form,
    sessions,
    webhooks,
)
from engine.api.app import create_api
from engine.api.security_headers import SecurityHeaders, install_access_log_filter
from engine.settings import Settings, get_settings
from engine.store.migrations import UPGRADE_HINT, is_schema_error
from engine.store.unit_of_work import get_engine

log = logging.getLogger(__name__)


class RotatingSessionMiddleware(SessionMiddleware):
    """Starlette's signed-cookie middleware, verifying with every configured key (``MUSTER_SECRET_KEY``
    may list several, newest first) and signing with the first, so rotating the key signs nobody out."""

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str,
        secret_keys: tuple[str, ...],
        session_cookie: str,
        max_age: int,
        same_site: Literal["lax", "strict", "none"],
        https_only: bool,
    ) -> None:
        super().__init__(
            app, secret_key, session_cookie=session_cookie, max_age=max_age, same_site=same_site, https_only=https_only
        )
        self.signer = itsdangerous.TimestampSigner(list(reversed(secret_keys)))  # oldest first, signs with last


class WebApp(FastAPI):
    """The web app: the admin UI, with ``/v1/...`` handed to the REST API app directly (:attr:`api`)."""

    api: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = self.api
        if api is not None and scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await api(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


@asynccontextmanager
async def _worker_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the sync worker with the app: embedded without Redis, a Redis producer with it."""
    from engine.runtime import worker

    settings: Settings = app.state.settings
    embedded = None
    if settings.embedded_worker:
        embedded = worker.start_embedded(settings, engine=app.state.db_engine)
        app.state.tasks = embedded.tasks
    else:
        app.state.tasks = worker.producer(settings, engine=app.state.db_engine)
    try:
        yield
    finally:
        if embedded is not None:
            embedded.stop()


def create_web_app(settings: Settings | None = None, *, start_worker: bool | None = None) -> WebApp:
    """The whole web app. ``start_worker`` (default: only when settings come from the environment, i.e.
    ``muster serve``) starts the sync worker for the app's lifetime; tests pass their own settings and
    decide."""
    if start_worker is None:
        start_worker = settings is None
    if settings is None:  # `muster serve`: each web process logs in the configured format
        from engine.runtime import logs

        settings = get_settings()
        logs.configure(settings.log_format, logging.INFO)
    app = WebApp(
        title="Muster",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_worker_lifespan if start_worker else None,
    )
    app.state.tasks = None
    app.state.settings = settings
    app.state.db_engine = get_engine(settings)
    install_access_log_filter()
    app.add_middleware(
        RotatingSessionMiddleware,
        secret_keys=settings.all_secret_keys,
        secret_key=settings.secret_key,
        session_cookie="muster_admin",
        max_age=settings.session_max_hours * 3600,  # the server-side session ends first (see admin_ui.auth)
        same_site="lax",
        https_only=settings.base_url.startswith("https://"),
    )

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            target = "/admin/"
        return RedirectResponse(f"/admin/login?next={quote(target, safe='/')}", status_code=303)

    @app.exception_handler(PermissionDenied)
    async def _forbidden(request: Request, exc: PermissionDenied) -> Response:
        return render(request, "admin/errors/403.html", {"message": exc.message}, status_code=403)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return render(request, "admin/errors/404.html", {"what": exc.what}, status_code=404)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, _exc: CsrfFailed) -> Response:
        return render(
            request,
            "admin/errors/403.html",
            {"message": "The form expired or did not come from this site. Go back, reload the page and try again."},
            status_code=403,
        )

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> Response:
        if is_schema_error(exc):
            log.error("admin %s %s: database schema missing or old: %s", request.method, request.url.path, exc)
            return PlainTextResponse(f"Muster cannot serve this page: {UPGRADE_HINT}.", status_code=503)
        log.error("admin %s %s: database unavailable: %s", request.method, request.url.path, exc)
        return PlainTextResponse(
            "Muster cannot reach its database; nothing was saved. Retry in a few seconds.",
            status_code=503,
            headers={"Retry-After": "5"},
        )

    for module in (
        auth, google_sign_in, session_form, sessions, integration, organizers, people, health, audit, webhooks,
        account,
    ):
        app.include_router(module.router, prefix="/admin")
    app.include_router(account.oauth_router)
    app.mount("/admin/static", StaticFiles(directory=str(STATIC_DIR)), name="admin-static")

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/admin/", status_code=303)

    api = create_api(settings)
    app.mount("/", api)  # everything else the admin UI does not answer (/healthz, /metrics, /docs, ...)
    app.api = api
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))  # last: outermost
    return app
