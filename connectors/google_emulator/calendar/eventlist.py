"""Calendar v3 ``events.list`` and ``events.instances`` of the emulator, with incremental sync.

Where it sits: Google-facing routes; storage in ``state.World``, rules in ``eventmodel.py``, tokens in
``sync.py``. Follows the reference §2.1 and §6.1: ``maxResults`` default 250 (capped at 2500),
``nextSyncToken`` only on the last page and never with ``nextPageToken`` nor with ``orderBy``; a
``syncToken`` forbids ``iCalUID, orderBy, privateExtendedProperty, q, sharedExtendedProperty, timeMin,
timeMax, updatedMin`` and ``showDeleted=false`` (400) and always includes deletions; unknown or garbled
tokens → 410 ``fullSyncRequired``. ``orderBy=startTime`` needs ``singleEvents=true``.
Unbounded recurring series are expanded up to three years past ``timeMax``/now (``singleEvents``).
``updatedMin`` filters on the time of the last change, tombstones included (a removed guest's copy and
the cancelled copy an ``events.move`` leaves behind carry no ``updated`` of their own).
With ``options.empty_pages`` every page of ``events.list`` is preceded by an empty page that carries a
``nextPageToken`` (the discovery doc allows "none at all, even if there are more events"), so clients
are tested for following page tokens rather than stopping at an empty ``items``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar import eventmodel, sync, views
from connectors.google_emulator.calendar.calendars import list_entry
from connectors.google_emulator.calendar.common import endpoint, parse_time, q_bool, q_int, resolve_calendar
from connectors.google_emulator.calendar.events import lookup
from connectors.google_emulator.errors import ApiError, bad_request
from connectors.google_emulator.oauth.auth import Caller
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import Calendar, CopyRef, StoredEvent, World, new_etag, rfc3339

SYNC_FORBIDDEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)

Item = tuple[dict[str, Any], StoredEvent, CopyRef | None]


def _prop_filters(request: Request, name: str) -> list[tuple[str, str]]:
    out = []
    for raw in request.query_params.getlist(name):
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise bad_request(f"Invalid {name} value: {raw} (expected name=value).", location=name)
        out.append((key, value))
    return out


def _matches_props(data: dict[str, Any], kind: str, filters: list[tuple[str, str]]) -> bool:
    props = ((data.get("extendedProperties") or {}).get(kind)) or {}
    return all(props.get(k) == v for k, v in filters)


def _matches_q(data: dict[str, Any], q: str) -> bool:
    hay = " ".join(str(data.get(f, "")) for f in ("summary", "description", "location")).lower()
    hay += (
        " "
        + " ".join(
            str(a.get("email", "")) + " " + str(a.get("displayName", "")) for a in data.get("attendees") or []
        ).lower()
    )
    return all(word in hay for word in q.lower().split())


def _overlaps(
    data: dict[str, Any], tmin: datetime | None, tmax: datetime | None, *, inclusive_min: bool = False
) -> bool:
    start, end = eventmodel.bounds(data)
    if tmin is not None and (end < tmin if inclusive_min else end <= tmin):
        return False
    return not (tmax is not None and start >= tmax)


def _seq(stored: StoredEvent, ref: CopyRef | None) -> int:
    if ref is not None and ref.removed:
        return ref.change_seq
    return max(stored.change_seq, ref.change_seq if ref else 0)


def _changed_at(stored: StoredEvent, data: dict[str, Any]) -> datetime:
    """When an item last changed: a tombstone (guest removed, event moved away) renders without
    ``updated``, so the organizer's stored event, whose write made the tombstone, says when."""
    return parse_time(str(data.get("updated") or stored.data["updated"]), "updated")


def _is_cancelled(stored: StoredEvent, ref: CopyRef | None) -> bool:
    return stored.deleted or stored.data.get("status") == "cancelled" or bool(ref and ref.removed)


def _expand(
    world: World,
    cal: Calendar,
    master: StoredEvent,
    ref: CopyRef | None,
    exceptions: dict[str, Item],
    horizon: datetime,
) -> list[Item]:
    out: list[Item] = []
    for occ in eventmodel.occurrences(world, master, cal, horizon=horizon):
        iid = f"{master.id}_{occ.stamp}"
        if iid in exceptions:
            out.append(exceptions[iid])
        else:
            inst = StoredEvent(cal.id, eventmodel.make_instance(master, occ), change_seq=master.change_seq)
            out.append((eventmodel.render(inst, cal.id, ref), inst, ref))
    return out


