"""Security headers on every answer, and an access log that never records an OAuth callback's secrets.

Where it sits: ASGI middleware added by :func:`admin_ui.web.create_web_app` (outermost, so admin pages,
static files, error pages and the mounted REST API all get it) and by :func:`engine.api.app.create_api`
for the API served on its own. Headers are set, not appended, so the two never double up.

* ``Content-Security-Policy``: ``default-src 'self'`` (the admin UI has no inline script or style), no
  framing (``frame-ancestors 'none'``), no plugins, no ``<base>``. No ``form-action``: "Connect Google" is a
  form whose answer redirects to Google's consent page, and browsers apply ``form-action`` to that
  redirect. The interactive API docs (``/docs``) load Swagger UI from Muster's own ``/docs/static``
  files and start it with an inline script, so that one page allows exactly that.
* ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
  ``Cross-Origin-Opener-Policy: same-origin``, and ``Strict-Transport-Security`` when ``MUSTER_BASE_URL``
  is https.

:class:`RedactCallbackQuery` is a logging filter for uvicorn's access log: a request to a path ending in
``/callback`` (Google's OAuth answers carry ``code`` and ``state``) is logged without its query string.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
#: Swagger UI (/docs): Muster serves its files itself (no CDN); only its inline start-up script is extra.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


def headers_for(path: str, *, https: bool) -> dict[str, str]:
    found = {
        "Content-Security-Policy": DOCS_CSP if path in ("/docs", "/docs/oauth2-redirect") else CSP,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if https:
        found["Strict-Transport-Security"] = HSTS
    return found


class SecurityHeaders:
    """Pure ASGI middleware (it does not buffer bodies, so streaming answers stay streaming)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(str(scope.get("path", "")), https=self.https)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RedactCallbackQuery(logging.Filter):
    """Drop the query string of ``.../callback`` requests from uvicorn access log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, _query = args[2].partition("?")
            if sep and path.rstrip("/").endswith("/callback"):
                record.args = (*args[:2], path + "?[redacted]", *args[3:])
        return True


def install_access_log_filter() -> None:
    """Add :class:`RedactCallbackQuery` to uvicorn's access logger once per process."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactCallbackQuery) for f in logger.filters):
        logger.addFilter(RedactCallbackQuery())
