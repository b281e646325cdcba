"""Calendar v3 ``events`` writes of the emulator: insert, import, update, patch, delete, move, get.

Where it sits: Google-facing routes under ``/calendar/v3/calendars/{calendarId}/events``; reads that
return collections (list, instances, watch) live in ``eventlist.py``, rules in ``eventmodel.py``,
Meet in ``conference.py``. Events are stored once, on the organizer's calendar; attendees who have a
calendar in the world see a read-only copy (``state.World.copies``). A write to a copy may change only
the guest's own answer (``answers.py``; anything else → 403 ``forbiddenForNonOrganizer``); deleting a
copy declines the invitation and removes it from that calendar.

Stricter choices (reference unsure): ``update`` with ``conferenceDataVersion=1`` and no ``conferenceData``
removes the conference (full replace); ``organizer`` in update/patch bodies is ignored (read-only);
importing an iCalUID already on the calendar → 409 ``duplicate``; moving a cancelled event → 410;
an update/patch whose body carries a ``sequence`` below the stored one → 400 ``invalid`` "Invalid
sequence value..." (reference §2.3, message unverified). Deleting (or cancelling) a recurring series
cancels its modified instances too; a guest of a series sees a cancelled instance as cancelled.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from connectors.google_emulator.calendar import answers, conference, eventmodel, quickadd, views
from connectors.google_emulator.calendar.common import before_hooks, endpoint, q_int, resolve_calendar
from connectors.google_emulator.errors import (
    ApiError,
    bad_request,
    forbidden_for_non_organizer,
    forbidden_for_service_accounts,
    not_found,
)
from connectors.google_emulator.oauth.auth import Caller
from connectors.google_emulator.paths import path_param
from connectors.google_emulator.state import Calendar, CopyRef, StoredEvent, World, new_event_id, rfc3339

SERVER_FIELDS = (
    "kind",
    "id",
    "etag",
    "created",
    "updated",
    "creator",
    "organizer",
    "iCalUID",
    "htmlLink",
    "recurringEventId",
    "originalStartTime",
    "sequence",
    "conferenceData",
    "hangoutLink",
)


def deleted_error() -> ApiError:
    return ApiError(410, "deleted", "Resource has been deleted")


def check_if_match(request: Request, stored: StoredEvent) -> None:
    want = request.headers.get("if-match")
    if want is not None and want.strip() not in ("*", stored.data.get("etag")):
        raise ApiError(
            412, "conditionNotMet", "Precondition Failed", location="If-Match", location_type="header"
        )


class Found:
    """Result of looking an event id up on a calendar."""

    def __init__(
        self,
        stored: StoredEvent | None,
        ref: CopyRef | None = None,
        instance: dict[str, Any] | None = None,
        master: StoredEvent | None = None,
    ) -> None:
        self.stored = stored
        self.ref = ref
        self.instance = instance  # synthesized, not stored
        self.master = master


def lookup(world: World, cal: Calendar, event_id: str) -> Found:
    """Own event, attendee copy, or a synthesized instance ``<master>_<stamp>``; 404 otherwise."""
    own = world.events.get(cal.id, {}).get(event_id)
    if own is not None:
        return Found(own)
    copy_src = world.copy_source(cal.id, event_id)
    if copy_src is not None:
        return Found(copy_src[1], copy_src[0])
    if "_" in event_id:
        master_id, stamp = event_id.split("_", 1)
        found = lookup(world, cal, master_id)
        master = found.stored
        if master is not None and master.data.get("recurrence") and not master.deleted:
            for occ in eventmodel.occurrences(world, master, cal):
                if occ.stamp == stamp:
                    return Found(None, found.ref, eventmodel.make_instance(master, occ), master)
    raise not_found()


def _organizer_for(world: World, cal: Calendar) -> dict[str, Any]:
    org: dict[str, Any] = {"email": cal.id}
    if not cal.is_primary:
        org["displayName"] = cal.summary
    else:
        user = world.find_user(cal.id)
        if user is not None and user.name.get("fullName"):
            org["displayName"] = user.name["fullName"]
    return org


def _writable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(body[k]) for k in eventmodel.WRITABLE if k in body and body[k] is not None}


def _check_reminders(new: dict[str, Any]) -> None:
    """``reminders.overrides``: at most 5, ``minutes`` 0-40320 (reference §2.5)."""
    overrides = (new.get("reminders") or {}).get("overrides") or []
    if not isinstance(overrides, list) or len(overrides) > 5:
        raise bad_request("Too many reminder overrides (at most 5).", location="reminders.overrides")
    for item in overrides:
        minutes = item.get("minutes") if isinstance(item, dict) else None
        if not isinstance(minutes, int) or not 0 <= minutes <= 40320:
            raise bad_request("Invalid reminder minutes (0-40320).", location="reminders.overrides.minutes")
        if item.get("method") not in ("email", "popup"):
            raise bad_request("Invalid reminder method.", location="reminders.overrides.method")


def _finish(world: World, new: dict[str, Any], organizer: str, old: dict[str, Any] | None) -> None:
    _check_reminders(new)
    status = new.setdefault("status", "confirmed")
    if status not in eventmodel.STATUSES:
        raise bad_request(f"Invalid value for status: {status}", location="status")
    eventmodel.check_times(new)
    eventmodel.with_offsets(new)
    if new.get("recurrence") is not None and not isinstance(new["recurrence"], list):
        raise bad_request("Invalid recurrence rule.")
    eventmodel.check_guest_count(new)
    eventmodel.normalize_attendees(world, new, old, organizer)
    new.setdefault("reminders", {"useDefault": True})
    new.setdefault("eventType", "default")
    eventmodel.strip_defaults(new)
    eventmodel.bump_sequence(old, new)


def _reminders_only(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when a write changed the reminders and nothing else of the event."""
    skip = ("reminders", "etag", "updated")
    if old.get("reminders") == new.get("reminders"):
        return False
    return {k: v for k, v in old.items() if k not in skip} == {k: v for k, v in new.items() if k not in skip}


