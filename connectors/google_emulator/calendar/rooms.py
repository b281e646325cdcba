"""Room (resource calendar) auto-responses of the emulator.

Where it sits: registers on ``world.after_event_write``. When an event write leaves a room attendee at
``needsAction`` (or moves an accepted booking to a new time), the room answers a moment later
(``world.options.room_response_delay_s``; the insert response still shows ``needsAction``, a later get
shows the answer — reference §4.2), writing its ``responseStatus`` on the organizer's event:

* decline when the organizer is not in the room's ``bookableBy`` list (if set) or not a user of the
  room's domain (a room always declines bookers without booking permission);
* decline on a conflict with another booking the room has accepted; else accept;
* a recurring series is declined whole when more than 5, or more than 1/3, of its instances conflict;
  otherwise the series is accepted and each conflicting instance gets a stored exception in which the
  room declined (Google's "accept entire series and decline the individual dates").
* a room with ``autoAcceptInvitations: false`` leaves invitations at ``needsAction`` (a resource
  manager would answer) — the stricter reading of "add all invitations".

A bounded series (``COUNT``/``UNTIL``) is checked to its last instance; an unbounded one up to
``SERIES_HORIZON`` past its start or now, whichever is later (Google's exact horizon is not published).
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timedelta
from typing import Any

from connectors.google_emulator.calendar import busy, eventmodel
from connectors.google_emulator.errors import ApiError
from connectors.google_emulator.state import Resource, StoredEvent, World

SERIES_HORIZON = timedelta(days=366)
TIMERS = "room_timers"
ACCEPTED = "room_accepted_shapes"  # (calendar, event id, room) → time shape the room accepted


def install(world: World) -> None:
    if on_event_write not in world.after_event_write:
        world.after_event_write.append(on_event_write)


def shutdown(world: World) -> None:
    with world.lock:
        timers: list[threading.Timer] = list(world.extra.get(TIMERS, []))
    for timer in timers:
        timer.cancel()


def _shape(data: dict[str, Any]) -> tuple[Any, ...]:
    return (repr(data.get("start")), repr(data.get("end")), repr(data.get("recurrence")))


def _room_attendees(world: World, data: dict[str, Any]) -> list[str]:
    rooms = []
    for att in data.get("attendees") or []:
        email = str(att.get("email", "")).lower()
        if email in world.resources:
            rooms.append(email)
    return rooms


def on_event_write(world: World, calendar_id: str, event: dict[str, Any]) -> None:
    """Hook: schedule the answer of every room that has to (re)consider this event."""
    if event.get("status") == "cancelled":
        return
    due: list[str] = []
    with world.lock:
        shapes: dict[tuple[str, str, str], Any] = world.extra.setdefault(ACCEPTED, {})
        for att in event.get("attendees") or []:
            email = str(att.get("email", "")).lower()
            if email not in world.resources:
                continue
            status = att.get("responseStatus", "needsAction")
            key = (calendar_id, str(event.get("id")), email)
            if status == "needsAction" or (status == "accepted" and key in shapes
                                           and shapes[key] != _shape(event)):
                due.append(email)
    for room in due:
        _schedule(world, calendar_id, str(event.get("id")), room)


def _schedule(world: World, calendar_id: str, event_id: str, room: str) -> None:
    delay = max(0.0, float(world.options.room_response_delay_s))
    if delay == 0:
        respond(world, calendar_id, event_id, room)
        return
    timer = threading.Timer(delay, _safe_respond, args=(world, calendar_id, event_id, room))
    timer.daemon = True
    with world.lock:
        timers: list[threading.Timer] = world.extra.setdefault(TIMERS, [])
        timers[:] = [t for t in timers if t.is_alive()]
        timers.append(timer)
    timer.start()


def _safe_respond(world: World, calendar_id: str, event_id: str, room: str) -> None:
    try:
        respond(world, calendar_id, event_id, room)
    except Exception:  # a background answer must never kill the timer thread silently mid-write
        import logging

        logging.getLogger(__name__).exception("room %s could not answer %s/%s", room, calendar_id, event_id)


def _may_book(world: World, res: Resource, organizer: str) -> bool:
    if res.bookable_by:
        return organizer in res.bookable_by
    room_domain = str(res.data.get("domain") or "")
    user = world.find_user(organizer)
    if user is None or user.deleted:
        return False
    return not room_domain or user.domain == room_domain


def _conflicts(world: World, room: str, start: datetime, end: datetime, series: str, source: str) -> bool:
    for piece in busy.pieces(world, room, start, end):
        if piece.source_calendar == source and piece.series_id == series:
            continue
        if piece.response == "accepted":
            return True
    return False


def respond(world: World, calendar_id: str, event_id: str, room: str) -> None:
    """Decide and write the room's answer to one event (see the module docstring)."""
    with world.lock:
        stored = world.events.get(calendar_id, {}).get(event_id)
        res = world.resources.get(room)
        if stored is None or res is None or stored.deleted or stored.data.get("status") == "cancelled":
            return
        data = stored.data
        status = next((str(a.get("responseStatus", "needsAction")) for a in data.get("attendees") or []
                       if str(a.get("email", "")).lower() == room), None)
        if status is None or res.data.get("autoAcceptInvitations") is False:
            return
        shapes: dict[tuple[str, str, str], Any] = world.extra.setdefault(ACCEPTED, {})
        key = (calendar_id, event_id, room)
        if status == "accepted" and shapes.get(key) == _shape(data):
            return
        if status not in ("needsAction", "accepted"):
            return
        organizer = str((data.get("organizer") or {}).get("email", "")).lower()
        declined_instances: list[StoredEvent] = []
        if not _may_book(world, res, organizer):
            answer = "declined"
        elif data.get("recurrence"):
            answer, declined_instances = _series_answer(world, stored, room)
        else:
            cal_zone = busy.zone_of(world.calendars[room].timeZone)
            start, end = busy.edge_utc(data.get("start"), cal_zone), busy.edge_utc(data.get("end"), cal_zone)
            series = str(data.get("recurringEventId") or stored.id)
            if start is None or end is None:
                return
            answer = "declined" if _conflicts(world, room, start, end, series, calendar_id) else "accepted"
        if answer == "accepted":
            shapes[key] = _shape(data)
        else:
            shapes.pop(key, None)
        snapshots = []
        for inst in declined_instances:
            world.events.setdefault(calendar_id, {})[inst.id] = inst
            world.record_event_write(inst)
            snapshots.append(copy.deepcopy(inst.data))
    world.set_attendee_response(calendar_id, event_id, room, answer)
    for snap in snapshots:
        world.fire_change(calendar_id, snap, run_event_hooks=False)


