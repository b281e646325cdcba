"""Recurrence expansion for the emulated Calendar: recurring masters → instances (RFC 5545).

Where it sits: used by ``eventmodel.occurrences`` for ``events.instances``, ``singleEvents=true``, instance
ids, free/busy and room conflicts; :func:`parse` is also the write-time check of an event's
``recurrence`` lines. Expansion is python-dateutil's ``rrule``/``rruleset`` (RFC 5545); each line is first checked by
:func:`connectors.ports.recurrence.check_recurrence_line` (with ``sub_daily=True``), the very check
Muster's REST API applies (with ``sub_daily=False``), so the two agree on what is valid.

What is accepted, as Google does (discovery: "List of RRULE, EXRULE, RDATE and EXDATE lines for a
recurring event, as specified in RFC5545"): one ``RRULE`` with every RFC 5545 part (``FREQ`` from
``SECONDLY`` to ``YEARLY``, ``INTERVAL``, ``COUNT`` or ``UNTIL``, ``BYDAY`` with ordinals such as ``2TU``,
``BYMONTHDAY``, ``BYMONTH``, ``BYYEARDAY``, ``BYWEEKNO``, ``BYSETPOS``, ``BYHOUR``/``BYMINUTE``/``BYSECOND``,
``WKST``); ``EXRULE`` lines; ``RDATE`` and ``EXDATE`` lines (``VALUE=DATE`` or date-times, with ``TZID=``,
in UTC with ``Z``, or floating = the event's zone). ``DTSTART``/``DTEND`` lines are refused (the
discovery document forbids them), as is anything that does not parse: 400 ``invalid`` "Invalid
recurrence rule." ``COUNT`` together with ``UNTIL`` is refused (RFC 5545: MUST NOT), as are values out
of their RFC 5545 range (``BYMONTH=13``), which dateutil alone would expand to nothing. ``UNTIL`` may
be a date, a floating date-time or UTC (dateutil would insist on UTC for a zoned start; Google accepts
all three).

Occurrences keep the master's local wall-clock time in its ``timeZone`` across DST changes (a wall time
that does not exist that day moves forward by the gap), as Google does. EXDATEs count towards ``COUNT``
but are not instances (RFC 5545 ``rruleset``). Unbounded rules are expanded up to a horizon (``limit``
occurrences / ``horizon`` instant) chosen by the caller.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as du

from connectors.google_emulator.errors import bad_request
from connectors.ports.recurrence import RecurrenceSyntaxError, check_recurrence_line

MAX_INSTANCES = 1000


@dataclass(frozen=True)
class Occurrence:
    """One instance: its start (aware, in the master's zone, or a date) and its instance id suffix."""

    start: datetime | date
    end: datetime | date

    @property
    def stamp(self) -> str:
        if isinstance(self.start, datetime):
            return self.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return self.start.strftime("%Y%m%d")


@dataclass(frozen=True)
class Rule:
    """A parsed ``recurrence`` list: rule bodies without ``UNTIL`` (kept apart, see module doc) and dates."""

    rrule: tuple[str, str | None] | None  # (body without UNTIL, raw UNTIL)
    exrules: tuple[tuple[str, str | None], ...]
    rdates: tuple[tuple[str, str | None], ...]  # (raw value, TZID or None)
    exdates: tuple[tuple[str, str | None], ...]

    @property
    def bounded(self) -> bool:
        """True when the series ends by itself (``COUNT``/``UNTIL`` on the rule, or RDATEs only)."""
        if self.rrule is None:
            return True
        body, until = self.rrule
        return until is not None or any(p.startswith("COUNT=") for p in body.split(";"))


def invalid() -> Exception:
    return bad_request("Invalid recurrence rule.", location="recurrence")


def _split_until(body: str) -> tuple[str, str | None]:
    parts = [p.strip() for p in body.split(";") if p.strip()]
    names = [p.partition("=")[0].upper() for p in parts]
    if len(set(names)) != len(names) or ("COUNT" in names and "UNTIL" in names):
        raise invalid()
    until = next((p.partition("=")[2] for p in parts if p.upper().startswith("UNTIL=")), None)
    return ";".join(p for p in parts if not p.upper().startswith("UNTIL=")), until


def _date_value(raw: str, tz: ZoneInfo) -> datetime | date:
    raw = raw.strip()
    if "T" not in raw:
        return datetime.strptime(raw, "%Y%m%d").replace(tzinfo=UTC).date()
    if raw.endswith("Z"):
        return datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.strptime(raw, "%Y%m%dT%H%M%S").replace(tzinfo=tz)


def _zone_param(head: str) -> str | None:
    tzid: str | None = None
    for param in head.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.upper() == "TZID":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
                raise invalid() from None
            tzid = value
        elif name.upper() != "VALUE" or value.upper() not in ("DATE", "DATE-TIME"):
            raise invalid()
    return tzid


def parse(lines: list[Any], tz: ZoneInfo) -> Rule:
    """Check and split ``recurrence`` lines; anything Google would refuse → 400 ``invalid``."""
    rrule: tuple[str, str | None] | None = None
    exrules: list[tuple[str, str | None]] = []
    rdates: list[tuple[str, str | None]] = []
    exdates: list[tuple[str, str | None]] = []
    for line in lines:
        text = str(line).strip()
        try:
            check_recurrence_line(text, sub_daily=True)
        except RecurrenceSyntaxError:
            raise invalid() from None
        head, sep, value = text.partition(":")
        kind = head.split(";")[0].upper()
        if not sep or not value.strip():
            raise invalid()
        if kind in ("RRULE", "EXRULE"):
            if head.upper() != kind:
                raise invalid()
            body = _split_until(value)
            if kind == "RRULE":
                if rrule is not None:
                    raise invalid()
                rrule = body
            else:
                exrules.append(body)
        elif kind in ("RDATE", "EXDATE"):
            tzid = _zone_param(head)
            for item in value.split(","):
                try:
                    _date_value(item, tz)
                except ValueError:
                    raise invalid() from None
                (rdates if kind == "RDATE" else exdates).append((item.strip(), tzid))
        else:
            raise invalid()  # DTSTART/DTEND and unknown properties
    if rrule is None and not rdates:
        raise invalid()
    for body in ([rrule] if rrule else []) + exrules:
        if body[1] is not None:
            try:
                _date_value(body[1], tz)
            except ValueError:
                raise invalid() from None
    return Rule(rrule, tuple(exrules), tuple(rdates), tuple(exdates))


def _local(value: datetime | date, tz: ZoneInfo, timed: bool) -> datetime:
    """A parsed date value as dateutil wants it: aware in ``tz`` for timed series, naive for all-day."""
    if not timed:
        return datetime.combine(value.date() if isinstance(value, datetime) else value, time())
    if isinstance(value, datetime):
        return value.astimezone(tz)
    return datetime.combine(value, time(), tzinfo=tz)


def _until(raw: str | None, tz: ZoneInfo, timed: bool) -> datetime | None:
    if raw is None:
        return None
    value = _date_value(raw, tz)
    if isinstance(value, datetime):
        return _local(value, tz, timed)
    end_of_day = datetime.combine(value, time(23, 59, 59))
    return end_of_day.replace(tzinfo=tz) if timed else end_of_day


def _build(body: tuple[str, str | None], dtstart: datetime, tz: ZoneInfo, timed: bool) -> du.rrule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        made: du.rrule = du.rrulestr(body[0], dtstart=dtstart)
    until = _until(body[1], tz, timed)
    return made.replace(until=until) if until is not None else made


def _dates(items: tuple[tuple[str, str | None], ...], tz: ZoneInfo, timed: bool, wall: time) -> list[datetime]:
    out = []
    for raw, tzid in items:
        value = _date_value(raw, ZoneInfo(tzid) if tzid else tz)
        if timed and not isinstance(value, datetime):
            value = datetime.combine(value, wall, tzinfo=tz)  # a DATE on a timed series: that day, same time
        out.append(_local(value, tz, timed))
    return out


def expand(
    rule: Rule,
    start: datetime | date,
    end: datetime | date,
    tz: ZoneInfo,
    *,
    horizon: datetime | None = None,
    limit: int = MAX_INSTANCES,
) -> list[Occurrence]:
    """Occurrences of ``rule`` (less EXDATEs and EXRULEs) up to COUNT/UNTIL, ``horizon`` and ``limit``."""
    timed = isinstance(start, datetime)
    duration: timedelta = end - start  # type: ignore[operator]
    if timed:
        assert isinstance(start, datetime)
        dtstart = start.astimezone(tz)
        wall = dtstart.time().replace(tzinfo=None)
    else:
        assert not isinstance(start, datetime)
        dtstart = datetime.combine(start, time())
        wall = time()
    rset = du.rruleset()
    if rule.rrule is not None:
        rset.rrule(_build(rule.rrule, dtstart, tz, timed))
    else:
        rset.rdate(dtstart)  # RDATE-only series: the start is the first instance
    for body in rule.exrules:
        rset.exrule(_build(body, dtstart, tz, timed))
    for when in _dates(rule.rdates, tz, timed, wall):
        rset.rdate(when)
    for when in _dates(rule.exdates, tz, timed, wall):
        rset.exdate(when)
    try:
        return _collect(rset, tz, timed, duration, horizon, limit)
    except (ValueError, IndexError, OverflowError):  # a rule dateutil reads but cannot expand
        raise invalid() from None


def _collect(
    rset: du.rruleset, tz: ZoneInfo, timed: bool, duration: timedelta, horizon: datetime | None, limit: int
) -> list[Occurrence]:
    out: list[Occurrence] = []
    for occurrence in rset:
        if timed:
            s: datetime | date = occurrence.astimezone(UTC).astimezone(tz)  # normalise wall times in a gap
            e: datetime | date = s + duration
            start_utc = occurrence.astimezone(UTC)
        else:
            s = occurrence.date()
            e = s + duration
            start_utc = datetime.combine(s, time(), tzinfo=UTC)
        if horizon is not None and start_utc >= horizon:
            break
        out.append(Occurrence(s, e))
        if len(out) >= limit:
            break
    return out
