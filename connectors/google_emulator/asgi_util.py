"""Small ASGI helpers shared by the emulator's middleware (faults, quotas) and the batch endpoint.

Sits below the Starlette routes: these functions speak raw ASGI so the middleware can answer a request
with one of Google's error envelopes without building a Starlette app, and can tell Google routes from
the emulator's own ``/_emulator/`` control surface.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from connectors.google_emulator.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONTROL_PREFIX = "/_emulator"

def is_google_route(scope: Scope) -> bool:
    """True for paths that imitate Google (API, batch, token), false for the emulator's own pages."""
    path: str = scope.get("path", "")
    return scope.get("type") == "http" and not (
        path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")
    )


async def send_json(
    send: Send, status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    raw_headers = [
        (b"content-type", b"application/json; charset=UTF-8"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, status: int, reason: str, message: str, domain: str = "global") -> None:
    await send_json(send, status, error_body(status, reason, message, domain))


def header(scope: Scope, name: str) -> str | None:
    wanted = name.lower().encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return None


def bearer_token(scope: Scope) -> str | None:
    value = header(scope, "authorization")
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None