def _cancel_exceptions(world: World, cal: Calendar, master: StoredEvent) -> None:
    """A cancelled series takes its modified instances with it (each becomes a cancelled tombstone)."""
    if not master.data.get("recurrence"):
        return
    for other in world.events.get(cal.id, {}).values():
        if other.data.get("recurringEventId") == master.id and not other.deleted:
            other.deleted = True
            other.data["status"] = "cancelled"
            world.record_event_write(other)


def _check_recurrence(world: World, cal: Calendar, stored: StoredEvent) -> None:
    if stored.data.get("recurrence"):
        eventmodel.check_recurring_start(stored.data)
        eventmodel.occurrences(world, stored, cal, limit=1)


def _conf_version(request: Request) -> int:
    return q_int(request, "conferenceDataVersion", 0, lo=0, hi=1) or 0


def _new_id(world: World, cal: Calendar) -> str:
    used = world.used_event_ids.setdefault(cal.id, set())
    while True:
        eid = new_event_id(world.rng)
        if eid not in used:
            return eid


def create(world: World, request: Request, caller: Caller, body: dict[str, Any], *, imported: bool) -> Any:
    send = "none" if imported else eventmodel.send_updates_param(request.query_params)
    version = _conf_version(request)
    with world.lock:
        cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="writer")
        if caller.is_plain_sa and body.get("attendees"):
            raise forbidden_for_service_accounts()
        used = world.used_event_ids.setdefault(cal.id, set())
        if body.get("id") is not None:
            eid = eventmodel.check_client_id(body["id"])
            if eid in used or eid in world.copies.get(cal.id, {}):  # an invitation copy holds the id too
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
        else:
            eid = _new_id(world, cal)
        if body.get("eventType", "default") == "fromGmail":
            raise bad_request("Event type cannot be created.", location="eventType")
        if imported:
            if not body.get("iCalUID"):
                raise ApiError(
                    400, "required", "Missing iCalUID.", location="iCalUID", location_type="parameter"
                )
            if body.get("eventType", "default") != "default":
                raise bad_request("Only default events can be imported.", location="eventType")
            if any(s.data.get("iCalUID") == body["iCalUID"] for s in world.events.get(cal.id, {}).values()):
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
        new = _writable(body)
        if imported and isinstance(body.get("organizer"), dict) and body["organizer"].get("email"):
            organizer = {"email": str(body["organizer"]["email"]).lower()}
            if body["organizer"].get("displayName"):
                organizer["displayName"] = str(body["organizer"]["displayName"])
        else:
            organizer = _organizer_for(world, cal)
        now = rfc3339(world.now())
        new.update(
            {
                "kind": "calendar#event",
                "id": eid,
                "created": now,
                "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
                "creator": {"email": caller.email},
                "organizer": organizer,
                "iCalUID": str(body.get("iCalUID") or f"{eid}@google.com"),
            }
        )
        if not imported and body.get("iCalUID") and body.get("id"):
            new["iCalUID"] = f"{eid}@google.com"
        _finish(world, new, organizer["email"], None)
        stored = StoredEvent(cal.id, new)
        _check_recurrence(world, cal, stored)
        conference.apply_conference(world, caller, cal, None, new, body, version=version, replace=False)
        request_id = ((new.get("conferenceData") or {}).get("createRequest") or {}).get("requestId")
        if request_id:
            stored.request_ids.add(str(request_id))
        world.events.setdefault(cal.id, {})[eid] = stored
        used.add(eid)
        world.record_event_write(stored)
        eventmodel.notify(
            world,
            before=None,
            after=stored.data,
            send_updates=send,
            organizer=organizer["email"],
            calendar_id=cal.id,
            event_id=eid,
        )
        result = eventmodel.render(stored, cal.id)
        snapshot = copy.deepcopy(stored.data)
    world.fire_change(cal.id, snapshot)
    return result


