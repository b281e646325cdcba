"""Calendar ``freebusy.query`` of the emulator: ``POST /calendar/v3/freeBusy``.

Where it sits: a Google-facing Calendar route built on ``common.endpoint`` (auth, scopes, suspended
users) and ``busy.py`` (occurrences in a window). Behaviour per the reference §4.3: per-calendar
failures live inside a 200 (``errors: [{domain: "global", reason: "notFound"}]`` with ``busy: []``);
busy intervals are merged and clipped to the window; transparent, declined and cancelled events do
not block time; ``timeMax`` must be after ``timeMin`` (400 ``timeRangeEmpty``).

Stricter choices: ``calendarExpansionMax`` above 50 (or ``groupExpansionMax`` above 100) is a 400
naming the field, and calendars beyond the expansion limit answer ``tooManyCalendarsRequested``; a
calendar the caller may not see even as free/busy reader answers ``notFound`` (Google does not reveal
existence); groups are not modelled, so a group address answers ``notFound`` too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar import busy
from connectors.google_emulator.calendar.common import ROLE_RANK, endpoint, parse_time
from connectors.google_emulator.errors import ApiError, bad_request, required
from connectors.google_emulator.oauth.auth import Caller
from connectors.google_emulator.state import World, rfc3339

MAX_CALENDARS = 50
MAX_GROUP = 100


def _int_field(body: dict[str, Any], name: str, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"Invalid value for {name}: must be an integer.", location=name)
    if not 1 <= value <= high:
        raise bad_request(f"Invalid value for {name}: must be between 1 and {high}.", location=name)
    return value


def _zulu(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def busy_for(world: World, calendar_id: str, t_min: datetime, t_max: datetime) -> list[dict[str, str]]:
    """Merged busy periods of a calendar within ``[t_min, t_max)``. Call holding ``world.lock``."""
    intervals: list[tuple[datetime, datetime]] = []
    for piece in busy.pieces(world, calendar_id, t_min, t_max):
        if piece.data.get("transparency") == "transparent":
            continue
        if piece.response == "declined":
            continue
        intervals.append((max(piece.start, t_min), min(piece.end, t_max)))
    return [{"start": _zulu(s), "end": _zulu(e)} for s, e in busy.merge(intervals) if e > s]


def query(world: World, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    for name in ("timeMin", "timeMax"):
        if not body.get(name):
            raise required(name, f"Missing {name}.")
        if not isinstance(body[name], str):
            raise bad_request(f"Invalid value for {name}.", location=name)
    t_min, t_max = parse_time(body["timeMin"], "timeMin"), parse_time(body["timeMax"], "timeMax")
    if t_max <= t_min:
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar",
                       location="timeMax", location_type="parameter")
    tz = body.get("timeZone")
    if tz is not None:
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
            raise bad_request(f"Invalid time zone: {tz}", location="timeZone") from None
    limit = _int_field(body, "calendarExpansionMax", MAX_CALENDARS) or MAX_CALENDARS
    _int_field(body, "groupExpansionMax", MAX_GROUP)
    items = body.get("items", [])
    if not isinstance(items, list):
        raise bad_request("Invalid value for items: must be a list of {id}.", location="items")
    calendars: dict[str, Any] = {}
    with world.lock:
        for index, item in enumerate(items):
            cid = item.get("id") if isinstance(item, dict) else None
            if not isinstance(cid, str) or not cid:
                raise required(f"items[{index}].id", "Missing calendar id in items.")
            if index >= limit:
                calendars[cid] = {"busy": [], "errors": [{"domain": "global",
                                                          "reason": "tooManyCalendarsRequested"}]}
                continue
            real = caller.email if cid == "primary" else cid.lower()
            cal = world.calendar_for(real)
            owner = world.find_user(cal.owner) if cal is not None else None
            role = world.access_role(cal, caller.email) if cal is not None else "none"
            visible = (cal is not None and ROLE_RANK.get(role, 0) >= ROLE_RANK["freeBusyReader"]
                       and not (owner is not None and (owner.deleted or owner.suspended)))
            if cal is None or not visible:
                calendars[cid] = {"busy": [], "errors": [{"domain": "global", "reason": "notFound"}]}
                continue
            calendars[cid] = {"busy": busy_for(world, cal.id, t_min, t_max)}
    return {"kind": "calendar#freeBusy", "timeMin": rfc3339(t_min), "timeMax": rfc3339(t_max),
            "calendars": calendars}


def routes(world: World) -> list[BaseRoute]:
    async def handler(request: Request, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        return query(world, caller, body)

    return [Route("/calendar/v3/freeBusy", endpoint(world, "calendar.freebusy.query", handler, body=True),
                  methods=["POST"])]
