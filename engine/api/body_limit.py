"""A request body size limit for the ingest REST API: 413 with a JSON body before the app reads anything.

Where it sits: pure ASGI middleware added by :func:`engine.api.app.create_api` outside every other
middleware of the API app. A declared ``Content-Length`` above the limit is refused at once; a body
without one (``Transfer-Encoding: chunked``) is counted while it streams in and refused as soon as it
passes the limit, so an oversized body is never held in memory whole. A body within the limit is
buffered (at most the limit) and replayed to the app unchanged.

The answer has the API's error shape: ``{"detail": "..."}`` naming the limit and what to do.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Largest request body the REST API accepts, in bytes (1 MiB). A bulk enrollment of 200 attendees is
#: about 20 KB of JSON, so this leaves ample room while stopping a client from streaming gigabytes.
MAX_BODY_BYTES = 1024 * 1024


def _too_large_body(limit: int) -> bytes:
    size = f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
    detail = f"the request body is larger than the limit of {size} ({limit} bytes); send fewer items per request"
    return json.dumps({"detail": detail}).encode()


class BodySizeLimit:
    """Answer 413 to requests whose body exceeds ``max_bytes``; pass everything else through unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        body = _too_large_body(self.max_bytes)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0  # malformed: the server rejects it; the streaming count still applies
                if declared > self.max_bytes:
                    await self._reject(send)
                    return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                replay = [message]
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
                break

        async def replaying_receive() -> Message:
            if replay:
                return replay.pop(0)
            return await receive()

        await self.app(scope, replaying_receive, send)
