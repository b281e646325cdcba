"""Admin SDK Data Transfer API of the emulator: ``transfers`` insert/get/list, ``applications`` list/get.

Where it sits: Google-facing routes under ``/admin/datatransfer/v1/``; an administrator (or a service
account impersonating one) moves a leaving user's calendar to a new owner. The Calendar application
(id ``435070579839``, parameter ``RELEASE_RESOURCES``) applies Google's documented limits (reference
§5.3): only events that are in the future, not private, have at least one guest or resource and are
in the old owner's primary calendar move — to the new owner's primary calendar, same id, new organizer,
leaving a cancelled copy behind as ``events.move`` does. With ``RELEASE_RESOURCES=TRUE`` the rooms of
those events are released (removed from the attendees). When no event qualifies, an empty secondary
calendar is created for the new owner, as Google documents.

The insert answer says ``inProgress``; the work runs ``transfer_delay_s`` later (control API option,
default 0.05 s) and ``transfers.get`` then reports ``completed`` — clients must poll, as with Google.
Stricter choices: a recurring series moves whole when it still has a future instance; ``private`` and
``confidential`` visibility both count as private; a suspended or deleted new owner is a 400 naming
``newOwnerUserId``; Drive transfers are accepted and complete with nothing to move (no Drive here).
"""

from __future__ import annotations

import copy
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar import busy, eventmodel
from connectors.google_emulator.directory.api import int_param, list_etag, page, require_admin
from connectors.google_emulator.errors import ApiError
from connectors.google_emulator.oauth.auth import authenticate
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import Calendar, StoredEvent, User, World, rfc3339

BASE = "/admin/datatransfer/v1"
CALENDAR_APP = "435070579839"
DRIVE_APP = "55656082996"
APPLICATIONS: dict[str, dict[str, Any]] = {
    CALENDAR_APP: {"kind": "admin#datatransfer#ApplicationResource", "id": CALENDAR_APP, "name": "Calendar",
                   "transferParams": [{"key": "RELEASE_RESOURCES", "value": ["TRUE"]}]},
    DRIVE_APP: {"kind": "admin#datatransfer#ApplicationResource", "id": DRIVE_APP, "name": "Drive and Docs",
                "transferParams": [{"key": "PRIVACY_LEVEL", "value": ["PRIVATE", "SHARED"]}]},
}
ALLOWED_PARAMS = {CALENDAR_APP: {"RELEASE_RESOURCES": {"TRUE"}},
                  DRIVE_APP: {"PRIVACY_LEVEL": {"PRIVATE", "SHARED"}}}
TRANSFERS = "data_transfers"  # world.extra key: id → {"json": DataTransfer, "customer": id}
DEFAULT_DELAY_S = 0.05


def invalid(message: str, location: str) -> ApiError:
    return ApiError(400, "invalid", message, location=location, location_type="parameter")


def _etag(obj: Any) -> str:
    return list_etag([repr(obj)])


def _application(app_id: str) -> dict[str, Any]:
    out = copy.deepcopy(APPLICATIONS[app_id])
    out["etag"] = _etag(out)
    return out


def _user_by_id(world: World, raw: Any, field: str, customer: str) -> User:
    if not isinstance(raw, str) or not raw.isdigit():
        raise invalid(f"Invalid value for {field}: must be a Directory user id (digits).", field)
    user = world.user_by_id(raw)
    dom = world.domains.get(user.domain) if user is not None else None
    if user is None or dom is None or dom.customer_id != customer or user.deleted:
        raise invalid(f"Invalid value for {field}: no such user in this customer.", field)
    return user


