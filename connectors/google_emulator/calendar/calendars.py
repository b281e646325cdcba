"""Calendar v3 ``calendars`` and ``calendarList`` resources of the emulator.

Where it sits: Google-facing routes under ``/calendar/v3/``; uses ``common.py`` for auth and access,
``state.World`` for storage. Primary calendars have the owner's e-mail as id and cannot be deleted
(403 ``cannotDeletePrimaryCalendar``); secondary ones get ``<random>@group.calendar.google.com`` ids.
A calendar's ``conferenceProperties`` lists ``hangoutsMeet`` except for a plain service account's own
calendar (reference §3.4-3.5). ``calendarList.list`` hands out ``nextSyncToken`` on its last page; the
token names a remembered snapshot of the caller's list (see :func:`_incremental`).
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar import sync
from connectors.google_emulator.calendar.common import ROLE_RANK, endpoint, q_bool, q_int, resolve_calendar
from connectors.google_emulator.errors import ApiError, bad_request, not_found, required
from connectors.google_emulator.oauth.auth import Caller
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import MEET, Calendar, World, new_etag


def calendar_json(cal: Calendar, world: World | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "calendar#calendar",
        "etag": cal.etag,
        "id": cal.id,
        "summary": cal.summary,
        "timeZone": cal.timeZone,
        "conferenceProperties": {"allowedConferenceSolutionTypes": list(cal.conference_types)},
    }
    if cal.description is not None:
        out["description"] = cal.description
    if cal.location is not None:
        out["location"] = cal.location
    if cal.is_resource:
        room = world.resources.get(cal.id) if world is not None else None
        out["autoAcceptInvitations"] = not (room is not None and room.data.get("autoAcceptInvitations") is False)
    if not cal.is_primary and not cal.is_resource:
        out["dataOwner"] = cal.owner
    return out


def list_entry(world: World, cal: Calendar, email: str) -> dict[str, Any]:
    entry = calendar_json(cal)
    entry.pop("dataOwner", None)
    entry.pop("autoAcceptInvitations", None)
    entry["kind"] = "calendar#calendarListEntry"
    entry["accessRole"] = world.access_role(cal, email)
    entry["defaultReminders"] = [{"method": "popup", "minutes": 10}] if cal.is_primary else []
    if cal.is_primary and cal.owner == email:
        entry["primary"] = True
        entry["summary"] = email
    entry["selected"] = True
    return entry


def _snapshot(world: World, caller: Caller, cals: list[Calendar]) -> str:
    """Remember the caller's list (entry → access role) and return the sync token naming it."""
    with world.lock:
        snaps: dict[int, dict[str, str]] = world.extra.setdefault("calendar_list_snapshots", {})
        number = len(snaps) + 1
        snaps[number] = {c.id: world.access_role(c, caller.email) for c in cals}
    return sync.make_sync_token(world, f"calendarList:{caller.email}", number)


def _incremental(world: World, request: Request, caller: Caller, cals: list[Calendar], token: str) -> dict[str, Any]:
    """``calendarList.list?syncToken=``: entries added or whose access changed, and removed entries as
    ``deleted: true`` (discovery: "All entries deleted and hidden since the previous list request will
    always be in the result set"). ``minAccessRole``/``showOwnOrganizationOnly`` → 400, as are
    ``showDeleted=false``/``showHidden=false``; a token of another user or an earlier world → 410."""
    qp = request.query_params
    for name in ("minAccessRole", "showOwnOrganizationOnly"):
        if name in qp:
            raise bad_request(f"The parameter {name} cannot be used together with syncToken.", location=name)
    for name in ("showDeleted", "showHidden"):
        if qp.get(name, "").lower() == "false":
            raise bad_request(f"{name}=false cannot be used together with syncToken.", location=name)
    number = sync.read_sync_token(world, f"calendarList:{caller.email}", token)
    before = world.extra.get("calendar_list_snapshots", {}).get(number)
    if before is None:
        raise sync.full_sync_required()
    items: list[dict[str, Any]] = []
    now_ids = {c.id for c in cals}
    for cal in cals:
        if before.get(cal.id) != world.access_role(cal, caller.email):
            items.append(list_entry(world, cal, caller.email))
    for gone in sorted(set(before) - now_ids):
        items.append({"kind": "calendar#calendarListEntry", "etag": new_etag(world.now()), "id": gone,
                      "deleted": True})
    return {"kind": "calendar#calendarList", "etag": new_etag(world.now()), "items": items,
            "nextSyncToken": _snapshot(world, caller, cals)}


