"""Shared plumbing of the emulated Calendar API: endpoint wrapper, calendar resolution, parameters.

Where it sits: between ``oauth/auth.py`` (who is calling) and the Calendar modules (``calendars.py``,
``events.py``, ``push.py``; ``freebusy.py`` may use it too). :func:`endpoint` authenticates, applies the
suspended-user rule (403 ``notACalendarUser`` for every Calendar call), answers 401 for a token of a
deleted user (deletion revokes its tokens), parses the JSON body, lets pending work settle (Meet create
requests whose time has come) and serialises the handler's result (dict → 200 JSON reduced to the
``fields`` selection, see ``fields.py``; ``None`` → 204).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.google_emulator.calendar import fields
from connectors.google_emulator.errors import (
    ApiError,
    bad_request,
    forbidden_writer,
    not_a_calendar_user,
    not_found,
)
from connectors.google_emulator.oauth.auth import Caller, authenticate
from connectors.google_emulator.state import Calendar, World

Handler = Callable[[Request, Caller, Any], Awaitable[dict[str, Any] | Response | None]]
BeforeHook = Callable[[World], None]

INVALID_TOKEN = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
ROLE_RANK = {
    "none": 0,
    "freeBusyReader": 1,
    "reader": 2,
    "writerWithoutPrivateAccess": 3,
    "writer": 3,
    "owner": 4,
}


def before_hooks(world: World) -> list[BeforeHook]:
    """Callables run before every Calendar request (e.g. resolve due Meet requests)."""
    return world.before_request


def endpoint(world: World, method_id: str, fn: Handler, *, body: bool = False) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        caller = authenticate(request, world, method_id)
        if caller.user is not None and caller.user.deleted:
            # deleting an account revokes its tokens: the client refreshes and meets invalid_grant
            raise ApiError(
                401,
                "authError",
                "Invalid Credentials",
                location="Authorization",
                location_type="header",
                headers={"WWW-Authenticate": INVALID_TOKEN},
            )
        if method_id.startswith("calendar.") and caller.user is not None and caller.user.suspended:
            raise not_a_calendar_user()
        payload: Any = None
        if body:
            raw = await request.body()
            if raw.strip():
                try:
                    payload = json.loads(raw)
                except ValueError:
                    raise ApiError(400, "parseError", "Parse Error") from None
            if payload is None:
                payload = {}
            if not isinstance(payload, dict):
                raise ApiError(400, "parseError", "Parse Error")
        for hook in list(before_hooks(world)):
            hook(world)
        selection = request.query_params.get("fields")
        if selection:
            fields.parse(selection)  # a malformed selection is refused before anything is written
        result = await fn(request, caller, payload)
        if result is None:
            return Response(status_code=204)
        if isinstance(result, Response):
            return result
        return JSONResponse(fields.apply(result, selection))

    return run


def resolve_calendar(world: World, caller: Caller, calendar_id: str, *, need: str = "reader") -> Calendar:
    """The calendar ``calendar_id`` (``primary`` = caller's) if the caller has at least ``need``."""
    cid = caller.email if calendar_id == "primary" else calendar_id
    cal = world.calendar_for(cid)
    if cal is None:
        raise not_found()
    role = world.access_role(cal, caller.email)
    if ROLE_RANK[role] < ROLE_RANK["reader"]:
        raise not_found()
    if ROLE_RANK[role] < ROLE_RANK[need]:
        raise forbidden_writer()
    return cal


def q_bool(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise bad_request(f"Invalid value '{raw}' for boolean parameter {name}.", location=name)


def q_int(
    request: Request,
    name: str,
    default: int | None = None,
    *,
    lo: int | None = None,
    hi: int | None = None,
    clamp: bool = False,
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(
            f"Invalid value '{raw}'. Values must match the following regular expression: '-?\\d+'",
            location=name,
        ) from None
    if clamp and hi is not None:
        value = min(value, hi)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad_request(f"Invalid value '{raw}' for {name}.", location=name)
    return value


def parse_time(value: str, field: str) -> datetime:
    """RFC 3339 date-time with offset, or a date; returns UTC-aware. Bad → 400 naming the field."""
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_request(
            f"Bad Request: invalid {field} '{value}'", reason="badRequest", location=field
        ) from None
    if dt.tzinfo is None:
        raise bad_request(
            f"Bad Request: {field} needs a time-zone offset", reason="badRequest", location=field
        )
    return dt.astimezone(UTC)
