"""What one caller is shown of an event on a read: private details, ``maxAttendees``, ``timeZone``.

Where it sits: the last step of ``events.get`` (``events.py``) and of ``events.list`` / ``events.instances``
(``eventlist.py``), after ``eventmodel.render`` has built the calendar's view of the event. Rules, from the
discovery document:

* ``visibility: private`` - "The event is private and only event attendees may view event details."
  A caller with less than writer access to the calendar who is neither the organizer nor a guest gets
  the event's time and identity only (:data:`PRIVATE_KEEP`): no summary, description, location,
  guests, conference or extended properties;
* ``maxAttendees`` - "The maximum number of attendees to include in the response. If there are more
  than the specified number of attendees, only the participant is returned." (with
  ``attendeesOmitted: true``); honoured by get, list and instances alike;
* ``timeZone`` - "Time zone used in the response. Optional. The default is the time zone of the
  calendar." Every ``dateTime`` (start, end, originalStartTime) is expressed in that zone; the
  event's own ``timeZone`` fields are kept. Without the parameter, a ``dateTime`` is answered as it was
  stored (with the offset it was written in, see ``eventmodel.with_offsets``) - the same instant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request

from connectors.google_emulator.calendar.common import ROLE_RANK, q_int
from connectors.google_emulator.errors import bad_request
from connectors.google_emulator.state import Calendar, World

#: Fields a non-guest reader still sees of a private event (its time, identity and status).
PRIVATE_KEEP = (
    "kind", "etag", "id", "status", "htmlLink", "created", "updated", "start", "end", "endTimeUnspecified",
    "recurrence", "recurringEventId", "originalStartTime", "transparency", "visibility", "iCalUID",
    "sequence", "eventType",
)
_EDGES = ("start", "end", "originalStartTime")


class ReadView:
    """The read options of one request (``maxAttendees``, ``timeZone``) and who is reading."""

    def __init__(self, world: World, cal: Calendar, request: Request, reader: str) -> None:
        self.max_attendees = q_int(request, "maxAttendees", None, lo=1)
        raw_zone = request.query_params.get("timeZone")
        self.zone: ZoneInfo | None = None
        if raw_zone is not None:
            try:
                self.zone = ZoneInfo(raw_zone)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
                raise bad_request(f"Invalid time zone definition: {raw_zone}", location="timeZone") from None
        self.zone_name = raw_zone
        self.reader = reader.lower()
        self.sees_private = ROLE_RANK[world.access_role(cal, reader)] >= ROLE_RANK["writer"]

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (a rendered event, not mutated) as this reader is shown it."""
        out = data
        if data.get("visibility") == "private" and not self.sees_private and not self._takes_part(data):
            out = {k: v for k, v in data.items() if k in PRIVATE_KEEP}
        if self.zone is not None:
            out = dict(out)
            for edge in _EDGES:
                value = out.get(edge)
                if isinstance(value, dict) and value.get("dateTime"):
                    moment = datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
                    out[edge] = {**value, "dateTime": moment.astimezone(self.zone).isoformat()}
        return _trim_attendees(out, self.max_attendees)

    def _takes_part(self, data: dict[str, Any]) -> bool:
        if str((data.get("organizer") or {}).get("email", "")).lower() == self.reader:
            return True
        return any(str(a.get("email", "")).lower() == self.reader for a in data.get("attendees") or [])


def _trim_attendees(data: dict[str, Any], max_attendees: int | None) -> dict[str, Any]:
    atts = data.get("attendees")
    if max_attendees is None or not atts or len(atts) <= max_attendees:
        return data
    data = dict(data)
    data["attendees"] = [a for a in atts if a.get("self")]
    if not data["attendees"]:
        data.pop("attendees")
    data["attendeesOmitted"] = True
    return data
