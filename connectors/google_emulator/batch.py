"""HTTP batch endpoints: ``POST /batch/calendar/v3`` (Calendar) and ``POST /batch`` (Admin SDK).

Where it sits: a Google route of the emulator. It parses the ``multipart/mixed`` body exactly as
google-api-python-client writes it (reference §1.7: quoted boundary, LF-only lines, one
``application/http`` part per call with its own ``Content-ID`` and ``Authorization``), then dispatches
each part in request order through the same in-process ASGI stack as a normal request — so auth, fault
injection and quotas apply per part, and a batch of n calls counts as n requests. Outer headers other
than ``Content-*`` apply to every part unless the part sets them. The answer carries one part per call,
in request order, with ``Content-ID: <response-…>`` and ``\\r\\n\\r\\n`` between inner headers and body
(without those the Python client crashes).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.routing import BaseRoute, Route

from connectors.google_emulator.asgi_util import Message, Receive, Scope, Send, send_error
from connectors.google_emulator.errors import error_body
from connectors.google_emulator.middleware.faults import AppliedButLost, drop_connection
from connectors.google_emulator.state import World

MAX_PARTS = 1000
_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


class BatchFormatError(ValueError):
    """The batch body is not the multipart/mixed format Google accepts."""


@dataclass
class PartRequest:
    content_id: str | None
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class PartResponse:
    status: int = 500
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def _split_head(block: bytes) -> tuple[list[str], bytes]:
    """Header lines and the rest of a block whose head ends at the first blank line (LF or CRLF)."""
    match = re.search(rb"\r?\n\r?\n", block)
    if match is None:
        return [ln for ln in block.decode("utf-8", "replace").splitlines() if ln], b""
    head = block[: match.start()].decode("utf-8", "replace")
    return [ln for ln in head.splitlines() if ln], block[match.end() :]


def _header_pairs(lines: list[str]) -> list[tuple[str, str]]:
    """Header lines to pairs; a line starting with blank space continues the previous header (RFC 5322
    folding, which Python's email generator applies to long ``Content-ID`` values)."""
    pairs: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and pairs:
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            name, _, value = line.partition(":")
            pairs.append((name.strip(), value.strip()))
    return pairs


def boundary_of(content_type: str) -> str:
    if not content_type.lower().startswith("multipart/mixed"):
        raise BatchFormatError("the batch Content-Type must be multipart/mixed")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise BatchFormatError("the multipart/mixed Content-Type has no boundary")
    return match.group(1) or match.group(2)


def parse_batch(content_type: str, body: bytes) -> list[PartRequest]:
    """Split a batch request body into its inner HTTP requests (accepts LF and CRLF line ends)."""
    delimiter = b"--" + boundary_of(content_type).encode()
    chunks = re.split(rb"(?:^|\r?\n)" + re.escape(delimiter), body)
    parts: list[PartRequest] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # closing delimiter
        chunk = re.sub(rb"^[ \t]*\r?\n", b"", chunk, count=1)
        mime_lines, inner = _split_head(chunk)
        mime = {k.lower(): v for k, v in _header_pairs(mime_lines)}
        if not mime.get("content-type", "application/http").lower().startswith("application/http"):
            raise BatchFormatError("every batch part must have Content-Type: application/http")
        lines, inner_body = _split_head(inner)
        if not lines:
            raise BatchFormatError("a batch part has no request line")
        request_line = lines[0].split()
        if len(request_line) < 2:
            raise BatchFormatError(f"bad request line in a batch part: {lines[0]!r}")
        headers = _header_pairs(lines[1:])
        length = next((v for k, v in headers if k.lower() == "content-length"), None)
        if length is not None and length.isdigit():
            inner_body = inner_body[: int(length)]
        else:
            inner_body = inner_body.rstrip(b"\r\n")
        cid = mime.get("content-id")
        parts.append(PartRequest(cid.strip() if cid else None, request_line[0].upper(), request_line[1],
                                 headers, inner_body))
    if not parts and delimiter not in body:
        raise BatchFormatError("the body does not contain the boundary given in Content-Type")
    return parts


def response_content_id(request_cid: str | None, index: int) -> str:
    inner = (request_cid or f"<part + {index + 1}>").strip()
    if inner.startswith("<") and inner.endswith(">"):
        inner = inner[1:-1]
    return f"<response-{inner}>"


def render_batch(parts: list[tuple[str, PartResponse]], boundary: str) -> bytes:
    """The multipart/mixed answer: CRLF everywhere, ``\\r\\n\\r\\n`` after the inner headers."""
    out: list[bytes] = []
    for content_id, resp in parts:
        reason = HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {resp.status} {reason}"]
        for name, value in resp.headers:
            if name.lower() in ("content-type", "etag", "www-authenticate", "retry-after"):
                lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(resp.body)}")
        inner = ("\r\n".join(lines) + "\r\n\r\n").encode() + resp.body
        out.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {content_id}\r\n\r\n".encode()
            + inner
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _part_scope(outer: Scope, part: PartRequest) -> Scope:
    target = urlsplit(part.target)
    raw_path = target.path or "/"
    segments = [unquote(seg).replace("%", "%25").replace("/", "%2F") for seg in raw_path.split("/")]
    inherited = {
        k.decode("latin-1").lower(): v.decode("latin-1")
        for k, v in outer.get("headers", [])
        if not k.decode("latin-1").lower().startswith("content-")
    }
    merged: dict[str, str] = dict(inherited)
    for name, value in part.headers:
        merged[name.lower()] = value
    merged["content-length"] = str(len(part.body))
    merged.pop("transfer-encoding", None)
    scope: Scope = {
        "type": "http",
        "asgi": outer.get("asgi", {"version": "3.0"}),
        "http_version": "1.1",
        "method": part.method,
        "scheme": outer.get("scheme", "http"),
        "server": outer.get("server"),
        "client": outer.get("client"),
        "root_path": "",
        "path": "/".join(segments),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": target.query.encode("latin-1"),
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in merged.items()],
        "emulator.batch_part": True,
        "emulator.dispatch": outer.get("emulator.dispatch"),
    }
    return scope


