"""Event rules of the emulated Calendar that do not touch HTTP: validation, merge, attendees, views, mail.

Where it sits: used by ``events.py`` (handlers) under ``world.lock``. Covers: client id rules
(``[a-v0-9]{5,1024}``), start/end parsing, update (replace) vs patch (recursive merge of objects, lists
replaced as a whole; ``start``/``end`` replaced whole - the stricter reading), attendee normalisation
(organizer accepted, others ``needsAction``, existing responses kept, ``resource`` only settable when an
attendee is first added), the ``sequence`` bump on time/location/recurrence changes, the read view of an
event for a given calendar (``self`` flags; private extended properties only on the organizer's copy;
minimal tombstones for removed attendee copies), recurring instances and the invitations outbox.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.google_emulator import recurrence
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
NOTIFY_FIELDS = (
    "summary",
    "description",
    "location",
    "start",
    "end",
    "recurrence",
    "conferenceData",
    "status",
)
STATUSES = ("confirmed", "tentative", "cancelled")
RESOURCE_SUFFIX = "@resource.calendar.google.com"


def check_client_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not ID_RE.match(event_id):
        raise bad_request("Invalid resource id value.")
    return event_id


def zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
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
            if "responseStatus" not in att or att.get("responseStatus") == prev.get("responseStatus"):
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
        return {"kind": "calendar#event", "etag": data["etag"], "id": data["id"], "status": "cancelled"}
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
    for att in out.get("attendees") or []:
        att.pop("self", None)
        if att.get("email") == view_cal:
            att["self"] = True
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
    """Record the e-mails Google would send for this write (``sendUpdates`` all/externalOnly/none)."""
    if send_updates not in ("all", "externalOnly"):
        return
    org_domain = organizer.rsplit("@", 1)[-1]

    def wanted(email: str, att: dict[str, Any]) -> bool:
        if email == organizer or att.get("resource") or is_resource_email(world, email):
            return False
        return send_updates == "all" or email.rsplit("@", 1)[-1] != org_domain

    old = attendee_emails(before) if before and before.get("status") != "cancelled" else {}
    cancelled = after is None or after.get("status") == "cancelled"
    new = {} if cancelled else attendee_emails(after)
    summary = str((after or before or {}).get("summary", ""))
    changed = (
        before is not None and after is not None and any(before.get(f) != after.get(f) for f in NOTIFY_FIELDS)
    )
    for email, att in new.items():
        if not wanted(email, att):
            continue
        if email not in old:
            world.add_outbox("invitation", email, event_id, calendar_id, organizer, summary)
        elif changed:
            world.add_outbox("update", email, event_id, calendar_id, organizer, summary)
    for email, att in old.items():
        if email not in new and wanted(email, att):
            world.add_outbox("cancellation", email, event_id, calendar_id, organizer, summary)


def send_updates_param(params: Any) -> str:
    raw = params.get("sendUpdates")
    if raw is None:
        legacy = params.get("sendNotifications")
        return "all" if legacy == "true" else "none"
    if raw not in ("all", "externalOnly", "none"):
        raise bad_request(f"Invalid value for sendUpdates: {raw}", location="sendUpdates")
    return str(raw)


def default_end_horizon() -> timedelta:
    return timedelta(days=3 * 365)
