"""Assembles the emulator's ASGI app from its modules.

Where it sits: top of ``connectors.google_emulator``; ``server.py`` serves what :func:`build_app`
returns. Every feature module is listed, imported plainly, in :data:`MODULES`. A module may expose:

* ``routes(world) -> list[BaseRoute]`` - Google-facing routes (Calendar, Directory, token endpoint,
  batch ...). These are wrapped by every module's ``wrap_google`` middleware.
* ``control_routes(world) -> list[BaseRoute]`` - routes that are not Google's (``/_emulator/...``
  control API, read-only pages). Never wrapped by fault/quota middleware.
* ``wrap_google(world, app: ASGIApp) -> ASGIApp`` - middleware around the Google routes only
  (``middleware/faults.py``, ``middleware/quotas.py``). Applied in :data:`MODULES` order, so the first
  listed is outermost.
* ``install(world) -> None`` - register hooks on the world (e.g. ``world.after_event_write``).
* ``shutdown(world) -> None`` - stop background threads when the server stops.

Path handling: :mod:`connectors.google_emulator.paths` (``RawPathMiddleware`` outermost; route modules read
path parameters with ``path_param`` from there, never from this module, which imports them).

Errors: handlers may raise :class:`errors.ApiError`; unknown paths answer Google's 404 envelope, a known
path with the wrong method 405 in the same envelope (``errors[].reason`` always present, reference §7.1),
and an unexpected exception answers 500 ``backendError`` (never a stack trace).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.google_emulator import batch
from connectors.google_emulator.calendar import acl, calendars, eventlist, events, freebusy, push, rooms
from connectors.google_emulator.calendar import settings as calendar_settings
from connectors.google_emulator.control import api as control_api
from connectors.google_emulator.control import pages as control_pages
from connectors.google_emulator.datatransfer import api as datatransfer_api
from connectors.google_emulator.directory import api as directory_api
from connectors.google_emulator.errors import ApiError, google_error
from connectors.google_emulator.middleware import faults, quotas
from connectors.google_emulator.oauth import auth as oauth_auth
from connectors.google_emulator.oauth import openid as oauth_openid
from connectors.google_emulator.paths import RawPathMiddleware, path_param
from connectors.google_emulator.state import World

log = logging.getLogger(__name__)

# Order matters: wrap_google middleware of earlier modules is outermost; routes are matched in order.
MODULES: tuple[ModuleType, ...] = (
    faults,
    quotas,
    control_api,
    control_pages,
    oauth_auth,
    oauth_openid,
    batch,
    directory_api,
    datatransfer_api,
    freebusy,
    rooms,
    push,
    calendars,
    calendar_settings,
    acl,
    eventlist,
    events,
)


@dataclass
class AppOptions:
    modules: Sequence[ModuleType] = MODULES
    extra: dict[str, Any] = field(default_factory=dict)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors (405 wrong method on a known path ...) in Google's envelope."""
    assert isinstance(exc, HTTPException)
    reason = {405: "httpMethodNotAllowed"}.get(exc.status_code, "badRequest")
    message = {405: "Method Not Allowed"}.get(exc.status_code, str(exc.detail))
    return google_error(exc.status_code, reason, message)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("emulator handler failed: %s %s", request.method, request.url.path)
    return google_error(500, "backendError", "Backend Error")


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope.get("path", "")
    response = google_error(
        404,
        "notFound",
        "Not Found"
        if path.startswith(("/calendar", "/admin"))
        else f"The requested URL {path} was not found on this server.",
    )
    await response(scope, receive, send)


def _call(mod: ModuleType, attr: str, *args: Any) -> Any:
    fn: Callable[..., Any] | None = getattr(mod, attr, None)
    return fn(*args) if fn is not None else None


def build_app(world: World, *, options: AppOptions | None = None) -> ASGIApp:
    """The emulator's ASGI app: control routes unwrapped, Google routes wrapped by module middleware."""
    opts = options or AppOptions()
    modules = list(opts.modules)
    google_routes: list[BaseRoute] = []
    control: list[BaseRoute] = []
    for mod in modules:
        _call(mod, "install", world)
        google_routes.extend(_call(mod, "routes", world) or [])
        control.extend(_call(mod, "control_routes", world) or [])

    handlers: dict[Any, Callable[..., Any]] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
    google_app: ASGIApp = Starlette(routes=google_routes, exception_handlers=handlers)
    google_app.router.default = _not_found  # type: ignore[attr-defined]
    for mod in reversed(modules):
        wrapped = _call(mod, "wrap_google", world, google_app)
        if wrapped is not None:
            google_app = wrapped

    @contextlib.asynccontextmanager
    async def _lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for mod in modules:
            _call(mod, "shutdown", world)

    outer = Starlette(
        routes=[*control, Route("/{rest:path}", _forward(google_app))],
        exception_handlers=handlers,
        lifespan=_lifespan,
    )
    outer.state.world = world
    outer.state.modules = [m.__name__ for m in modules]
    return RawPathMiddleware(outer)


def _forward(app: ASGIApp) -> Any:
    """An endpoint that hands the request to the (middleware-wrapped) Google app unchanged."""

    class _Forward:
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope, receive, send)

    return _Forward()


def shutdown_modules(world: World, modules: Sequence[ModuleType] = MODULES) -> None:
    """Call every module's ``shutdown(world)`` (used by ``server.py`` when stopping)."""
    for mod in modules:
        _call(mod, "shutdown", world)


__all__ = ["MODULES", "AppOptions", "RawPathMiddleware", "Router", "build_app", "path_param", "shutdown_modules"]
