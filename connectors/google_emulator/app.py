"""Assembles the emulator's ASGI app from its modules.

Where it sits: top of ``connectors.google_emulator``; ``server.py`` serves what :func:`build_app`
returns. Every feature module is found through :data:`MODULES`, dotted names relative to this package
(``"calendar.events"``, ``"oauth.auth"``), imported with ``importlib``; a module that does not exist yet
is skipped, any other import error is raised. A module may expose:

* ``routes(world) -> list[BaseRoute]`` - Google-facing routes (Calendar, Directory, token endpoint,
  batch ...). These are wrapped by every module's ``wrap_google`` middleware.
* ``control_routes(world) -> list[BaseRoute]`` - routes that are not Google's (``/_emulator/...``
  control API, read-only pages). Never wrapped by fault/quota middleware.
* ``wrap_google(world, app: ASGIApp) -> ASGIApp`` - middleware around the Google routes only
  (``middleware/faults.py``, ``middleware/quotas.py``). Applied in :data:`MODULES` order, so the first
  listed is outermost.
* ``install(world) -> None`` - register hooks on the world (e.g. ``world.after_event_write``).
* ``shutdown(world) -> None`` - stop background threads when the server stops.

Path handling: Google clients percent-encode path parameters (``a%40x.com``, ``a%2Fb``). The outer
middleware rebuilds ``scope["path"]`` from ``raw_path`` so that each segment is decoded but a literal
``/`` or ``%`` inside a segment stays escaped (``%2F`` / ``%25``); read path parameters with
:func:`path_param`, which undoes that escaping.

Errors: handlers may raise :class:`errors.ApiError`; unknown paths answer Google's 404 envelope, a known
path with the wrong method 405 in the same envelope (``errors[].reason`` always present, reference §7.1),
and an unexpected exception answers 500 ``backendError`` (never a stack trace).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.google_emulator.errors import ApiError, google_error
from connectors.google_emulator.state import World

log = logging.getLogger(__name__)

PACKAGE = "connectors.google_emulator"

# Order matters: wrap_google middleware of earlier modules is outermost; routes are matched in order.
MODULES: tuple[str, ...] = (
    "middleware.faults",
    "middleware.quotas",
    "control.api",
    "control.pages",
    "oauth.auth",
    "oauth.openid",
    "batch",
    "directory.api",
    "datatransfer.api",
    "calendar.freebusy",
    "calendar.rooms",
    "calendar.push",
    "calendar.calendars",
    "calendar.settings",
    "calendar.acl",
    "calendar.eventlist",
    "calendar.events",
)


@dataclass
class AppOptions:
    modules: Sequence[str] = MODULES
    extra: dict[str, Any] = field(default_factory=dict)


def load_modules(names: Sequence[str]) -> list[ModuleType]:
    """Import the named modules of this package, skipping those that do not exist (yet)."""
    out: list[ModuleType] = []
    for name in names:
        full = f"{PACKAGE}.{name}"
        try:
            out.append(importlib.import_module(full))
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise
            log.debug("emulator module %s not present; skipped", full)
    return out


def path_param(request: Request, name: str) -> str:
    """A decoded path parameter (undoes the ``%2F``/``%25`` escaping of :class:`RawPathMiddleware`)."""
    value = str(request.path_params[name])
    return value.replace("%2F", "/").replace("%25", "%")


class RawPathMiddleware:
    """Rebuild ``scope['path']`` from ``raw_path`` keeping encoded slashes inside a segment escaped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("raw_path"):
            raw = scope["raw_path"].decode("latin-1").split("?", 1)[0]
            segments = [unquote(seg).replace("%", "%25").replace("/", "%2F") for seg in raw.split("/")]
            scope = dict(scope)
            scope["path"] = "/".join(segments)
        await self.app(scope, receive, send)


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
    modules = load_modules(opts.modules)
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


def shutdown_modules(world: World, names: Sequence[str] = MODULES) -> None:
    """Call every loaded module's ``shutdown(world)`` (used by ``server.py`` when stopping)."""
    for mod in load_modules(names):
        _call(mod, "shutdown", world)


__all__ = ["MODULES", "AppOptions", "Router", "build_app", "load_modules", "path_param", "shutdown_modules"]
