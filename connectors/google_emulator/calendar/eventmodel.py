"""Event rules of the emulated Calendar that do not touch HTTP: validation, merge, attendees, views, mail.

Where it sits: used by ``events.py`` (handlers) under ``world.lock``. Covers: client id rules
(``[a-v0-9]{5,1024}``), start/end parsing, update (replace) vs patch (recursive merge of objects, lists
replaced as a whole; ``start``/``end`` replaced whole - the stricter reading), attendee normalisation
(organizer accepted, others ``needsAction``; a guest re-sent without ``responseStatus`` goes back to
``needsAction`` - observed: "Google reads an absent responseStatus as needsAction, so adding one person
un-answers everybody", openonion/connectonion#1558, 2026 - while the organizer's and rooms' answers are
kept (not documented either way); ``resource`` only settable when an attendee is first added), the
``sequence`` bump on time/location/recurrence changes, the read view of an event for a given calendar
(``self`` flags; private extended properties only on the organizer's copy; minimal tombstones for
removed attendee copies), recurring instances and the invitations outbox.

Invitations outbox (:func:`notify`) - what Google e-mails because of ``sendUpdates``:

* ``all`` → "Notifications are sent to all guests"; ``externalOnly`` → "to non-Google Calendar guests
  only"; ``none`` → "No notifications are sent" (discovery ``calendar.v3.json``, enumDescriptions of
  ``sendUpdates`` on insert/update/patch/delete/move). The organizer and room resources never get mail.
* Omitted ``sendUpdates`` is NOT silence: "Note that some emails might still be sent" (discovery,
  events.insert ``sendUpdates`` / every ``sendNotifications``); observed: guests on non-Google mail
  hosts received invitations from API writes without ``sendUpdates`` (timbal-ai/timbal#175, 2026); and
  "Google Calendar always sends notification emails to guests who don't use Google Calendar"
  (support.google.com/calendar/answer/9123539). So omitted behaves like ``externalOnly``.
* Who counts as a Google Calendar guest: users of the world's domains and Gmail addresses; every other
  address is a non-Google Calendar guest (a Workspace user of a foreign domain is treated as external:
  the stricter reading, it sends more mail).
* Per recipient on a write sent with notifications: added guest → ``invitation``; removed guest →
  ``cancellation``; guest who stays → ``update``, whatever changed. The parameter is documented as
  "Guests who should receive notifications about the event update (for example, title changes, etc.)"
  / "(for example, description changes, etc.)" (discovery, update/patch) - so a description-only
  change e-mails every guest - and adding one attendee with ``sendUpdates=all`` was observed to e-mail
  ALL attendees, not only the new one (googleapis/google-api-nodejs-client#3310, 2023: "all the
  attendees will receive an email every time a new attendee is added"); the API has no "new guests
  only" choice. Removing a guest is treated the same way (remaining guests get an ``update``): not
  documented either way - the stricter reading. A write that changes nothing guest-visible (or nothing
  at all) still e-mails when sent with notifications: Google documents no diffing - stricter reading.
  ``events.move`` with notifications sends every guest an ``update`` ("notifications about the change
  of the event's organizer"); ``events.delete`` and ``status: cancelled`` send ``cancellation``s;
  ``events.import`` never sends mail. Not modelled (the emulator sends more, never less): Google skips
  guests of past events and guests who turned e-mail notifications off (answer/9123539).
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.google_emulator.calendar import recurrence
from connectors.google_emulator.errors import ApiError, bad_request
from connectors.google_emulator.state import Calendar, CopyRef, StoredEvent, World

ID_RE = re.compile(r"^[a-v0-9]{5,1024}$")
WRITABLE = (
    "summary",
    "description",
    "location",
    "colorId",
    "start",
    "end",
    "endTimeUnspecified",
    "recurrence",
    "transparency",
    "visibility",
    "attendees",
    "extendedProperties",
    "anyoneCanAddSelf",
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "privateCopy",
    "reminders",
    "source",
    "attachments",
    "eventType",
    "status",
    "gadget",
    "workingLocationProperties",
    "outOfOfficeProperties",
    "focusTimeProperties",
    "birthdayProperties",
)
DEFAULTS: dict[str, Any] = {
    "guestsCanInviteOthers": True,
    "guestsCanSeeOtherGuests": True,
    "guestsCanModify": False,
    "anyoneCanAddSelf": False,
    "privateCopy": False,
    "transparency": "opaque",
    "visibility": "default",
    "endTimeUnspecified": False,
}
SIGNIFICANT = ("start", "end", "location", "recurrence")
#: EventAttendee.responseStatus: "if more than 200 guests are invited to the event, response status is not
#: propagated to the guests" - a guest's copy then shows the others as needsAction.
PROPAGATED_GUESTS = 200
#: Larger guest lists are refused (Google's help caps guests per event; the exact API message is unknown).
MAX_GUESTS = 1000
STATUSES = ("confirmed", "tentative", "cancelled")
RESOURCE_SUFFIX = "@resource.calendar.google.com"


def check_client_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not ID_RE.match(event_id):
        raise bad_request("Invalid resource id value.")
    return event_id


def zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise bad_request("Invalid time zone definition for start time.", location="start.timeZone") from None


def parse_edge(edge: Any, field: str) -> datetime | date:
    """``start``/``end`` object → aware UTC datetime or date. Bad → 400 naming the field."""
    if not isinstance(edge, dict):
        raise ApiError(400, "required", f"Missing {field} time.")
    if edge.get("timeZone"):
        zone(str(edge["timeZone"]), "UTC")
    if edge.get("dateTime"):
        raw = str(edge["dateTime"])
        try:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f"Invalid {field} time.", location=field) from None
        if dt.tzinfo is None:
            if not edge.get("timeZone"):
                raise bad_request(f"Missing time zone definition for {field} time.", location=field)
            dt = dt.replace(tzinfo=zone(str(edge["timeZone"]), "UTC"))
        return dt.astimezone(UTC)
    if edge.get("date"):
        try:
            return date.fromisoformat(str(edge["date"]))
        except ValueError:
            raise bad_request(f"Invalid {field} time.", location=field) from None
    raise ApiError(400, "required", f"Missing {field} time.")


def bounds(data: dict[str, Any]) -> tuple[datetime, datetime]:
    """UTC start/end of an event (all-day dates at UTC midnight)."""
    s, e = parse_edge(data.get("start"), "start"), parse_edge(data.get("end"), "end")
    return _utc(s), _utc(e)


def _utc(v: datetime | date) -> datetime:
    return v if isinstance(v, datetime) else datetime.combine(v, time(), tzinfo=UTC)


def check_times(data: dict[str, Any]) -> None:
    s, e = parse_edge(data.get("start"), "start"), parse_edge(data.get("end"), "end")
    if isinstance(s, datetime) != isinstance(e, datetime):
        raise bad_request("Start and end times must either both be date or both be dateTime.")
    if _utc(e) < _utc(s):
        raise ApiError(
            400,
            "timeRangeEmpty",
            "The specified time range is empty.",
            domain="calendar",
            location="end",
            location_type="parameter",
        )


def with_offsets(data: dict[str, Any]) -> None:
    """Store a local ``dateTime`` (no offset, zone in ``timeZone``) as RFC 3339 with that zone's offset,
    as Google answers it on insert, get and list (``2027-03-10T10:00:00`` + ``Europe/Paris`` →
    ``2027-03-10T10:00:00+01:00``). Values written with an offset or ``Z`` are kept as written."""
    for field in ("start", "end"):
        edge = data.get(field)
        if not isinstance(edge, dict) or not edge.get("dateTime") or not edge.get("timeZone"):
            continue
        local = datetime.fromisoformat(str(edge["dateTime"]).replace("Z", "+00:00"))
        if local.tzinfo is None:
            aware = local.replace(tzinfo=zone(str(edge["timeZone"]), "UTC"))
            edge["dateTime"] = aware.astimezone(UTC).astimezone(aware.tzinfo).isoformat()


def merge(old: Any, patch: Any) -> Any:
    """PATCH semantics: objects merge recursively, ``null`` deletes, lists and scalars replace."""
    if isinstance(old, dict) and isinstance(patch, dict):
        out = dict(old)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(out.get(k), v)
        return out
    return copy.deepcopy(patch)


def strip_defaults(data: dict[str, Any]) -> None:
    for k, v in DEFAULTS.items():
        if data.get(k) == v:
            data.pop(k)


def is_resource_email(world: World, email: str) -> bool:
    return email.endswith(RESOURCE_SUFFIX) or email in world.resources


def check_guest_count(data: dict[str, Any]) -> None:
    guests = data.get("attendees") or []
    if isinstance(guests, list) and len(guests) > MAX_GUESTS:
        raise bad_request(f"Too many attendees: {len(guests)}; an event may have at most {MAX_GUESTS}.",
                          location="attendees")


def normalize_attendees(
    world: World, new: dict[str, Any], old: dict[str, Any] | None, organizer: str
) -> None:
    atts = new.get("attendees")
    if atts is None:
        new.pop("attendees", None)
        return
    if not isinstance(atts, list):
        raise bad_request("Invalid attendees.", location="attendees")
    previous = {str(a.get("email", "")).lower(): a for a in (old or {}).get("attendees") or []}
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for att in atts:
        if not isinstance(att, dict) or not att.get("email"):
            raise bad_request("Missing attendee email.", reason="required")
        email = str(att["email"]).strip().lower()
        if "@" not in email:
            raise bad_request(f"Invalid attendee email: {email}", location="attendees")
        if email in seen:
            continue
        seen.add(email)
        item = {
            k: v
            for k, v in att.items()
            if k in ("displayName", "optional", "responseStatus", "comment", "additionalGuests", "resource")
        }
        item["email"] = email
        prev = previous.get(email)
        if prev is not None:
            if prev.get("resource"):
                item["resource"] = True
            else:
                item.pop("resource", None)
            if "responseStatus" not in att:
                # Google reads an absent responseStatus as needsAction: re-sending a guest list of bare
                # e-mails un-answers every guest. Kept: the organizer's own answer and rooms' answers.
                keep = prev.get("resource") or email == organizer
                item["responseStatus"] = prev.get("responseStatus", "needsAction") if keep else "needsAction"
            elif att.get("responseStatus") == prev.get("responseStatus"):
                item["responseStatus"] = prev.get("responseStatus", "needsAction")
        else:
            if is_resource_email(world, email):
                item["resource"] = True
            if not item.get("resource"):
                item.pop("resource", None)
        if email == organizer:
            item["organizer"] = True
            item["responseStatus"] = item.get("responseStatus") if prev is not None else "accepted"
        item.setdefault("responseStatus", "needsAction")
        if item["responseStatus"] not in ("needsAction", "declined", "tentative", "accepted"):
            raise bad_request("Invalid attendee responseStatus.", location="attendees")
        if item.get("optional") is False:
            item.pop("optional")
        out.append(item)
    if out:
        new["attendees"] = out
    else:
        new.pop("attendees", None)


def bump_sequence(old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    if old is None:
        new["sequence"] = int(new.get("sequence") or 0)
        return
    seq = int(old.get("sequence") or 0)
    if any(old.get(f) != new.get(f) for f in SIGNIFICANT):
        seq += 1
    new["sequence"] = max(seq, int(new.get("sequence") or 0))


def attendee_emails(data: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {str(a.get("email", "")).lower(): a for a in (data or {}).get("attendees") or []}


def render(stored: StoredEvent, view_cal: str, ref: CopyRef | None = None) -> dict[str, Any]:
    """The event as the calendar ``view_cal`` sees it."""
    data = stored.data
    if ref is not None and ref.removed:
        gone = {"kind": "calendar#event", "etag": data["etag"], "id": data["id"], "status": "cancelled"}
        for key in ("recurringEventId", "originalStartTime"):  # guaranteed on cancelled instances
            if key in data:
                gone[key] = copy.deepcopy(data[key])
        return gone
    if stored.moved_away:
        return {"kind": "calendar#event", "etag": data["etag"], "id": data["id"], "status": "cancelled"}
    out = copy.deepcopy(data)
    if ref is not None:
        ext = out.get("extendedProperties")
        if ext:
            ext.pop("private", None)
            if not ext:
                out.pop("extendedProperties")
    for key in ("organizer", "creator"):
        person = out.get(key)
        if isinstance(person, dict):
            person.pop("self", None)
            if str(person.get("email", "")).lower() == view_cal:
                person["self"] = True
    guests = out.get("attendees") or []
    hide_answers = ref is not None and len(guests) > PROPAGATED_GUESTS
    for att in guests:
        att.pop("self", None)
        if att.get("email") == view_cal:
            att["self"] = True
        elif hide_answers and not att.get("organizer"):
            att["responseStatus"] = "needsAction"  # "response status is not propagated to the guests"
            att.pop("comment", None)
    return out


def occurrences(
    world: World,
    master: StoredEvent,
    cal: Calendar,
    horizon: datetime | None = None,
    limit: int = recurrence.MAX_INSTANCES,
) -> list[recurrence.Occurrence]:
    data = master.data
    start = parse_edge(data["start"], "start")
    end = parse_edge(data["end"], "end")
    tz = zone(str(data["start"].get("timeZone") or ""), cal.timeZone)
    rule = recurrence.parse(list(data.get("recurrence") or []), tz)
    return recurrence.expand(rule, start, end, tz, horizon=horizon, limit=limit)


def series_horizon(world: World, master: StoredEvent, cal: Calendar, ahead: timedelta) -> datetime | None:
    """How far to expand a series when every instance matters (room conflicts): a bounded series
    (``COUNT``/``UNTIL``/RDATEs only) to its end, an unbounded one ``ahead`` past its start or now,
    whichever is later (a series starting next year is checked for a full ``ahead`` too)."""
    data = master.data
    tz = zone(str(data["start"].get("timeZone") or ""), cal.timeZone)
    if recurrence.parse(list(data.get("recurrence") or []), tz).bounded:
        return None
    return max(world.now(), _utc(parse_edge(data["start"], "start"))) + ahead


def check_recurring_start(data: dict[str, Any]) -> None:
    """A timed recurring event needs ``start.timeZone`` (discovery: "For recurring events this field is
    required and specifies the time zone in which the recurrence is expanded")."""
    start = data.get("start")
    if data.get("recurrence") and isinstance(start, dict) and start.get("dateTime") and not start.get("timeZone"):
        raise ApiError(400, "required", "Missing time zone definition for start time.", location="start.timeZone")


def _edge_json(value: datetime | date, tz_name: str | None) -> dict[str, Any]:
    if isinstance(value, datetime):
        out: dict[str, Any] = {"dateTime": value.isoformat()}
        if tz_name:
            out["timeZone"] = tz_name
        return out
    return {"date": value.isoformat()}


def make_instance(master: StoredEvent, occ: recurrence.Occurrence) -> dict[str, Any]:
    """A synthesized instance of a recurring master (no ``recurrence``; ``recurringEventId`` set)."""
    data = copy.deepcopy(master.data)
    tz_name = data["start"].get("timeZone")
    data.pop("recurrence", None)
    data["id"] = f"{master.id}_{occ.stamp}"
    data["recurringEventId"] = master.id
    data["start"] = _edge_json(occ.start, tz_name)
    data["end"] = _edge_json(occ.end, data["end"].get("timeZone"))
    data["originalStartTime"] = _edge_json(occ.start, tz_name)
    return data


GOOGLE_MAIL_DOMAINS = ("gmail.com", "googlemail.com")


def uses_google_calendar(world: World, email: str) -> bool:
    """Whether ``email`` is a Google Calendar user (a Workspace user of the world, or a Gmail address).

    Anyone else (another company's mail, Outlook ...) is a "non-Google Calendar guest" for
    ``sendUpdates=externalOnly`` and for the default (omitted ``sendUpdates``)."""
    email = email.lower()
    return (
        email in world.users
        or email in world.calendars
        or email.rsplit("@", 1)[-1] in world.domains
        or email.rsplit("@", 1)[-1] in GOOGLE_MAIL_DOMAINS
    )


def notify(
    world: World,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    send_updates: str,
    organizer: str,
    calendar_id: str,
    event_id: str,
) -> None:
    """Record the e-mails Google sends for this write (see the module docstring for the sources).

    ``send_updates``: ``all`` → every guest; ``externalOnly`` and ``default`` (parameter omitted) →
    only non-Google Calendar guests; ``none`` → nobody. Per recipient: a guest new to the event gets an
    ``invitation``, a guest removed from it (or every guest when the event is cancelled) a
    ``cancellation``, and every guest who stays an ``update`` - on ANY update/patch/move sent with
    notifications, including one that only adds or removes other guests or changes only the
    description (Google does not let a client notify only the added guests).
    """
    if send_updates not in ("all", "externalOnly", "default"):
        return

    def wanted(email: str, att: dict[str, Any]) -> bool:
        if email == organizer or att.get("resource") or is_resource_email(world, email):
            return False
        return send_updates == "all" or not uses_google_calendar(world, email)

    old = attendee_emails(before) if before and before.get("status") != "cancelled" else {}
    cancelled = after is None or after.get("status") == "cancelled"
    new = {} if cancelled else attendee_emails(after)
    summary = str((after or before or {}).get("summary", ""))
    for email, att in new.items():
        if not wanted(email, att):
            continue
        kind: Literal["invitation", "update"] = "update" if email in old else "invitation"
        world.add_outbox(kind, email, event_id, calendar_id, organizer, summary)
    for email, att in old.items():
        if email not in new and wanted(email, att):
            world.add_outbox("cancellation", email, event_id, calendar_id, organizer, summary)


def send_updates_param(params: Any) -> str:
    """``all`` | ``externalOnly`` | ``none`` as asked, or ``default`` when the caller did not say.

    The default is not silence: "Note that some emails might still be sent" (discovery, insert); the
    deprecated ``sendNotifications=true`` means ``all``, ``false`` is the default again."""
    raw = params.get("sendUpdates")
    if raw is None:
        legacy = params.get("sendNotifications")
        return "all" if legacy == "true" else "default"
    if raw not in ("all", "externalOnly", "none"):
        raise bad_request(f"Invalid value for sendUpdates: {raw}", location="sendUpdates")
    return str(raw)


def default_end_horizon() -> timedelta:
    return timedelta(days=3 * 365)