def modify(world: World, request: Request, caller: Caller, body: dict[str, Any], *, replace: bool) -> Any:
    send = eventmodel.send_updates_param(request.query_params)
    version = _conf_version(request)
    event_id = path_param(request, "eventId")
    with world.lock:
        cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="writer")
        found = lookup(world, cal, event_id)
        if found.ref is not None:  # a guest writing to their copy: only their own answer may change
            if found.instance is not None or found.stored is None:
                raise forbidden_for_non_organizer()
            check_if_match(request, found.stored)
            result = answers.answer_from_copy(world, cal, found.stored, body)
            changed_cal, snapshot = found.stored.calendar_id, copy.deepcopy(found.stored.data)
        else:
            result, snapshot = _organizer_write(world, request, caller, cal, found, body, replace, send, version)
            changed_cal = cal.id
    world.fire_change(changed_cal, snapshot, run_event_hooks=found.ref is None)
    return result


def _organizer_write(
    world: World,
    request: Request,
    caller: Caller,
    cal: Calendar,
    found: Found,
    body: dict[str, Any],
    replace: bool,
    send: str,
    version: int,
) -> tuple[Any, dict[str, Any]]:
    """update/patch of the organizer's event (call under ``world.lock``): the answer and a snapshot."""
    if caller.is_plain_sa and body.get("attendees"):
        raise forbidden_for_service_accounts()
    stored = found.stored
    if stored is None:  # first change of a single instance: materialise the exception
        assert found.instance is not None
        stored = StoredEvent(cal.id, found.instance)
        if found.master is not None:
            stored.request_ids = set(found.master.request_ids)
    check_if_match(request, stored)
    old = copy.deepcopy(stored.data)
    if "eventType" in body and body["eventType"] != old.get("eventType", "default"):
        raise bad_request("Event type cannot be changed.", location="eventType")
    sent_seq = body.get("sequence")
    if isinstance(sent_seq, int) and sent_seq < int(old.get("sequence") or 0):
        raise bad_request(
            "Invalid sequence value. The specified sequence number is below the current sequence "
            "number of the resource.",
            location="sequence",
        )
    if old.get("recurringEventId") and body.get("recurrence"):
        raise bad_request("Invalid recurrence rule.", location="recurrence")
    incoming = _writable(body)
    if replace:
        new = incoming
        new.setdefault("eventType", old.get("eventType", "default"))
    else:
        old_writable = {k: v for k, v in old.items() if k in eventmodel.WRITABLE}
        rest = {k: v for k, v in body.items() if k in eventmodel.WRITABLE and k not in ("start", "end")}
        new = eventmodel.merge(old_writable, rest)
        for edge in ("start", "end"):
            if body.get(edge) is not None:
                new[edge] = copy.deepcopy(body[edge])
    for key in SERVER_FIELDS:
        if key in old:
            new[key] = old[key]
    if replace and "sequence" in body:
        new["sequence"] = body["sequence"]
    if old.get("recurringEventId"):
        new.pop("recurrence", None)
    organizer = str(old["organizer"]["email"])
    _finish(world, new, organizer, old)
    conference.apply_conference(world, caller, cal, stored, new, body, version=version, replace=replace)
    request_id = ((new.get("conferenceData") or {}).get("createRequest") or {}).get("requestId")
    if request_id:
        stored.request_ids.add(str(request_id))
    stored.data = new
    _check_recurrence(world, cal, stored)
    stored.deleted = new.get("status") == "cancelled"
    world.events.setdefault(cal.id, {})[stored.id] = stored
    world.record_event_write(stored, keep_updated=_reminders_only(old, new))
    if stored.deleted:
        _cancel_exceptions(world, cal, stored)
    eventmodel.notify(
        world,
        before=old,
        after=stored.data,
        send_updates=send,
        organizer=organizer,
        calendar_id=cal.id,
        event_id=stored.id,
    )
    return eventmodel.render(stored, cal.id), copy.deepcopy(stored.data)