def _apply(cal: Calendar, body: dict[str, Any], *, replace: bool) -> None:
    if replace and not body.get("summary"):
        raise required("summary")
    if "summary" in body:
        if not body["summary"]:
            raise required("summary")
        cal.summary = str(body["summary"])
    for attr in ("description", "location"):
        if attr in body or replace:
            value = body.get(attr)
            setattr(cal, attr, None if value is None else str(value))
    if body.get("timeZone"):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(body["timeZone"]))
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
            raise bad_request("Invalid time zone definition for calendar.", location="timeZone") from None
        cal.timeZone = str(body["timeZone"])


def routes(world: World) -> list[BaseRoute]:  # noqa: C901 (one closure per endpoint)
    async def get(request: Request, caller: Caller, _: Any) -> dict[str, Any]:
        return calendar_json(resolve_calendar(world, caller, path_param(request, "calendarId")), world)

    async def insert(request: Request, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("summary"):
            raise required("summary")
        with world.lock:
            cid = secrets.token_hex(26)[:52] + "@group.calendar.google.com"
            owner_cal = world.calendar_for(caller.email)
            cal = Calendar(
                id=cid,
                summary="",
                timeZone=owner_cal.timeZone if owner_cal else "UTC",
                owner=caller.email,
                conference_types=[] if caller.is_plain_sa else [MEET],
                etag=new_etag(world.now()),
            )
            _apply(cal, body, replace=False)
            world.calendars[cid] = cal
            world.events.setdefault(cid, {})
            return calendar_json(cal)

    def _write(replace: bool) -> Any:
        async def handler(request: Request, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
            with world.lock:
                cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="owner")
                _apply(cal, body, replace=replace)
                cal.etag = new_etag(world.now())
                return calendar_json(cal)

        return handler

    async def delete(request: Request, caller: Caller, _: Any) -> None:
        with world.lock:
            cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="owner")
            if cal.is_primary:
                raise ApiError(
                    403, "cannotDeletePrimaryCalendar", "Cannot delete primary calendar.", domain="calendar"
                )
            cal.deleted = True
        return None

    async def transfer_ownership(request: Request, caller: Caller, _: Any) -> None:
        """``calendars.transferOwnership``: an administrator makes another user of the organization the
        data owner of a secondary calendar (discovery: admin access only, ``useAdminAccess=true``; active
        secondary calendars only). The previous owner keeps no access unless an ACL rule gives it."""
        qp = request.query_params
        if q_bool(request, "useAdminAccess") is not True:
            raise bad_request("This method only supports admin access: set useAdminAccess=true.",
                              location="useAdminAccess")
        new_owner = str(qp.get("newDataOwner") or "").lower()
        if not new_owner:
            raise required("newDataOwner")
        with world.lock:
            admin = world.find_user(caller.email)
            cal = world.calendar_for(path_param(request, "calendarId"))
            if admin is None or not admin.isAdmin or caller.is_plain_sa:
                raise ApiError(403, "forbidden", "Administrator privileges (Manage Calendars) are required.")
            if cal is None or cal.deleted or cal.owner.rsplit("@", 1)[-1] not in world.domains:
                raise not_found()
            if cal.is_primary or cal.is_resource:
                raise bad_request("Only secondary calendars can be transferred.", location="calendarId")
            target = world.find_user(new_owner)
            if target is None or target.deleted or target.suspended or target.domain not in world.domains:
                raise bad_request(f"{new_owner} is not an active user of the organization.", location="newDataOwner")
            if target.email == cal.owner:
                raise bad_request(f"{new_owner} already owns this calendar.", location="newDataOwner")
            cal.acl.pop(target.email, None)
            cal.owner = target.email
            cal.etag = new_etag(world.now())
        return None

    async def clear(request: Request, caller: Caller, _: Any) -> None:
        with world.lock:
            cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="owner")
            if not cal.is_primary:
                raise bad_request("Only primary calendars can be cleared.")
            for stored in world.events.get(cal.id, {}).values():
                if not stored.deleted:
                    stored.deleted = True
                    stored.data["status"] = "cancelled"
                    world.record_event_write(stored)
        world.fire_change(cal.id, None)
        return None

    def _visible(caller: Caller) -> list[Calendar]:
        with world.lock:
            cals = [c for c in world.calendars.values() if not c.deleted]
            return [
                c
                for c in cals
                if ROLE_RANK[world.access_role(c, caller.email)] >= ROLE_RANK["reader"]
                and (c.owner == caller.email or caller.email in c.acl)
            ]

    async def cl_list(request: Request, caller: Caller, _: Any) -> dict[str, Any]:
        max_results = q_int(request, "maxResults", 100, lo=1, hi=250, clamp=True) or 100
        min_role = request.query_params.get("minAccessRole")
        q_bool(request, "showDeleted")
        q_bool(request, "showHidden")
        cals = sorted(_visible(caller), key=lambda c: (not c.is_primary, c.id))
        token = request.query_params.get("syncToken")
        if token is not None:
            return _incremental(world, request, caller, cals, token)
        if min_role:
            if min_role not in ROLE_RANK:
                raise bad_request(f"Invalid value for minAccessRole: {min_role}", location="minAccessRole")
            cals = [c for c in cals if ROLE_RANK[world.access_role(c, caller.email)] >= ROLE_RANK[min_role]]
        start = 0
        token = request.query_params.get("pageToken")
        if token:
            try:
                start = int(token.removeprefix("p"))
            except ValueError:
                raise bad_request("Invalid page token value.", location="pageToken") from None
        page = cals[start : start + max_results]
        out: dict[str, Any] = {
            "kind": "calendar#calendarList",
            "etag": new_etag(world.now()),
            "items": [list_entry(world, c, caller.email) for c in page],
        }
        if start + max_results < len(cals):
            out["nextPageToken"] = f"p{start + max_results}"
        elif not min_role and request.query_params.get("showOwnOrganizationOnly") is None:
            out["nextSyncToken"] = _snapshot(world, caller, cals)
        return out

    async def cl_get(request: Request, caller: Caller, _: Any) -> dict[str, Any]:
        cid = path_param(request, "calendarId")
        cal = resolve_calendar(world, caller, cid)
        if cal not in _visible(caller):
            raise not_found()
        return list_entry(world, cal, caller.email)

    base = "/calendar/v3"
    return [
        Route(
            f"{base}/calendars",
            endpoint(world, "calendar.calendars.insert", insert, body=True),
            methods=["POST"],
        ),
        Route(
            f"{base}/calendars/{{calendarId}}",
            endpoint(world, "calendar.calendars.get", get),
            methods=["GET"],
        ),
        Route(
            f"{base}/calendars/{{calendarId}}",
            endpoint(world, "calendar.calendars.patch", _write(False), body=True),
            methods=["PATCH"],
        ),
        Route(
            f"{base}/calendars/{{calendarId}}",
            endpoint(world, "calendar.calendars.update", _write(True), body=True),
            methods=["PUT"],
        ),
        Route(
            f"{base}/calendars/{{calendarId}}",
            endpoint(world, "calendar.calendars.delete", delete),
            methods=["DELETE"],
        ),
        Route(
            f"{base}/calendars/{{calendarId}}/transferOwnership",
            endpoint(world, "calendar.calendars.transferOwnership", transfer_ownership),
            methods=["POST"],
        ),
        Route(
            f"{base}/calendars/{{calendarId}}/clear",
            endpoint(world, "calendar.calendars.clear", clear),
            methods=["POST"],
        ),
        Route(
            f"{base}/users/me/calendarList",
            endpoint(world, "calendar.calendarList.list", cl_list),
            methods=["GET"],
        ),
        Route(
            f"{base}/users/me/calendarList/{{calendarId}}",
            endpoint(world, "calendar.calendarList.get", cl_get),
            methods=["GET"],
        ),
    ]