def _parse_apps(body: dict[str, Any]) -> list[dict[str, Any]]:
    apps = body.get("applicationDataTransfers")
    if not isinstance(apps, list) or not apps:
        raise invalid("applicationDataTransfers must list at least one application.",
                      "applicationDataTransfers")
    out = []
    for i, app in enumerate(apps):
        where = f"applicationDataTransfers[{i}]"
        if not isinstance(app, dict):
            raise invalid(f"{where} must be an object.", where)
        app_id = str(app.get("applicationId", ""))
        if app_id not in APPLICATIONS:
            raise invalid(f"Unknown applicationId '{app_id}' (Calendar is {CALENDAR_APP}).",
                          f"{where}.applicationId")
        params = app.get("applicationTransferParams") or []
        if not isinstance(params, list):
            raise invalid(f"{where}.applicationTransferParams must be a list.",
                          f"{where}.applicationTransferParams")
        clean = []
        for j, param in enumerate(params):
            pwhere = f"{where}.applicationTransferParams[{j}]"
            key = param.get("key") if isinstance(param, dict) else None
            values = param.get("value") if isinstance(param, dict) else None
            allowed = ALLOWED_PARAMS[app_id]
            if key not in allowed:
                raise invalid(f"Unknown transfer parameter {key!r} (allowed: {sorted(allowed)}).",
                              f"{pwhere}.key")
            if not isinstance(values, list) or not values or not set(map(str, values)) <= allowed[key]:
                raise invalid(f"Invalid value for {key}: {values!r} (allowed: {sorted(allowed[key])}).",
                              f"{pwhere}.value")
            clean.append({"key": key, "value": [str(v) for v in values]})
        out.append({"applicationId": app_id, "applicationTransferParams": clean,
                    "applicationTransferStatus": "pending"})
    return out


# ---------------------------------------------------------------------------------------- transfer
def _qualifies(world: World, stored: StoredEvent, cal: Calendar, now: datetime) -> bool:
    data = stored.data
    if stored.deleted or stored.moved_away or data.get("status") == "cancelled":
        return False
    if data.get("recurringEventId"):
        return False  # exceptions travel with their series
    if data.get("visibility") in ("private", "confidential"):
        return False
    owner = cal.id
    guests = [a for a in data.get("attendees") or [] if str(a.get("email", "")).lower() != owner]
    if not guests:
        return False
    zone = busy.zone_of(cal.timeZone)
    if data.get("recurrence"):
        try:
            occs = eventmodel.occurrences(world, stored, cal)
        except ApiError:
            return False
        return any(_occ_start(o, zone) > now for o in occs)
    start = busy.edge_utc(data.get("start"), zone)
    return start is not None and start > now


def _occ_start(occ: Any, zone: Any) -> datetime:
    start = occ.start
    if isinstance(start, datetime):
        return start.astimezone(UTC)
    return datetime.combine(start, datetime.min.time(), tzinfo=zone).astimezone(UTC)


def _organizer(world: World, cal: Calendar) -> dict[str, Any]:
    org: dict[str, Any] = {"email": cal.id}
    user = world.find_user(cal.id)
    if user is not None and user.name.get("fullName"):
        org["displayName"] = user.name["fullName"]
    return org


def _release_rooms(world: World, data: dict[str, Any]) -> None:
    if data.get("attendees"):
        data["attendees"] = [a for a in data["attendees"] if not a.get("resource")
                             and str(a.get("email", "")).lower() not in world.resources]
        if not data["attendees"]:
            data.pop("attendees")


Change = tuple[str, dict[str, Any]]


def _move(world: World, stored: StoredEvent, dst: Calendar, release: bool) -> list[Change]:
    """Move one event (and its exceptions) to ``dst`` as ``events.move`` does. Under the lock."""
    src_id = stored.calendar_id
    before = copy.deepcopy(stored.data)
    organizer = _organizer(world, dst)
    moved = StoredEvent(dst.id, copy.deepcopy(stored.data), request_ids=set(stored.request_ids))
    moved.data["organizer"] = organizer
    if release:
        _release_rooms(world, moved.data)
    eventmodel.normalize_attendees(world, moved.data, before, organizer["email"])
    world.events.setdefault(dst.id, {})[moved.id] = moved
    world.used_event_ids.setdefault(dst.id, set()).add(moved.id)
    stored.deleted = stored.moved_away = True
    stored.data["status"] = "cancelled"
    world.record_event_write(stored)
    changes = [(src_id, copy.deepcopy(stored.data))]
    for other in list(world.events.get(src_id, {}).values()):
        if other.data.get("recurringEventId") == stored.id and not other.moved_away:
            twin = StoredEvent(dst.id, copy.deepcopy(other.data), deleted=other.deleted)
            twin.data["organizer"] = organizer
            if release:
                _release_rooms(world, twin.data)
            world.events[dst.id][twin.id] = twin
            world.record_event_write(twin)
            other.moved_away = other.deleted = True
            other.data["status"] = "cancelled"
            world.record_event_write(other)
    world.record_event_write(moved)
    changes.append((dst.id, copy.deepcopy(moved.data)))
    return changes