def delete(world: World, request: Request, caller: Caller) -> None:
    send = eventmodel.send_updates_param(request.query_params)
    event_id = path_param(request, "eventId")
    with world.lock:
        cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="writer")
        found = lookup(world, cal, event_id)
        if found.ref is not None:  # an attendee removes the invitation from their calendar
            if found.ref.removed:
                raise deleted_error()
            src = found.stored
            assert src is not None
            check_if_match(request, src)
            world.set_attendee_response(src.calendar_id, src.id, cal.id, "declined")
            found.ref.removed = True
            found.ref.change_seq = world.next_change()
            return None
        stored = found.stored
        if stored is None:
            assert found.instance is not None
            stored = StoredEvent(cal.id, found.instance)
        elif stored.deleted:
            raise deleted_error()
        check_if_match(request, stored)
        before = copy.deepcopy(stored.data)
        stored.deleted = True
        stored.data["status"] = "cancelled"
        world.events.setdefault(cal.id, {})[stored.id] = stored
        world.record_event_write(stored)
        _cancel_exceptions(world, cal, stored)
        eventmodel.notify(
            world,
            before=before,
            after=None,
            send_updates=send,
            organizer=str(before["organizer"]["email"]),
            calendar_id=cal.id,
            event_id=stored.id,
        )
        snapshot = copy.deepcopy(stored.data)
    world.fire_change(cal.id, snapshot)
    return None


def move(world: World, request: Request, caller: Caller) -> Any:
    send = eventmodel.send_updates_param(request.query_params)
    destination = request.query_params.get("destination")
    if not destination:
        raise ApiError(
            400,
            "required",
            "Required parameter: destination",
            location="destination",
            location_type="parameter",
        )
    event_id = path_param(request, "eventId")
    with world.lock:
        src_cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="writer")
        try:
            dst_cal = resolve_calendar(world, caller, destination, need="writer")
        except ApiError as exc:
            if exc.code == 403:
                raise ApiError(
                    403,
                    "requiredAccessLevel",
                    "You need to have writer access to both calendars.",
                    domain="calendar",
                ) from None
            raise
        found = lookup(world, src_cal, event_id)
        if found.ref is not None:
            raise ApiError(
                403,
                "cannotChangeOrganizer",
                "Only the organizer's copy of an event can be moved.",
                domain="calendar",
            )
        if found.stored is None or found.stored.data.get("recurringEventId"):
            raise ApiError(
                400,
                "cannotChangeOrganizerOfInstance",
                "Cannot change the organizer of an instance.",
                domain="calendar",
            )
        stored = found.stored
        if stored.deleted:
            raise deleted_error()
        if stored.data.get("eventType", "default") != "default":
            raise bad_request("Only default events can be moved.", location="eventType")
        if dst_cal.id == src_cal.id:
            return eventmodel.render(stored, src_cal.id)
        if stored.id in world.used_event_ids.setdefault(dst_cal.id, set()):
            raise ApiError(409, "duplicate", "The requested identifier already exists.")
        before = copy.deepcopy(stored.data)
        moved = StoredEvent(dst_cal.id, copy.deepcopy(stored.data), request_ids=set(stored.request_ids))
        organizer = _organizer_for(world, dst_cal)
        moved.data["organizer"] = organizer
        eventmodel.normalize_attendees(world, moved.data, before, organizer["email"])
        world.events.setdefault(dst_cal.id, {})[moved.id] = moved
        world.used_event_ids[dst_cal.id].add(moved.id)
        pending: dict[Any, Any] = world.extra.get("conference_pending") or {}
        if (src_cal.id, stored.id) in pending:
            pending[(dst_cal.id, stored.id)] = pending.pop((src_cal.id, stored.id))
        stored.deleted = True
        stored.moved_away = True
        stored.data["status"] = "cancelled"
        world.record_event_write(stored)
        for other in list(world.events.get(src_cal.id, {}).values()):  # exceptions travel with the series
            if other.data.get("recurringEventId") == stored.id and not other.moved_away:
                twin = StoredEvent(dst_cal.id, copy.deepcopy(other.data), deleted=other.deleted)
                twin.data["organizer"] = organizer
                world.events[dst_cal.id][twin.id] = twin
                world.record_event_write(twin)
                other.moved_away = other.deleted = True
                other.data["status"] = "cancelled"
                world.record_event_write(other)
        world.record_event_write(moved)
        eventmodel.notify(
            world,
            before=before,
            after=moved.data,
            send_updates=send,
            organizer=organizer["email"],
            calendar_id=dst_cal.id,
            event_id=moved.id,
        )
        result = eventmodel.render(moved, dst_cal.id)
        snap_src, snap_dst = copy.deepcopy(stored.data), copy.deepcopy(moved.data)
    world.fire_change(src_cal.id, snap_src)
    world.fire_change(dst_cal.id, snap_dst)
    return result


