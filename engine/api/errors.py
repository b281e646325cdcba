"""How the ingest REST API answers when something is wrong: readable messages, never a stack trace.

Where it sits: :func:`install` is called by :func:`engine.api.app.create_api`. It turns

* request validation errors into 422 ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`` with
  messages a person can act on (pydantic's wording is rewritten per error type);
* :class:`engine.ingest.common.IngestError` into 422 (same shape), 404 or 409 (``{"detail": "..."}``);
* database trouble into 409 with ``Retry-After`` (a concurrent write won: a deadlock, a serialization
  failure or a unique key that :func:`engine.api.transaction.write` could not get past; retry) or 503
  (database unavailable; retry later, or, for a missing table or column, "run `muster db upgrade`"
  without ``Retry-After``). Contention is never reported as "unavailable".

:class:`LastResort` is an ASGI middleware that catches anything else, logs it with an incident id and
answers a JSON 500 without internals. It is a last resort: tests assert bad input never reaches it
(``app.state.unhandled_errors`` counts its uses).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.transaction import RETRY_AFTER_S, Busy, is_contention
from engine.ingest.common import IngestError
from engine.store.migrations import UPGRADE_HINT, is_schema_error
from policies.settings import SECTIONS

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_SECONDS = 5


def _field(loc: Sequence[Any]) -> str:
    """``["body", "enrollments", 0, "email"]`` → ``enrollments[0].email``."""
    text = ""
    for part in loc:
        if part in ("body", "query", "path", "header") and not text:
            continue
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "the request body"


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _settings_error(loc: list[Any], field: str, kind: str, msg: str) -> str | None:
    """Errors inside ``settings`` (the admin PATCH) speak the settings' own words: stored key names
    (not camelCase) and the known sections or keys."""
    if loc[:2] != ["body", "settings"] or len(loc) < 3:
        return None
    section = SECTIONS.get(str(loc[2]))
    if kind == "extra_forbidden":
        if len(loc) == 3 or section is None:
            return f"{loc[2]}: unknown settings section; known: {', '.join(SECTIONS)}"
        known = ", ".join(f.alias or name for name, f in section.model_fields.items())
        return f"{field}: unknown setting; known: {known}"
    if kind in ("value_error", "assertion_error"):
        return f"{field}: " + msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return None


def humanize(error: dict[str, Any]) -> str:
    """One pydantic/FastAPI error as a sentence naming the field and what to send instead."""
    kind = str(error.get("type", ""))
    loc = error.get("loc", ())
    field = _field(loc)
    ctx = error.get("ctx") or {}
    given = error.get("input")
    msg = str(error.get("msg", "invalid value"))
    if kind == "missing":
        return f"{field} is required"
    settings_error = _settings_error(list(loc), field, kind, msg)
    if settings_error is not None:
        return settings_error
    if kind == "extra_forbidden":
        return f"{field} is not a known field; remove it or check its spelling (fields are camelCase)"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        if field == "the request body":
            return "the request body must be a JSON object with the fields listed in the API docs (/docs)"
        return f"{field} must be a JSON object (got {_shown(given)})"
    if kind == "json_invalid":
        return f"the request body is not valid JSON ({ctx.get('error', 'parse error')})"
    if kind == "timezone_aware":
        return f"{field} needs a UTC offset, e.g. 2026-11-30T09:30:00+01:00 or ...Z (got {_shown(given)})"
    if kind.startswith(("datetime_", "date_")):
        return f"{field} is not an ISO 8601 date-time like 2026-11-30T09:30:00+01:00 (got {_shown(given)})"
    if kind == "enum":
        return f"{field} must be one of {ctx.get('expected', '')} (got {_shown(given)})"
    if kind == "string_too_long":
        return f"{field} is too long: at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return (
            f"{field} must not be empty"
            if ctx.get("min_length") == 1
            else f"{field} is too short: at least {ctx.get('min_length')} characters"
        )
    if kind == "too_long":
        return f"{field} has too many items: at most {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        return f"{field} contains characters that are not allowed (got {_shown(given)})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{field}: {msg[0].lower() + msg[1:]} (got {_shown(given)})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{field} must be a whole number (got {_shown(given)})"
    if kind in ("string_type", "list_type", "bool_parsing", "bool_type"):
        return f"{field}: {msg[0].lower() + msg[1:]} (got {_shown(given)})"
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{field}: {msg}"


def _detail(loc: Sequence[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": kind}


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        _detail(e.get("loc", ()), humanize(e), str(e.get("type", "value_error"))) for e in exc.errors()
    ]
    return JSONResponse({"detail": details}, status_code=422)


#: What FastAPI says when a body is not decodable at all (e.g. invalid UTF-8); reworded with the fix.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        return JSONResponse(
            {"detail": "the request body could not be read: send a JSON object encoded as UTF-8 with "
             "Content-Type: application/json"},
            status_code=400,
        )
    return await http_exception_handler(request, exc)


async def _ingest(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IngestError)
    if exc.status_code == 422:
        return JSONResponse({"detail": [_detail(exc.loc, exc.message, "value_error")]}, status_code=422)
    return JSONResponse({"detail": exc.message}, status_code=exc.status_code)


def _contended() -> JSONResponse:
    return JSONResponse(
        {
            "detail": "another request changed the same data at the same moment; nothing was "
            f"saved, retry the request (after {RETRY_AFTER_S} s)"
        },
        status_code=409,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _integrity(request: Request, exc: Exception) -> JSONResponse:
    log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return _contended()


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Busy)
    log.warning("contended write on %s %s: %s", request.method, request.url.path, exc.reason)
    return _contended()


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    if is_schema_error(exc):  # retrying cannot help: somebody must migrate the database
        log.error("database schema missing or old on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": f"{UPGRADE_HINT}; nothing was saved"}, status_code=503)
    if is_contention(exc):  # a deadlock or serialization failure outside a retried write: not an outage
        log.warning("contended request %s %s: %s", request.method, request.url.path, exc)
        return _contended()
    log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the database is unavailable; nothing was saved, retry in a few seconds"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class LastResort:
    """Answer any unhandled exception with a logged incident id and a JSON 500 (no stack trace)."""

    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            self.owner.state.unhandled_errors += 1
            log.exception("unhandled error %s on %s %s", incident, scope.get("method"), scope.get("path"))
            if started:
                raise
            response = JSONResponse(
                {
                    "detail": f"internal error (incident {incident}); it was logged, and "
                    "nothing from this request was saved"
                },
                status_code=500,
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the handlers and the last-resort middleware on ``app``."""
    app.state.unhandled_errors = 0
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(IngestError, _ingest)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(Busy, _busy)
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_exception_handler(PoolTimeout, _unavailable)
    app.add_exception_handler(DBAPIError, _unavailable)
    app.add_middleware(LastResort, owner=app)
