"""Per-date rooms of a recurring session: where the series room declines single dates, another room is
booked on those dates only.

Where it sits: :class:`engine.delegation.hooks.DelegationHooks` calls :func:`reconcile_series_rooms` after
a write of a recurring delegation-mode session whose series room accepted the series. Google's room
auto-accept takes a series and declines the single dates it is busy on (reference §4.2); one room per
series stays the rule (:mod:`engine.delegation.rooms`), so each declined date gets its own room: the best room that
fits the session (:func:`engine.delegation.rooms.choose_room`, same policy as the series) and is free at that
instance's time, booked by patching that instance only (``<eventId>_<stamp>``; Google keeps it as an
exception of the series). A date where no room is free is reported, not retried until the session changes.

Level-triggered and idempotent: every call reads the series' instances and decides from what Google
shows, per date; a date that already holds a room that has not declined is left alone, so a second
call with nothing changed makes no write. Rooms that declined a date are remembered per date
(``tried``) so a replacement that declines is replaced by the next candidate, never asked again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.errors import ConnectorError
from connectors.ports.delegation import Availability, RoomDirectory, SeriesInstance
from engine.delegation.rooms import choose_room
from policies.rooms import RoomNeeds, RoomPolicy


@dataclass(frozen=True)
class DateRoom:
    """The room of one date of a series that the series room does not hold."""

    original_start: str  #: the occurrence's original start (RFC 3339, UTC as Google gives it)
    room_email: str | None  #: the room booked for that date; None: no room is free then
    room_name: str | None
    status: str  #: the date room's answer (needsAction | accepted | tentative) or ``none``
    reason: str
    tried: tuple[str, ...] = ()  #: rooms that declined this date (the series room first)

    def to_json(self) -> dict[str, Any]:
        return {
            "original_start": self.original_start,
            "room_email": self.room_email,
            "room_name": self.room_name,
            "status": self.status,
            "reason": self.reason,
            "tried": list(self.tried),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DateRoom:
        return cls(
            original_start=str(data.get("original_start") or ""),
            room_email=str(data["room_email"]) if data.get("room_email") else None,
            room_name=str(data["room_name"]) if data.get("room_name") else None,
            status=str(data.get("status") or "none"),
            reason=str(data.get("reason") or ""),
            tried=tuple(str(t) for t in data.get("tried") or []),
        )


@dataclass
class SeriesRooms:
    """What :func:`reconcile_series_rooms` saw and did."""

    total: int = 0  #: live (not cancelled) instances looked at
    dates: list[DateRoom] = field(default_factory=list)
    series_declined: list[str] = field(default_factory=list)  #: dates the series room declined
    writes: int = 0  #: instance patches made by this call

    @property
    def pending(self) -> bool:
        """A date room has not answered yet (look again shortly)."""
        return any(d.status == "needsAction" for d in self.dates)

    @property
    def without_room(self) -> list[DateRoom]:
        return [d for d in self.dates if d.room_email is None]


class _ListOnce:
    """A :class:`RoomDirectory` view that reads the room list once per call of the reconciler."""

    def __init__(self, inner: RoomDirectory) -> None:
        self.inner = inner
        self.calls = 0  #: the inner directory counts the requests
        self._rooms: dict[str | None, list[dict[str, Any]]] = {}

    def list_rooms(self, *, building_id: str | None = None) -> list[dict[str, Any]]:
        if building_id not in self._rooms:
            self._rooms[building_id] = self.inner.list_rooms(building_id=building_id)
        return self._rooms[building_id]

    def free_busy(self, emails: Sequence[str], start: datetime, end: datetime) -> dict[str, Availability]:
        return self.inner.free_busy(emails, start, end)

    def room_answers(self, calendar_id: str, event_id: str, room_email: str) -> list[tuple[str, str]]:
        return self.inner.room_answers(calendar_id, event_id, room_email)

    def series_instances(self, calendar_id: str, event_id: str) -> list[SeriesInstance]:
        return self.inner.series_instances(calendar_id, event_id)

    def set_instance_attendees(self, calendar_id: str, instance_id: str, attendees: Sequence[dict[str, Any]]) -> None:
        self.inner.set_instance_attendees(calendar_id, instance_id, attendees)


def _names(rooms: _ListOnce, building: str | None) -> dict[str, str]:
    from policies.rooms import RoomCandidate

    try:
        items = rooms.list_rooms(building_id=building)
    except ConnectorError:
        return {}
    return {c.email: c.name for c in (RoomCandidate.from_directory(i) for i in items) if c.email}


def reconcile_series_rooms(
    directory: RoomDirectory,
    *,
    calendar_id: str,
    event_id: str,
    series_room: str,
    needs: RoomNeeds,
    policy: RoomPolicy,
    previous: Sequence[DateRoom] = (),
) -> SeriesRooms:
    """Give every date the series room declined a room of its own (see the module docstring).

    Raises :class:`connectors.errors.ConnectorError` when the instances cannot be read or a patch fails;
    a room list or free/busy failure for one date is recorded on that date instead.
    """
    series_room = series_room.lower()
    before = {d.original_start: d for d in previous}
    rooms = _ListOnce(directory)
    out = SeriesRooms()
    for inst in directory.series_instances(calendar_id, event_id):
        if inst.cancelled:
            continue
        out.total += 1
        answers = inst.room_answers()
        series_answer = answers.get(series_room)
        if series_answer is not None and series_answer != "declined":
            continue  # the series room holds this date
        others = {e: a for e, a in answers.items() if e != series_room}
        earlier = before.get(inst.original_start)
        if series_answer is None and not others and earlier is None:
            continue  # no room here and Muster never booked one: not a date of ours
        out.series_declined.append(inst.original_start)
        tried = list(earlier.tried if earlier else ())
        for email in [series_room, *(e for e, a in others.items() if a == "declined")]:
            if email not in tried:
                tried.append(email)
        live = [(e, a) for e, a in others.items() if a != "declined"]
        if live:
            email, answer = live[0]
            name = earlier.room_name if earlier and earlier.room_email == email else None
            out.dates.append(
                DateRoom(inst.original_start, email, name, answer, _replaced(series_room, name or email), tuple(tried))
            )
            continue
        out.dates.append(_book(rooms, calendar_id, inst, series_room, needs, policy, tried, out))
    return out


def _replaced(series_room: str, room: str) -> str:
    return f"{series_room} declined this date (busy); {room} is booked for it instead"


def _book(
    rooms: _ListOnce,
    calendar_id: str,
    inst: SeriesInstance,
    series_room: str,
    needs: RoomNeeds,
    policy: RoomPolicy,
    tried: list[str],
    out: SeriesRooms,
) -> DateRoom:
    declined = f"{series_room} declined this date (busy)"
    if inst.start is None or inst.end is None:
        return DateRoom(inst.original_start, None, None, "none", f"{declined}; all-day dates get no room", tuple(tried))
    try:
        choice = choose_room(rooms, needs=needs, start=inst.start, end=inst.end, policy=policy, exclude=tried)
    except ConnectorError as exc:
        return DateRoom(
            inst.original_start,
            None,
            None,
            "none",
            f"{declined}; the room list could not be read ({exc})",
            tuple(tried),
        )
    if choice.email is None:
        return DateRoom(inst.original_start, None, None, "none", f"{declined}; {choice.error}", tuple(tried))
    drop = set(tried)
    attendees = [dict(a) for a in inst.attendees if str(a.get("email", "")).lower() not in drop]
    attendees.append({"email": choice.email, "resource": True, "responseStatus": "needsAction"})
    rooms.inner.set_instance_attendees(calendar_id, inst.instance_id, attendees)
    out.writes += 1
    name = choice.name or _names(rooms, needs.building).get(choice.email)
    return DateRoom(
        inst.original_start,
        choice.email,
        name,
        "needsAction",
        _replaced(series_room, name or choice.email),
        tuple(tried),
    )


def summary(series_room: str, result_dates: Sequence[DateRoom], total: int | None = None) -> str | None:
    """One line for ``binding.room_error`` when some dates have no room; None when every date has one."""
    missing = [d for d in result_dates if d.room_email is None]
    if not missing:
        return None
    shown = ", ".join(d.original_start[:16] for d in missing[:6]) + (" …" if len(missing) > 6 else "")
    of = f" of {total}" if total else ""
    return (
        f"{series_room} is booked for the series but declined {len(result_dates)}{of} dates; "
        f"no other room is free on {len(missing)} of them ({shown})"
    )