def collect(  # noqa: C901 (one filter per list parameter)
    world: World, cal: Calendar, request: Request, *, since: int | None
) -> list[Item]:
    """The items a list request returns before paging (already rendered for ``cal``)."""
    qp = request.query_params
    single = q_bool(request, "singleEvents")
    # Event.status: cancelled events are listed "only on incremental sync (when syncToken or updatedMin
    # are specified) or if the showDeleted flag is set to true".
    show_deleted = since is not None or "updatedMin" in qp or q_bool(request, "showDeleted")
    tmin = parse_time(qp["timeMin"], "timeMin") if "timeMin" in qp else None
    tmax = parse_time(qp["timeMax"], "timeMax") if "timeMax" in qp else None
    if tmin is not None and tmax is not None and tmax <= tmin:
        raise ApiError(
            400,
            "timeRangeEmpty",
            "The specified time range is empty.",
            domain="calendar",
            location="timeMax",
            location_type="parameter",
        )
    updated_min = parse_time(qp["updatedMin"], "updatedMin") if "updatedMin" in qp else None
    private = _prop_filters(request, "privateExtendedProperty")
    shared = _prop_filters(request, "sharedExtendedProperty")
    ical = qp.get("iCalUID")
    q = qp.get("q")
    types = qp.getlist("eventTypes")
    horizon = (tmax or world.now()) + eventmodel.default_end_horizon()

    rows: list[Item] = []
    for stored, ref in world.visible_events(cal.id):
        if since is not None and _seq(stored, ref) <= since:
            continue
        rows.append((eventmodel.render(stored, cal.id, ref), stored, ref))
    exceptions = {row[0]["id"]: row for row in rows if row[0].get("recurringEventId")}
    items: list[Item] = []
    for row in rows:
        data, stored, ref = row
        cancelled = _is_cancelled(stored, ref)
        if single and data.get("recurrence") and not cancelled:
            items.extend(_expand(world, cal, stored, ref, exceptions, horizon))
        elif single and data.get("recurringEventId") and not cancelled:
            master = world.events.get(stored.calendar_id, {}).get(str(data["recurringEventId"]))
            if master is None or (since is not None and master.change_seq > since):
                continue  # emitted with its master's expansion
            items.append(row)
        else:
            items.append(row)
    out: list[Item] = []
    seen: set[str] = set()
    for item in items:
        data, stored, ref = item
        if data["id"] in seen:
            continue
        seen.add(data["id"])
        cancelled = data.get("status") == "cancelled"
        if cancelled and not show_deleted:
            continue
        if since is None:
            if "start" in data and not data.get("recurrence") and not _overlaps(data, tmin, tmax):
                continue
            if data.get("recurrence") and (tmin or tmax) and not cancelled:
                occs = eventmodel.occurrences(world, stored, cal, horizon=horizon)
                if not any(_overlaps(eventmodel.make_instance(stored, o), tmin, tmax) for o in occs):
                    continue
            if updated_min is not None and _changed_at(stored, data) < updated_min:
                continue
            if private and (ref is not None or not _matches_props(data, "private", private)):
                continue
            if shared and not _matches_props(data, "shared", shared):
                continue
            if ical and data.get("iCalUID") != ical:
                continue
            if q and not _matches_q(data, q):
                continue
        if types and not cancelled and data.get("eventType", "default") not in types:
            continue
        out.append(item)
    return out


def _sort(items: list[Item], order_by: str | None) -> None:
    if order_by == "startTime":
        items.sort(
            key=lambda it: (
                eventmodel.bounds(it[0])[0].isoformat() if "start" in it[0] else "9999",
                it[0]["id"],
            )
        )
    elif order_by == "updated":
        items.sort(key=lambda it: (str(it[0].get("updated", "")), it[0]["id"]))
    else:
        items.sort(key=lambda it: (str(it[0].get("created", "")), it[0]["id"]))


def envelope(world: World, cal: Calendar, caller: Caller, view: views.ReadView) -> dict[str, Any]:
    entry = list_entry(world, cal, caller.email)
    return {
        "kind": "calendar#events",
        "etag": new_etag(world.now()),
        "summary": entry["summary"],
        "updated": rfc3339(world.now()),
        "timeZone": view.zone_name or cal.timeZone,
        "accessRole": entry["accessRole"],
        "defaultReminders": entry["defaultReminders"],
    }


