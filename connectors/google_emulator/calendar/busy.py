"""Time occupied on a calendar: the events (and expanded recurring instances) in a window.

Where it sits: a pure read helper over the world, shared by ``freebusy.py`` (busy intervals),
``rooms.py`` (conflicts with a room's accepted bookings) and ``control/pages.py`` (the week view). It walks a
calendar's own events and its attendee copies, expands recurring masters into instances (skipping
instances that have a stored exception, which is visited on its own) and reports each piece with the
status of the calendar's own attendee entry. Call it holding ``world.lock``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.google_emulator.calendar import eventmodel
from connectors.google_emulator.errors import ApiError
from connectors.google_emulator.state import Calendar, CopyRef, StoredEvent, World


@dataclass
class Piece:
    """One occurrence on a calendar within a window."""

    source_calendar: str
    series_id: str  # master id for instances/exceptions, else the event id
    instance_id: str  # id of this occurrence (``<master>_<stamp>`` for instances)
    start: datetime  # UTC
    end: datetime  # UTC
    data: dict[str, Any]  # the event JSON of this occurrence (instance synthesized when needed)
    own: bool  # stored on this calendar (organizer's copy) rather than an attendee copy
    response: str | None  # this calendar's attendee responseStatus, if it is an attendee


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        return ZoneInfo("UTC")


def edge_utc(edge: dict[str, Any] | None, cal_zone: ZoneInfo) -> datetime | None:
    """An event ``start``/``end`` as UTC; all-day dates start at midnight in the calendar's zone."""
    if not isinstance(edge, dict):
        return None
    try:
        value = eventmodel.parse_edge(edge, "start")
    except ApiError:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    assert isinstance(value, date)
    return datetime.combine(value, time(), tzinfo=cal_zone).astimezone(UTC)


def _response_of(data: dict[str, Any], email: str) -> str | None:
    for att in data.get("attendees") or []:
        if str(att.get("email", "")).lower() == email:
            return str(att.get("responseStatus") or "needsAction")
    return None


def _alive(stored: StoredEvent, ref: CopyRef | None) -> bool:
    if stored.deleted or stored.moved_away or stored.data.get("status") == "cancelled":
        return False
    return not (ref is not None and ref.removed)


def pieces(world: World, calendar_id: str, t_min: datetime, t_max: datetime) -> list[Piece]:
    """Every live occurrence on ``calendar_id`` overlapping ``[t_min, t_max)``, sorted by start."""
    cal = world.calendars.get(calendar_id)
    if cal is None:
        return []
    cal_zone = zone_of(cal.timeZone)
    out: list[Piece] = []
    for stored, ref in world.visible_events(calendar_id):
        if not _alive(stored, ref):
            continue
        data = stored.data
        src_cal = world.calendars.get(stored.calendar_id) or cal
        if data.get("recurrence"):
            out.extend(_instances(world, stored, src_cal, calendar_id, cal_zone, t_min, t_max, ref is None))
            continue
        start, end = edge_utc(data.get("start"), cal_zone), edge_utc(data.get("end"), cal_zone)
        if start is None or end is None or not (start < t_max and end > t_min):
            continue
        series = str(data.get("recurringEventId") or stored.id)
        out.append(Piece(stored.calendar_id, series, stored.id, start, end, data, ref is None,
                         _response_of(data, calendar_id)))
    out.sort(key=lambda p: (p.start, p.end, p.instance_id))
    return out


def _instances(world: World, master: StoredEvent, src_cal: Calendar, calendar_id: str, cal_zone: ZoneInfo,
               t_min: datetime, t_max: datetime, own: bool) -> list[Piece]:
    try:
        occs = eventmodel.occurrences(world, master, src_cal, horizon=t_max)
    except ApiError:
        return []
    exceptions = world.events.get(master.calendar_id, {})
    found: list[Piece] = []
    for occ in occs:
        iid = f"{master.id}_{occ.stamp}"
        if iid in exceptions:
            continue  # the stored exception (moved, cancelled or changed) is visited on its own
        start = occ.start if isinstance(occ.start, datetime) else datetime.combine(occ.start, time(),
                                                                                    tzinfo=cal_zone)
        end = occ.end if isinstance(occ.end, datetime) else datetime.combine(occ.end, time(), tzinfo=cal_zone)
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if not (start < t_max and end > t_min):
            continue
        found.append(Piece(master.calendar_id, master.id, iid, start, end, master.data, own,
                           _response_of(master.data, calendar_id)))
    return found


def merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching intervals merged, sorted by start."""
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