def get(world: World, request: Request, caller: Caller) -> Any:
    with world.lock:
        cal = resolve_calendar(world, caller, path_param(request, "calendarId"))
        view = views.ReadView(world, cal, request, caller.email)
        found = lookup(world, cal, path_param(request, "eventId"))
        if found.instance is not None:
            return view.apply(eventmodel.render(StoredEvent(cal.id, found.instance), cal.id, found.ref))
        assert found.stored is not None
        etag = found.stored.data.get("etag")
        if request.headers.get("if-none-match") == etag and etag:
            from starlette.responses import Response

            return Response(status_code=304)
        return view.apply(eventmodel.render(found.stored, cal.id, found.ref))


def install(world: World) -> None:
    hooks = before_hooks(world)
    if conference.resolve_due not in hooks:
        hooks.append(conference.resolve_due)


def routes(world: World) -> list[BaseRoute]:
    async def h_insert(request: Request, caller: Caller, body: dict[str, Any]) -> Any:
        return create(world, request, caller, body, imported=False)

    async def h_import(request: Request, caller: Caller, body: dict[str, Any]) -> Any:
        return create(world, request, caller, body, imported=True)

    async def h_update(request: Request, caller: Caller, body: dict[str, Any]) -> Any:
        return modify(world, request, caller, body, replace=True)

    async def h_patch(request: Request, caller: Caller, body: dict[str, Any]) -> Any:
        return modify(world, request, caller, body, replace=False)

    async def h_delete(request: Request, caller: Caller, _: Any) -> None:
        return delete(world, request, caller)

    async def h_move(request: Request, caller: Caller, _: Any) -> Any:
        return move(world, request, caller)

    async def h_get(request: Request, caller: Caller, _: Any) -> Any:
        return get(world, request, caller)

    async def h_quick_add(request: Request, caller: Caller, _: Any) -> Any:
        with world.lock:
            cal = resolve_calendar(world, caller, path_param(request, "calendarId"), need="writer")
            body = quickadd.parse(request.query_params.get("text", ""), cal.timeZone, world.now())
        return create(world, request, caller, body, imported=False)

    base = "/calendar/v3/calendars/{calendarId}/events"
    one = base + "/{eventId}"
    return [
        Route(base, endpoint(world, "calendar.events.insert", h_insert, body=True), methods=["POST"]),
        Route(
            base + "/import", endpoint(world, "calendar.events.import", h_import, body=True), methods=["POST"]
        ),
        Route(base + "/quickAdd", endpoint(world, "calendar.events.quickAdd", h_quick_add), methods=["POST"]),
        Route(one + "/move", endpoint(world, "calendar.events.move", h_move), methods=["POST"]),
        Route(one, endpoint(world, "calendar.events.get", h_get), methods=["GET"]),
        Route(one, endpoint(world, "calendar.events.update", h_update, body=True), methods=["PUT"]),
        Route(one, endpoint(world, "calendar.events.patch", h_patch, body=True), methods=["PATCH"]),
        Route(one, endpoint(world, "calendar.events.delete", h_delete), methods=["DELETE"]),
    ]
