"""``events.quickAdd`` text → an event body: the emulator's small, predictable reading of Google's parser.

Where it sits: called by ``events.py`` (``POST /calendar/v3/calendars/{calendarId}/events/quickAdd``),
which then inserts the body like ``events.insert`` (same checks, ids, notifications). Google's parser is
natural language and unpublished; the emulator reads a documented subset so tests are deterministic:

* a date: ``2027-03-10``, ``March 10`` / ``Mar 10th`` / ``10 March`` (optionally followed by a year),
  ``today``, ``tomorrow``; none → today in the calendar's zone;
* a time or range: ``10am``, ``10:30pm``, ``14:00``, ``10am-11:30am``, ``14:00-15:00`` (``to`` works as
  ``-``); none → an all-day event on that date; a start without an end → one hour;
* ``at <place>`` (up to the date or time) becomes ``location``;
* what remains is the ``summary`` (the whole text if nothing else is found, as Google does).

Times are local to the calendar's ``timeZone`` (Google: "the calendar's time zone") and the event gets
that ``timeZone``. An empty ``text`` → 400 ``required`` naming ``text``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.google_emulator.errors import required

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_CLOCK = r"\d{1,2}(?::\d{2})?\s*(?:am|pm)?"
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH}(?:\s+(\d{{4}}))?\b", re.I)
_RELATIVE = re.compile(r"\b(today|tomorrow)\b", re.I)
_RANGE = re.compile(rf"\b({_CLOCK})\s*(?:-|\u2013|to)\s*({_CLOCK})(?![\w:])", re.I)
_SINGLE = re.compile(r"\b(\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{1,2}:\d{2})(?![\w:])", re.I)
_PLACE = re.compile(r"\bat\s+(.+)$", re.I)


def _clock(raw: str) -> time | None:
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", raw.strip(), re.I)
    if not m:
        return None
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _take(text: str, match: re.Match[str]) -> str:
    return (text[: match.start()] + " " + text[match.end():]).strip()


def _find_date(text: str, today: date) -> tuple[date, str]:
    if m := _ISO.search(text):
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))), _take(text, m)
        except ValueError:
            pass
    for pattern, month_group, day_group in ((_MONTH_DAY, 1, 2), (_DAY_MONTH, 2, 1)):
        if m := pattern.search(text):
            year = int(m.group(3)) if m.group(3) else today.year
            try:
                found = date(year, _MONTHS[m.group(month_group)[:3].lower()], int(m.group(day_group)))
            except ValueError:
                continue
            if not m.group(3) and found < today:
                found = found.replace(year=found.year + 1)  # "March 10" in April means next March
            return found, _take(text, m)
    if m := _RELATIVE.search(text):
        return today + timedelta(days=1 if m.group(1).lower() == "tomorrow" else 0), _take(text, m)
    return today, text


def parse(text: str, tz_name: str, now: datetime) -> dict[str, Any]:
    """The event body ``text`` describes, in the calendar's zone ``tz_name``."""
    text = " ".join((text or "").split())
    if not text:
        raise required("text")
    tz = ZoneInfo(tz_name)
    day, rest = _find_date(text, now.astimezone(tz).date())
    start_t = end_t = None
    if (m := _RANGE.search(rest)) and _clock(m.group(1)) and _clock(m.group(2)):
        start_t, end_t = _clock(m.group(1)), _clock(m.group(2))
        rest = _take(rest, m)
    elif m := _SINGLE.search(rest):
        start_t = _clock(m.group(1))
        if start_t is not None:
            rest = _take(rest, m)
    body: dict[str, Any] = {}
    if m := _PLACE.search(rest):
        body["location"] = m.group(1).strip(" ,")
        rest = rest[: m.start()].strip()
    body["summary"] = " ".join(rest.replace(" ,", ",").split()).strip(" ,-") or text
    if start_t is None:
        body["start"] = {"date": day.isoformat()}
        body["end"] = {"date": (day + timedelta(days=1)).isoformat()}
        return body
    start = datetime.combine(day, start_t, tzinfo=tz)
    end = datetime.combine(day, end_t, tzinfo=tz) if end_t is not None else start + timedelta(hours=1)
    if end <= start:
        end += timedelta(days=1)  # "11pm-1am" ends the next day
    body["start"] = {"dateTime": start.isoformat(), "timeZone": tz_name}
    body["end"] = {"dateTime": end.isoformat(), "timeZone": tz_name}
    return body
