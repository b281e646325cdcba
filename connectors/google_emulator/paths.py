"""Path parameters as Google clients encode them: each segment decoded, a ``/`` or ``%`` inside one kept escaped.

Where it sits: ``connectors.google_emulator``, below every route module. Google clients percent-encode path
parameters (``a%40x.com``, ``a%2Fb``). :class:`RawPathMiddleware` (outermost, installed by
:func:`connectors.google_emulator.app.build_app`) rebuilds ``scope["path"]`` from ``raw_path`` so that each
segment is decoded but a literal ``/`` or ``%`` inside a segment stays escaped (``%2F`` / ``%25``); route
modules read path parameters with :func:`path_param`, which undoes that escaping.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send


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
