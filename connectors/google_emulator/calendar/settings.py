"""Calendar v3 ``settings`` (list, get) and ``colors.get`` of the emulator: what third-party clients read
before they write (gcsa's ``get_settings``, ``list_event_colors``; gcalcli's colour handling).

Where it sits: Google-facing routes under ``/calendar/v3/users/me/settings`` and ``/calendar/v3/colors``,
built on ``common.endpoint`` (auth, scopes, suspended users). Settings are the caller's, read-only here
(Google offers no write method either): the setting ids Google documents, with Google's defaults and
the user's time zone (the primary calendar's ``timeZone``). ``settings.list`` answers one page with a
``nextSyncToken``; an incremental list with it returns the settings changed since (none: nothing in the
emulator changes them), a token of another user or an earlier world → 410 ``fullSyncRequired``. Unknown
setting id → 404 ``notFound``. ``colors.get`` returns Google's fixed palettes (24 calendar colours, 11
event colours, ``updated`` a fixed instant as Google's is).
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar import sync
from connectors.google_emulator.calendar.common import endpoint
from connectors.google_emulator.errors import not_found
from connectors.google_emulator.oauth.auth import Caller
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import World, new_etag

#: Google's documented user settings and their defaults (``timezone`` is filled in per user).
DEFAULTS: dict[str, str] = {
    "autoAddHangouts": "true",
    "dateFieldOrder": "MDY",
    "defaultEventLength": "60",
    "format24HourTime": "false",
    "hideInvitations": "false",
    "hideWeekends": "false",
    "locale": "en",
    "remindOnRespondedEventsOnly": "false",
    "showDeclinedEvents": "true",
    "timezone": "UTC",
    "useKeyboardShortcuts": "true",
    "weekStart": "0",
}

_FG = "#1d1d1d"
CALENDAR_COLORS = (
    "#ac725e", "#d06b64", "#f83a22", "#fa573c", "#ff7537", "#ffad46", "#42d692", "#16a765",
    "#7bd148", "#b3dc6c", "#fbe983", "#fad165", "#92e1c0", "#9fe1e7", "#9fc6e7", "#4986e7",
    "#9a9cff", "#b99aff", "#c2c2c2", "#cabdbf", "#cca6ac", "#f691b2", "#cd74e6", "#a47ae2",
)
EVENT_COLORS = (
    "#a4bdfc", "#7ae7bf", "#dbadff", "#ff887c", "#fbd75b", "#ffb878", "#46d6db", "#e1e1e1",
    "#5484ed", "#51b749", "#dc2127",
)
COLORS_UPDATED = "2012-02-14T00:00:00.000Z"


def user_settings(world: World, email: str) -> dict[str, str]:
    values = dict(DEFAULTS)
    cal = world.calendar_for(email)
    if cal is not None:
        values["timezone"] = cal.timeZone
    return values


def _setting(world: World, key: str, value: str) -> dict[str, Any]:
    digest = hashlib.sha256(f"{world.epoch}|{key}|{value}".encode()).hexdigest()[:16]
    return {"kind": "calendar#setting", "etag": f'"{int(digest, 16)}"', "id": key, "value": value}


def colors_json() -> dict[str, Any]:
    def palette(colors: tuple[str, ...]) -> dict[str, dict[str, str]]:
        return {str(i): {"background": c, "foreground": _FG} for i, c in enumerate(colors, start=1)}

    return {"kind": "calendar#colors", "updated": COLORS_UPDATED,
            "calendar": palette(CALENDAR_COLORS), "event": palette(EVENT_COLORS)}


def routes(world: World) -> list[BaseRoute]:
    async def h_list(request: Request, caller: Caller, _: Any) -> dict[str, Any]:
        scope = f"settings:{caller.email}"
        token = request.query_params.get("syncToken")
        items = user_settings(world, caller.email)
        if token is not None:
            sync.read_sync_token(world, scope, token)
            items = {}  # nothing changes a setting in the emulator
        return {
            "kind": "calendar#settings",
            "etag": new_etag(world.now()),
            "items": [_setting(world, k, v) for k, v in items.items()],
            "nextSyncToken": sync.make_sync_token(world, scope, world.change_counter),
        }

    async def h_get(request: Request, caller: Caller, _: Any) -> dict[str, Any]:
        key = path_param(request, "setting")
        values = user_settings(world, caller.email)
        if key not in values:
            raise not_found()
        return _setting(world, key, values[key])

    async def h_colors(request: Request, caller: Caller, _: Any) -> dict[str, Any]:
        return colors_json()

    base = "/calendar/v3"
    return [
        Route(f"{base}/users/me/settings", endpoint(world, "calendar.settings.list", h_list), methods=["GET"]),
        Route(f"{base}/users/me/settings/{{setting}}", endpoint(world, "calendar.settings.get", h_get),
              methods=["GET"]),
        Route(f"{base}/colors", endpoint(world, "calendar.colors.get", h_colors), methods=["GET"]),
    ]