def run_transfer(world: World, transfer_id: str) -> None:
    """Carry out a stored transfer and mark it completed."""
    changes: list[tuple[str, dict[str, Any]]] = []
    with world.lock:
        entry = world.extra.get(TRANSFERS, {}).get(transfer_id)
        if entry is None:
            return
        record = entry["json"]
        old = world.user_by_id(record["oldOwnerUserId"])
        new = world.user_by_id(record["newOwnerUserId"])
        for app in record["applicationDataTransfers"]:
            if app["applicationId"] == CALENDAR_APP and old is not None and new is not None:
                release = any(p["key"] == "RELEASE_RESOURCES" and "TRUE" in p["value"]
                              for p in app["applicationTransferParams"])
                changes.extend(_transfer_calendar(world, old, new, release))
            app["applicationTransferStatus"] = "completed"
        record["overallTransferStatusCode"] = "completed"
        record["etag"] = _etag(record)
    for cal_id, snapshot in changes:
        world.fire_change(cal_id, snapshot)


def _transfer_calendar(world: World, old: User, new: User, release: bool) -> list[tuple[str, dict[str, Any]]]:
    src = world.calendars.get(old.email)
    dst = world.ensure_primary_calendar(new.email, time_zone=new.timeZone)
    now = world.now()
    moving = [s for s in world.events.get(old.email, {}).values()
              if src is not None and _qualifies(world, s, src, now)]
    changes: list[tuple[str, dict[str, Any]]] = []
    for stored in moving:
        if stored.id in world.events.get(dst.id, {}):
            continue  # the new owner already has an event with that id; Google keeps theirs
        changes.extend(_move(world, stored, dst, release))
    if not moving:
        cal_id = f"c_{secrets.token_hex(16)}@group.calendar.google.com"
        world.calendars[cal_id] = Calendar(id=cal_id, summary=old.email, timeZone=dst.timeZone,
                                           owner=new.email, acl={new.email: "owner"},
                                           etag=f'"{secrets.token_hex(8)}"')
        world.events.setdefault(cal_id, {})
        world.extra.setdefault("transfer_calendars", []).append(cal_id)
    return changes


# ------------------------------------------------------------------------------------------ routes
def _admin(request: Request, world: World, method_id: str) -> str:
    caller = authenticate(request, world, method_id)
    admin = require_admin(caller)
    dom = world.domains.get(admin.domain)
    if dom is None:
        raise ApiError(403, "forbidden", "Not Authorized to access this resource/api")
    return dom.customer_id


def _delay(world: World) -> float:
    value = world.options.extra.get("transfer_delay_s", DEFAULT_DELAY_S)
    return max(0.0, float(value))