def list_events(world: World, request: Request, caller: Caller) -> dict[str, Any]:
    qp = request.query_params
    max_results = q_int(request, "maxResults", 250, lo=1, hi=2500, clamp=True) or 250
    order_by = qp.get("orderBy")
    if order_by not in (None, "startTime", "updated"):
        raise bad_request(f"Invalid value for orderBy: {order_by}", location="orderBy")
    sync_token = qp.get("syncToken")
    if sync_token is not None:
        for name in SYNC_FORBIDDEN:
            if name in qp:
                raise bad_request(
                    f"The parameter {name} cannot be used together with syncToken.", location=name
                )
        if qp.get("showDeleted", "").lower() == "false":
            raise bad_request(
                "showDeleted=false cannot be used together with syncToken.", location="showDeleted"
            )
    if order_by == "startTime" and not q_bool(request, "singleEvents"):
        raise bad_request(
            "The requested ordering is not available for the particular query.", location="orderBy"
        )
    with world.lock:
        cal = resolve_calendar(world, caller, path_param(request, "calendarId"))
        view = views.ReadView(world, cal, request, caller.email)
        since = sync.read_sync_token(world, cal.id, sync_token) if sync_token is not None else None
        fp = sync.fingerprint([(k, v) for k, v in qp.multi_items()] + [("cal", cal.id)])
        offset, upper = 0, world.change_counter
        if qp.get("pageToken"):
            offset, upper = sync.read_page_token(world, fp, qp["pageToken"])
        items = collect(world, cal, request, since=since)
        _sort(items, order_by)
        out = envelope(world, cal, caller, view)
        if world.options.empty_pages and not sync.empty_page_served(world, qp.get("pageToken")):
            out["items"] = []  # "may be less than this value, or none at all, even if there are more"
            out["nextPageToken"] = sync.make_page_token(world, fp, offset, upper, empty_served=True)
            return out
        page = items[offset : offset + max_results]
        out["items"] = [view.apply(data) for data, _, _ in page]
        if offset + max_results < len(items):
            out["nextPageToken"] = sync.make_page_token(world, fp, offset + max_results, upper)
        elif order_by is None:
            out["nextSyncToken"] = sync.make_sync_token(world, cal.id, upper)
        return out


def instances(world: World, request: Request, caller: Caller) -> dict[str, Any]:
    qp = request.query_params
    max_results = q_int(request, "maxResults", 250, lo=1, hi=2500, clamp=True) or 250
    show_deleted = q_bool(request, "showDeleted")
    tmin = parse_time(qp["timeMin"], "timeMin") if "timeMin" in qp else None
    tmax = parse_time(qp["timeMax"], "timeMax") if "timeMax" in qp else None
    original = parse_time(qp["originalStart"], "originalStart") if "originalStart" in qp else None
    with world.lock:
        cal = resolve_calendar(world, caller, path_param(request, "calendarId"))
        view = views.ReadView(world, cal, request, caller.email)
        found = lookup(world, cal, path_param(request, "eventId"))
        master = found.stored
        if master is None or found.instance is not None:
            raise bad_request("The requested event is not a recurring event.")
        exceptions: dict[str, Item] = {}
        for stored, ref in world.visible_events(cal.id):
            if stored.data.get("recurringEventId") == master.id:
                exceptions[stored.id] = (eventmodel.render(stored, cal.id, ref), stored, ref)
        items: list[Item] = []
        if master.data.get("recurrence") and not master.deleted:
            horizon = (tmax or world.now()) + eventmodel.default_end_horizon()
            items = _expand(world, cal, master, found.ref, exceptions, horizon)
        items = [
            it
            for it in items
            if (show_deleted or it[0].get("status") != "cancelled")
            and (it[0].get("status") == "cancelled" or _overlaps(it[0], tmin, tmax, inclusive_min=True))
        ]
        if original is not None:
            items = [
                it
                for it in items
                if eventmodel.bounds(
                    {"start": it[0]["originalStartTime"], "end": it[0]["originalStartTime"]}
                )[0]
                == original
            ]
        fp = sync.fingerprint([(k, v) for k, v in qp.multi_items()] + [("cal", cal.id), ("ev", master.id)])
        offset = 0
        if qp.get("pageToken"):
            offset, _ = sync.read_page_token(world, fp, qp["pageToken"])
        page = items[offset : offset + max_results]
        out = envelope(world, cal, caller, view)
        out["items"] = [view.apply(d) for d, _, _ in page]
        if offset + max_results < len(items):
            out["nextPageToken"] = sync.make_page_token(world, fp, offset + max_results, world.change_counter)
        return out


def routes(world: World) -> list[BaseRoute]:
    async def h_list(request: Request, caller: Caller, _: Any) -> Any:
        return list_events(world, request, caller)

    async def h_instances(request: Request, caller: Caller, _: Any) -> Any:
        return instances(world, request, caller)

    base = "/calendar/v3/calendars/{calendarId}/events"
    return [
        Route(base, endpoint(world, "calendar.events.list", h_list), methods=["GET"]),
        Route(
            base + "/{eventId}/instances",
            endpoint(world, "calendar.events.instances", h_instances),
            methods=["GET"],
        ),
    ]