def _series_answer(world: World, master: StoredEvent, room: str) -> tuple[str, list[StoredEvent]]:
    src_cal = world.calendars[master.calendar_id]
    try:
        horizon = eventmodel.series_horizon(world, master, src_cal, SERIES_HORIZON)
        occs = eventmodel.occurrences(world, master, src_cal, horizon=horizon)
    except ApiError:
        return "declined", []
    existing = world.events.get(master.calendar_id, {})
    conflicting = []
    total = 0
    for occ in occs:
        iid = f"{master.id}_{occ.stamp}"
        if iid in existing:
            continue  # exceptions get their own answer
        total += 1
        inst = eventmodel.make_instance(master, occ)
        cal_zone = busy.zone_of(world.calendars[room].timeZone)
        start, end = busy.edge_utc(inst.get("start"), cal_zone), busy.edge_utc(inst.get("end"), cal_zone)
        if start is not None and end is not None and _conflicts(world, room, start, end, master.id,
                                                                master.calendar_id):
            conflicting.append(inst)
    if total == 0:
        return "accepted", []
    if len(conflicting) > 5 or len(conflicting) * 3 > total:
        return "declined", []
    declined: list[StoredEvent] = []
    for inst in conflicting:
        for att in inst.get("attendees") or []:
            if str(att.get("email", "")).lower() == room:
                att["responseStatus"] = "declined"
        exception = StoredEvent(master.calendar_id, inst, request_ids=set(master.request_ids))
        declined.append(exception)
    return "accepted", declined