def _insert(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        customer = _admin(request, world, "datatransfer.transfers.insert")
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "parseError", "Parse Error") from None
        if not isinstance(body, dict):
            raise ApiError(400, "parseError", "Parse Error")
        with world.lock:
            old = _user_by_id(world, body.get("oldOwnerUserId"), "oldOwnerUserId", customer)
            new = _user_by_id(world, body.get("newOwnerUserId"), "newOwnerUserId", customer)
            if old.id == new.id:
                raise invalid("The new owner must differ from the old owner.", "newOwnerUserId")
            if new.suspended:
                raise invalid("The new owner is suspended; transfers need an active new owner.",
                              "newOwnerUserId")
            apps = _parse_apps(body)
            tid = "AKrEtI" + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y")
            record: dict[str, Any] = {
                "kind": "admin#datatransfer#DataTransfer", "id": tid,
                "oldOwnerUserId": old.id, "newOwnerUserId": new.id,
                "applicationDataTransfers": apps,
                "overallTransferStatusCode": "inProgress",
                "requestTime": rfc3339(world.now()),
            }
            record["etag"] = _etag(record)
            world.extra.setdefault(TRANSFERS, {})[tid] = {"json": record, "customer": customer}
            answer = copy.deepcopy(record)
        delay = _delay(world)
        if delay == 0:
            run_transfer(world, tid)
        else:
            timer = threading.Timer(delay, run_transfer, args=(world, tid))
            timer.daemon = True
            timer.start()
        return JSONResponse(answer)
    return run


def _get(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        customer = _admin(request, world, "datatransfer.transfers.get")
        tid = path_param(request, "dataTransferId")
        with world.lock:
            entry = world.extra.get(TRANSFERS, {}).get(tid)
            if entry is None or entry["customer"] != customer:
                raise ApiError(404, "notFound", "Resource Not Found: dataTransferId")
            return JSONResponse(copy.deepcopy(entry["json"]))
    return run


def _list(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        customer = _admin(request, world, "datatransfer.transfers.list")
        q = request.query_params
        if q.get("customerId") not in (None, customer):
            raise ApiError(403, "forbidden", "Not Authorized to access this resource/api")
        status = q.get("status")
        if status not in (None, "new", "inProgress", "completed", "failed"):
            raise invalid(f"Invalid value '{status}' for status.", "status")
        size = int_param(request, "maxResults", 100, 1, 500)
        with world.lock:
            items = [copy.deepcopy(e["json"]) for e in world.extra.get(TRANSFERS, {}).values()
                     if e["customer"] == customer]
        items = [t for t in items if (not status or t["overallTransferStatusCode"] == status)
                 and (not q.get("oldOwnerUserId") or t["oldOwnerUserId"] == q.get("oldOwnerUserId"))
                 and (not q.get("newOwnerUserId") or t["newOwnerUserId"] == q.get("newOwnerUserId"))]
        items.sort(key=lambda t: (t["requestTime"], t["id"]))
        chunk, nxt = page(request, items, size)
        out: dict[str, Any] = {"kind": "admin#datatransfer#dataTransfersList", "etag": list_etag(chunk),
                               "dataTransfers": chunk}
        if nxt:
            out["nextPageToken"] = nxt
        return JSONResponse(out)
    return run


def _apps_list(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        customer = _admin(request, world, "datatransfer.applications.list")
        if request.query_params.get("customerId") not in (None, customer):
            raise ApiError(403, "forbidden", "Not Authorized to access this resource/api")
        size = int_param(request, "maxResults", 100, 1, 500)
        chunk, nxt = page(request, [_application(a) for a in sorted(APPLICATIONS)], size)
        out: dict[str, Any] = {"kind": "admin#datatransfer#applicationsList", "etag": list_etag(chunk),
                               "applications": chunk}
        if nxt:
            out["nextPageToken"] = nxt
        return JSONResponse(out)
    return run


def _apps_get(world: World) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        _admin(request, world, "datatransfer.applications.get")
        app_id = path_param(request, "applicationId")
        if app_id not in APPLICATIONS:
            raise ApiError(404, "notFound", "Resource Not Found: applicationId")
        return JSONResponse(_application(app_id))
    return run


def routes(world: World) -> list[BaseRoute]:
    return [
        Route(f"{BASE}/transfers", _insert(world), methods=["POST"]),
        Route(f"{BASE}/transfers", _list(world), methods=["GET"]),
        Route(f"{BASE}/transfers/{{dataTransferId}}", _get(world), methods=["GET"]),
        Route(f"{BASE}/applications", _apps_list(world), methods=["GET"]),
        Route(f"{BASE}/applications/{{applicationId}}", _apps_get(world), methods=["GET"]),
    ]
