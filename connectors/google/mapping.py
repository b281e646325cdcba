"""Mapping between Muster's :class:`~connectors.ports.calendar.EventSpec` and Google Calendar's Event JSON.

Where it sits: ``connectors.google``, used only by :mod:`connectors.google.calendar`. This is the one
place that converts UTC instants to the session's wall time (``start.dateTime`` with its offset plus
``start.timeZone``, so Google expands a recurrence in that zone and keeps its local time across clock
changes) and back. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.errors import PermanentError
from connectors.ports.calendar import Attendee, Conference, EventSpec, RemoteEvent

MEET = "hangoutsMeet"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PermanentError(
            f"time zone {name!r} is not an IANA zone (e.g. Europe/Berlin)", reason="invalidTimeZone"
        ) from None


def _edge(instant: datetime, tz: str) -> dict[str, Any]:
    return {"dateTime": instant.astimezone(_zone(tz)).isoformat(), "timeZone": tz}


def _attendees(attendees: Iterable[Attendee]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in attendees:
        item: dict[str, Any] = {"email": a.email}
        if a.display_name:
            item["displayName"] = a.display_name
        if a.optional:
            item["optional"] = True
        if a.resource:
            item["resource"] = True
        # The guest's own answer, as last read: without it Google resets the guest to needsAction.
        if a.response_status:
            item["responseStatus"] = a.response_status
        if a.comment:
            item["comment"] = a.comment
        if a.additional_guests:
            item["additionalGuests"] = a.additional_guests
        out.append(item)
    return out


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _conference(conf: Conference) -> dict[str, Any] | None:
    if conf.kind != "meet" or not conf.request_id:
        return None
    return {"createRequest": {"requestId": conf.request_id, "conferenceSolutionKey": {"type": MEET}}}


def fields_body(spec: EventSpec, fields: Iterable[str]) -> dict[str, Any]:
    """The Event JSON carrying only the named field groups (see ``connectors.ports.calendar.FIELDS``)."""
    body: dict[str, Any] = {}
    for name in fields:
        if name == "summary":
            body["summary"] = spec.summary
        elif name == "description":
            body["description"] = spec.description
        elif name == "location":
            body["location"] = spec.location or ""
        elif name == "time":
            body["start"] = _edge(spec.start, spec.time_zone)
            body["end"] = _edge(spec.end, spec.time_zone)
        elif name == "recurrence":
            body["recurrence"] = list(spec.recurrence)
        elif name == "attendees":
            body["attendees"] = _attendees(spec.attendees)
        elif name == "guests":
            body["guestsCanInviteOthers"] = spec.guests_can_invite_others
            body["guestsCanModify"] = spec.guests_can_modify
            body["guestsCanSeeOtherGuests"] = spec.guests_can_see_other_guests
        elif name == "conference":
            # No Meet wanted any more (video changed to manual/none): null removes the conference
            # (with conferenceDataVersion=1, which every write sends); omitting it would keep it.
            body["conferenceData"] = _conference(spec.conference)
        elif name == "marker":
            body["extendedProperties"] = {"private": dict(spec.private)}
        elif name == "status":
            continue  # set by the caller (restore)
        else:
            raise ValueError(f"unknown field group {name!r}")
    return body


def insert_body(event_id: str, spec: EventSpec) -> dict[str, Any]:
    """The full Event JSON for ``events.insert`` with a client-chosen id."""
    body = fields_body(
        spec, ("summary", "description", "time", "attendees", "guests", "conference", "marker")
    )
    if body.get("conferenceData") is None:
        body.pop("conferenceData", None)  # nothing to remove on a new event
    body["id"] = event_id
    if spec.location:
        body["location"] = spec.location
    if spec.recurrence:
        body["recurrence"] = list(spec.recurrence)
    body["status"] = "confirmed"
    return body


def _parse_edge(edge: Mapping[str, Any] | None, fallback_tz: str) -> tuple[datetime, str]:
    edge = edge or {}
    tz = str(edge.get("timeZone") or fallback_tz)
    raw = edge.get("dateTime")
    if raw:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=_zone(tz))
        return value.astimezone(UTC), tz
    day = edge.get("date")
    if day:  # an all-day event (never written by Muster): midnight in its zone
        value = datetime.fromisoformat(str(day)).replace(tzinfo=_zone(tz))
        return value.astimezone(UTC), tz
    return datetime(1970, 1, 1, tzinfo=UTC), tz


def _conference_from(event: Mapping[str, Any]) -> tuple[Conference, str | None]:
    data = event.get("conferenceData") or {}
    if not data:
        return Conference(), None
    status = ((data.get("createRequest") or {}).get("status") or {}).get("statusCode")
    link = event.get("hangoutLink")
    for ep in data.get("entryPoints") or []:
        if ep.get("entryPointType") == "video":
            link = ep.get("uri") or link
    solution = ((data.get("conferenceSolution") or {}).get("key") or {}).get("type") or (
        ((data.get("createRequest") or {}).get("conferenceSolutionKey") or {}).get("type")
    )
    request_id = (data.get("createRequest") or {}).get("requestId")
    if solution == MEET:
        return Conference(kind="meet", link=link, request_id=request_id), status
    return Conference(kind="manual", link=link, request_id=request_id), status


def remote_event(calendar_id: str, event: Mapping[str, Any]) -> RemoteEvent:
    """Parse Google's Event JSON (tombstones included) into a :class:`RemoteEvent`."""
    start, tz = _parse_edge(event.get("start"), "UTC")
    end, _ = _parse_edge(event.get("end"), tz)
    organizer = str((event.get("organizer") or {}).get("email") or "").lower() or None
    attendees: list[Attendee] = []
    responses: dict[str, str] = {}
    for a in event.get("attendees") or []:
        email = str(a.get("email") or "").lower()
        if not email:
            continue
        responses[email] = str(a.get("responseStatus") or "needsAction")
        if a.get("organizer") and not a.get("resource"):
            continue  # the organizer's own entry is implicit in Muster's terms
        attendees.append(
            Attendee(
                email=email,
                display_name=a.get("displayName"),
                optional=bool(a.get("optional", False)),
                resource=bool(a.get("resource", False)),
                response_status=responses[email],
                comment=str(a["comment"]) if a.get("comment") else None,
                additional_guests=_count(a.get("additionalGuests")),
            )
        )
    private = (event.get("extendedProperties") or {}).get("private") or {}
    conference, conf_status = _conference_from(event)
    spec = EventSpec(
        summary=str(event.get("summary") or ""),
        description=str(event.get("description") or ""),
        location=event.get("location") or None,
        start=start,
        end=end,
        time_zone=tz,
        recurrence=tuple(event.get("recurrence") or ()),
        attendees=tuple(sorted(attendees, key=lambda x: x.email)),
        guests_can_invite_others=bool(event.get("guestsCanInviteOthers", True)),
        guests_can_modify=bool(event.get("guestsCanModify", False)),
        guests_can_see_other_guests=bool(event.get("guestsCanSeeOtherGuests", True)),
        conference=conference,
        private=tuple(sorted((str(k), str(v)) for k, v in private.items())),
    )
    return RemoteEvent(
        calendar_id=calendar_id,
        event_id=str(event.get("id") or ""),
        status=str(event.get("status") or "confirmed"),
        spec=spec,
        etag=event.get("etag"),
        organizer_email=organizer,
        html_link=event.get("htmlLink"),
        conference_status=conf_status,
        responses=responses,
    )
