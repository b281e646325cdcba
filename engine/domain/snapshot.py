"""A :class:`~connectors.ports.calendar.RemoteEvent` as JSON and back: the event Muster last wrote or read.

Where it sits: pure, beside :mod:`engine.domain.plan`. :mod:`engine.sync.record` stores :func:`dump` of the
event Google returned after a write (or of the event a reconcile read) in ``CalendarBinding.last_written``;
the reconciler turns it back with :func:`load` and plans against it without reading Google first (the
write then carries ``If-Match`` on its etag, so a change made in Google meanwhile answers 412 and is read).
A document that cannot be read back (another version wrote it, or it was edited by hand) loads as
``None``: the reconcile then simply reads the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.ports.calendar import Attendee, Conference, EventSpec, RemoteEvent

#: Bumped when the layout changes; an older document is not trusted (the reconcile reads instead).
VERSION = 1


def dump(remote: RemoteEvent) -> dict[str, Any]:
    """JSON-ready; every instant as an ISO string with its UTC offset."""
    spec = remote.spec
    return {
        "v": VERSION,
        "calendar_id": remote.calendar_id,
        "event_id": remote.event_id,
        "status": remote.status,
        "etag": remote.etag,
        "organizer_email": remote.organizer_email,
        "html_link": remote.html_link,
        "conference_status": remote.conference_status,
        "responses": dict(remote.responses),
        "spec": {
            "summary": spec.summary,
            "description": spec.description,
            "location": spec.location,
            "start": spec.start.isoformat(),
            "end": spec.end.isoformat(),
            "time_zone": spec.time_zone,
            "recurrence": list(spec.recurrence),
            "attendees": [
                {
                    "email": a.email,
                    "display_name": a.display_name,
                    "optional": a.optional,
                    "resource": a.resource,
                    "response_status": a.response_status,
                    "comment": a.comment,
                    "additional_guests": a.additional_guests,
                }
                for a in spec.attendees
            ],
            "guests_can_invite_others": spec.guests_can_invite_others,
            "guests_can_modify": spec.guests_can_modify,
            "guests_can_see_other_guests": spec.guests_can_see_other_guests,
            "conference": {
                "kind": spec.conference.kind,
                "link": spec.conference.link,
                "request_id": spec.conference.request_id,
            },
            "private": [[k, v] for k, v in spec.private],
        },
    }


def load(data: Any) -> RemoteEvent | None:
    """The event :func:`dump` stored, or ``None`` when ``data`` is absent or not such a document."""
    if not isinstance(data, Mapping) or data.get("v") != VERSION:
        return None
    try:
        s = data["spec"]
        conference = s["conference"]
        spec = EventSpec(
            summary=str(s["summary"]),
            description=str(s["description"]),
            location=s["location"],
            start=datetime.fromisoformat(s["start"]),
            end=datetime.fromisoformat(s["end"]),
            time_zone=str(s["time_zone"]),
            recurrence=tuple(str(r) for r in s["recurrence"]),
            attendees=tuple(
                Attendee(
                    email=str(a["email"]),
                    display_name=a["display_name"],
                    optional=bool(a["optional"]),
                    resource=bool(a["resource"]),
                    response_status=a["response_status"],
                    comment=a["comment"],
                    additional_guests=int(a["additional_guests"]),
                )
                for a in s["attendees"]
            ),
            guests_can_invite_others=bool(s["guests_can_invite_others"]),
            guests_can_modify=bool(s["guests_can_modify"]),
            guests_can_see_other_guests=bool(s["guests_can_see_other_guests"]),
            conference=Conference(
                kind=conference["kind"], link=conference["link"], request_id=conference["request_id"]
            ),
            private=tuple((str(k), str(v)) for k, v in s["private"]),
        )
        return RemoteEvent(
            calendar_id=str(data["calendar_id"]),
            event_id=str(data["event_id"]),
            status=str(data["status"]),
            spec=spec,
            etag=data["etag"],
            organizer_email=data["organizer_email"],
            html_link=data["html_link"],
            conference_status=data["conference_status"],
            responses={str(k): str(v) for k, v in (data["responses"] or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