async def run_part(app: Any, outer: Scope, part: PartRequest) -> PartResponse:
    result = PartResponse()
    chunks: list[bytes] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": part.body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            result.status = int(message["status"])
            result.headers = [(bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                              for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(_part_scope(outer, part), receive, send)
    result.body = b"".join(chunks)
    if result.status == 204:
        result.body = b""
    return result


def _api_prefix(path: str) -> str:
    return "/calendar/v3/" if path.startswith("/batch/calendar/v3") else "/admin/"


class BatchEndpoint:
    """Raw ASGI endpoint (it needs the connection to drop a batch whose answer is 'lost')."""

    def __init__(self, world: World) -> None:
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await send_error(send, 405, "httpMethodNotAllowed", "Batch requests must use POST.")
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += bytes(message.get("body", b""))
            more = bool(message.get("more_body"))
        content_type = next((bytes(v).decode("latin-1") for k, v in scope.get("headers", [])
                             if bytes(k).lower() == b"content-type"), "")
        try:
            parts = parse_batch(content_type, body)
        except BatchFormatError as exc:
            await send_error(send, 400, "badRequest", f"Invalid batch request: {exc}.")
            return
        if not parts:
            await send_error(send, 400, "badRequest", "Invalid batch request: the batch has no parts.")
            return
        if len(parts) > MAX_PARTS:
            await send_error(send, 400, "badRequest",
                             f"A batch request cannot contain more than {MAX_PARTS} requests "
                             f"(this one has {len(parts)}).")
            return
        dispatch = scope.get("emulator.dispatch") or scope.get("app")
        prefix = _api_prefix(scope["path"])
        answers: list[tuple[str, PartResponse]] = []
        lost = False
        for index, part in enumerate(parts):
            cid = response_content_id(part.content_id, index)
            path = urlsplit(part.target).path
            if not path.startswith(prefix):
                refusal = f"A batch to this endpoint may only contain {prefix} calls."
                answers.append((cid, _error_part(400, "badRequest", refusal)))
                continue
            try:
                answers.append((cid, await run_part(dispatch, scope, part)))
            except AppliedButLost:
                lost = True
                answers.append((cid, _error_part(500, "backendError", "Backend Error")))
        if lost and await drop_connection(receive):
            return
        boundary = "batch_" + secrets.token_hex(12)
        payload = render_batch(answers, boundary)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", f"multipart/mixed; boundary={boundary}".encode()),
            (b"content-length", str(len(payload)).encode()),
        ]})
        await send({"type": "http.response.body", "body": payload})


def _error_part(status: int, reason: str, message: str) -> PartResponse:
    body = json.dumps(error_body(status, reason, message)).encode()
    return PartResponse(status, [("Content-Type", "application/json; charset=UTF-8")], body)


def routes(world: World) -> list[BaseRoute]:
    endpoint = BatchEndpoint(world)
    return [
        Route("/batch/calendar/v3", endpoint, methods=["POST"]),
        Route("/batch", endpoint, methods=["POST"]),
        Route("/batch/admin/{api}", endpoint, methods=["POST"]),
    ]
