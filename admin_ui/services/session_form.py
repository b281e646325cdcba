"""The session form as data: parse what the browser posted into the REST API's ``SessionCreate``.

Where it sits: :mod:`admin_ui.views.session_form` calls :func:`parse_form` on POST and
:func:`initial_from_session` on GET of the edit page. The form speaks in local wall-clock time plus an
IANA zone; here it becomes UTC instants (a wall time that does not exist in the zone, in the spring-forward
gap, is a field error, never silently shifted). The result is validated by the same pydantic model the
REST API uses, and each error is mapped back to the form field it belongs to.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from engine.api.schemas import SessionCreate
from engine.store.models import HostRole, LiveSession, VideoChoice

#: Recurrence choices offered by the form.
FREQUENCIES = {"none": "Does not repeat", "daily": "Daily", "weekly": "Weekly"}
#: Zones offered first in the select (the rest follow alphabetically).
COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
)

#: Which form field shows an error reported at a ``SessionCreate`` location.
_FIELD_FOR_LOC = {
    "title": "title",
    "description": "description",
    "time_zone": "time_zone",
    "start": "start_time",
    "end": "end_time",
    "recurrence": "recurrence",
    "location": "location",
    "status": "status",
    "video": "video",
    "manual_join_link": "manual_join_link",
    "url": "url",
    "capacity": "capacity",
    "organizer": "organizer",
    "co_hosts": "co_hosts",
    "presenters": "presenters",
    "external_id": "external_id",
}
_ROOM_FIELD = {
    "building": "room_building",
    "min_capacity": "room_min_capacity",
    "features": "room_features",
    "email": "room_email",
}


@lru_cache(maxsize=1)
def zone_choices() -> list[str]:
    rest = sorted(
        z
        for z in zoneinfo.available_timezones()
        if z not in COMMON_ZONES and "/" in z and not z.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))
    )
    return [*COMMON_ZONES, *rest]


@dataclass
class ParsedForm:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    data: SessionCreate | None = None


def _emails(text: str) -> list[str]:
    return [e for e in re.split(r"[\s,;]+", text.strip()) if e]


def _local(day: str, clock: str, zone: zoneinfo.ZoneInfo) -> datetime:
    """``day`` + ``clock`` in ``zone`` as aware UTC; ValueError if malformed or in a clock-change gap."""
    wall = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock))
    local = wall.replace(tzinfo=zone)
    back = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if back != wall:
        raise ValueError(f"{day} {clock} does not exist in {zone.key} (the clocks skip it); pick another time")
    return local.astimezone(UTC)


def _recurrence(
    values: dict[str, str],
    errors: dict[str, str],
    start_local: datetime | None,
    zone: zoneinfo.ZoneInfo | None,
) -> list[str] | None:
    freq = values.get("freq", "none")
    if freq == "none":
        return None
    if freq == "other":  # a rule the platform set through the API; kept as it is
        return [line for line in values.get("recurrence_raw", "").splitlines() if line.strip()] or None
    if freq not in FREQUENCIES:
        errors["freq"] = "choose does not repeat, daily or weekly"
        return None
    count, until = values.get("repeat_count", "").strip(), values.get("repeat_until", "").strip()
    if bool(count) == bool(until):
        errors["repeat_count"] = "give either a number of occurrences or an end date (one of the two)"
        return None
    rule = f"RRULE:FREQ={freq.upper()}"
    if count:
        if not count.isdigit() or not 1 <= int(count) <= 730:
            errors["repeat_count"] = "a whole number of occurrences from 1 to 730"
            return None
        return [f"{rule};COUNT={int(count)}"]
    try:
        last_day = date.fromisoformat(until)
    except ValueError:
        errors["repeat_until"] = "a date like 2027-06-30"
        return None
    if start_local is not None and zone is not None:
        if last_day < start_local.astimezone(zone).date():
            errors["repeat_until"] = "the end date is before the first session"
            return None
        # Google reads UNTIL in UTC when the event has a time zone: the end of that local day.
        end_of_day = datetime.combine(last_day, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
        return [f"{rule};UNTIL={end_of_day:%Y%m%dT%H%M%SZ}"]
    return None


def parse_form(form: dict[str, str], *, organizer_locked: str | None = None) -> ParsedForm:
    """Validate the posted form. ``organizer_locked`` forces the organizer (organizers create their own)."""
    values = {k: (v or "").strip() if k != "description" else (v or "") for k, v in form.items()}
    if organizer_locked:
        values["organizer"] = organizer_locked
    parsed = ParsedForm(values=values)
    errors = parsed.errors
    zone: zoneinfo.ZoneInfo | None = None
    try:
        zone = zoneinfo.ZoneInfo(values.get("time_zone", ""))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = "choose a time zone from the list"
    start = end = None
    if zone is not None:
        for key, day_key, clock_key in (
            ("start_time", "start_date", "start_time"),
            ("end_time", "end_date", "end_time"),
        ):
            day = values.get(day_key) or values.get("start_date", "")
            try:
                moment = _local(day, values.get(clock_key, ""), zone)
            except ValueError as exc:
                text = str(exc)
                errors[key] = text if "does not exist" in text else "give a date (YYYY-MM-DD) and a time (HH:MM)"
                continue
            if key == "start_time":
                start = moment
            else:
                end = moment
    recurrence = _recurrence(values, errors, start, zone)
    video = values.get("video", VideoChoice.NONE.value)
    room: dict[str, Any] | None = None
    if values.get("room_wanted"):
        room = {
            "building": values.get("room_building") or None,
            "features": [f for f in re.split(r"\s*,\s*", values.get("room_features", "")) if f],
            "email": values.get("room_email") or None,
        }
        min_cap = values.get("room_min_capacity", "")
        if min_cap:
            if not min_cap.isdigit():
                errors["room_min_capacity"] = "a whole number of seats"
            else:
                room["min_capacity"] = int(min_cap)
    capacity: int | None = None
    if values.get("capacity"):
        if not values["capacity"].isdigit():
            errors["capacity"] = "a whole number of learners, or empty for no limit"
        else:
            capacity = int(values["capacity"])
    if errors:
        return parsed
    payload: dict[str, Any] = {
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "time_zone": values.get("time_zone"),
        "start": start,
        "end": end,
        "recurrence": recurrence,
        "location": values.get("location") or None,
        "status": values.get("status") or "scheduled",
        "video": video,
        "manual_join_link": values.get("manual_join_link") or None,
        "url": values.get("url") or None,
        "capacity": capacity,
        "room": room,
        "organizer": values.get("organizer", ""),
        "co_hosts": _emails(values.get("co_hosts", "")),
        "presenters": _emails(values.get("presenters", "")),
    }
    try:
        parsed.data = SessionCreate.model_validate(payload)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(part) for part in err["loc"]]
            name = _FIELD_FOR_LOC.get(loc[0], "form") if loc else "form"
            if loc and loc[0] == "room" and len(loc) > 1:
                name = _ROOM_FIELD.get(loc[1], "room_wanted")
            message = str(err["msg"]).removeprefix("Value error, ")
            errors.setdefault(name, message)
    return parsed


def initial_from_session(session: LiveSession, hosts: list[tuple[str, str]]) -> dict[str, str]:
    """Form values for editing ``session``; ``hosts`` is ``[(email, role), ...]`` in order."""
    zone = zoneinfo.ZoneInfo(session.time_zone)
    start, end = session.start_at.astimezone(zone), session.end_at.astimezone(zone)
    values = {
        "external_id": session.external_id,
        "title": session.title,
        "description": session.description,
        "time_zone": session.time_zone,
        "start_date": start.date().isoformat(),
        "start_time": start.strftime("%H:%M"),
        "end_date": end.date().isoformat(),
        "end_time": end.strftime("%H:%M"),
        "location": session.location or "",
        "status": session.status,
        "video": session.video,
        "manual_join_link": session.manual_join_link or "",
        "url": session.platform_url or "",
        "capacity": str(session.capacity or ""),
        "room_wanted": "1" if session.room_wanted else "",
        "room_building": session.room_building or "",
        "room_min_capacity": str(session.room_min_capacity or ""),
        "room_features": ", ".join(session.room_features),
        "room_email": session.room_email or "",
        "organizer": next((e for e, r in hosts if r == HostRole.ORGANIZER.value), hosts[0][0] if hosts else ""),
        "co_hosts": ", ".join(e for e, r in hosts if r == HostRole.CO_HOST.value),
        "presenters": ", ".join(e for e, r in hosts if r == HostRole.PRESENTER.value),
        "freq": "none",
        "repeat_count": "",
        "repeat_until": "",
    }
    rule = (session.recurrence or "").splitlines()[0] if session.recurrence else ""
    match = re.match(r"RRULE:FREQ=(DAILY|WEEKLY)(?:;COUNT=(\d+))?(?:;UNTIL=(\d{8})T(\d{6})Z)?$", rule)
    if match:
        values["freq"] = match.group(1).lower()
        if match.group(2):
            values["repeat_count"] = match.group(2)
        if match.group(3):
            until = datetime.strptime(match.group(3) + match.group(4), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
            values["repeat_until"] = until.astimezone(zone).date().isoformat()
    elif rule:
        values["freq"] = "other"
        values["recurrence_raw"] = session.recurrence or ""
    return values
