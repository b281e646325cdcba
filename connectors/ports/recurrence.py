"""Checks for recurrence lines (RFC 5545 RRULE, EXRULE, RDATE, EXDATE) as Google accepts them.

Where it sits: ``connectors.ports`` (bottom layer), part of the calendar port's contract: the
``recurrence`` lines an event may carry. Two callers, so they agree on what is valid:

* Muster's REST API (:mod:`engine.api.schemas` through :mod:`engine.domain.recurrence`) calls
  :func:`check_recurrence_line` on every line a platform sends, so a malformed rule is refused with a
  readable 422 instead of being stored and failing later at Google with an opaque 400;
* the Google emulator (``connectors.google_emulator.calendar.recurrence``) calls it with
  ``sub_daily=True`` (Google accepts ``HOURLY`` and finer; Muster refuses them as a product rule) before
  expanding the series.

Each line passes the readable checks below, then python-dateutil's RFC 5545 parser (``rrulestr``), the
library the emulator expands series with; a line dateutil cannot read is refused with its reason.
Pure: no I/O, no project imports.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime

from dateutil import rrule as _rrule

#: Property names allowed on a recurrence line (Google's ``recurrence`` field).
LINE_KINDS = ("RRULE", "EXRULE", "RDATE", "EXDATE")
#: Frequencies a live session may repeat at. RFC 5545 also defines SECONDLY, MINUTELY and HOURLY; a
#: session repeating more than once a day is almost always a mistake (``FREQ=SECONDLY;COUNT=5`` would put
#: five overlapping events with invitations on every guest's calendar), so those are refused.
FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
#: RFC 5545 frequencies below a day, named in the error so the sender knows why a valid rule is refused.
SUB_DAILY_FREQS = ("SECONDLY", "MINUTELY", "HOURLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

_UNTIL = re.compile(r"^\d{8}(T\d{6}Z?)?$")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_DATE_VALUE = re.compile(r"^\d{8}(T\d{6}Z?)?$")
_PARAM = re.compile(r"^(VALUE=(DATE|DATE-TIME)|TZID=[A-Za-z0-9_+\-/]+)$")
#: A fixed DTSTART for checking a rule body with dateutil (expansion uses the event's own start).
_PROBE_START = datetime(2000, 1, 3, 9, 0, tzinfo=UTC)

#: ``(name, low, high)`` for the integer list parts of a rule; ``high`` bounds the absolute value.
_INT_LISTS: dict[str, tuple[int, int, bool]] = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}


class RecurrenceSyntaxError(ValueError):
    """A recurrence line is malformed; the message says which part and what is expected."""


def _int_list(name: str, value: str, low: int, high: int, signed: bool) -> None:
    for item in value.split(","):
        if not re.fullmatch(r"[+-]?\d{1,3}" if signed else r"\d{1,3}", item):
            raise RecurrenceSyntaxError(f"{name}={value}: {item!r} is not a whole number")
        number = abs(int(item)) if signed else int(item)
        if not low <= number <= high:
            raise RecurrenceSyntaxError(f"{name}={value}: {item} is outside {low}..{high}")


def _check_rule(body: str, sub_daily: bool) -> None:
    parts: dict[str, str] = {}
    for part in body.split(";"):
        name, sep, value = part.partition("=")
        if not sep or not name or not value:
            raise RecurrenceSyntaxError(f"{part!r} is not NAME=VALUE")
        if name in parts:
            raise RecurrenceSyntaxError(f"{name} appears twice")
        parts[name] = value
    freq = parts.pop("FREQ", None)
    if freq is None:
        raise RecurrenceSyntaxError("FREQ is required, e.g. RRULE:FREQ=WEEKLY;COUNT=8")
    if freq in SUB_DAILY_FREQS and not sub_daily:
        raise RecurrenceSyntaxError(
            f"FREQ={freq} repeats a session more than once a day; allowed frequencies are {', '.join(FREQS)}"
        )
    if freq not in FREQS + SUB_DAILY_FREQS:
        raise RecurrenceSyntaxError(f"FREQ={freq} is not one of {', '.join(FREQS)}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceSyntaxError("use COUNT or UNTIL, not both")
    for name, value in parts.items():
        if name == "COUNT" or name == "INTERVAL":
            if not value.isdigit() or not 1 <= int(value) <= 10_000:
                raise RecurrenceSyntaxError(f"{name}={value}: use a whole number from 1 to 10000")
        elif name == "UNTIL":
            if not _UNTIL.match(value):
                raise RecurrenceSyntaxError(f"UNTIL={value}: use YYYYMMDD or YYYYMMDDTHHMMSSZ")
        elif name == "WKST":
            if value not in WEEKDAYS:
                raise RecurrenceSyntaxError(f"WKST={value} is not one of {', '.join(WEEKDAYS)}")
        elif name == "BYDAY":
            for item in value.split(","):
                match = _BYDAY.match(item)
                if not match:
                    raise RecurrenceSyntaxError(f"BYDAY={value}: {item!r} is not a weekday like MO or -1FR")
                most = 5 if freq == "MONTHLY" else 53  # a month has at most 5 of a weekday, a year 53
                if match.group(1) and not 1 <= abs(int(match.group(1))) <= most:
                    raise RecurrenceSyntaxError(f"BYDAY={value}: {item!r} needs an ordinal from 1 to {most}")
        elif name in _INT_LISTS:
            low, high, signed = _INT_LISTS[name]
            _int_list(name, value, low, high, signed)
        else:
            raise RecurrenceSyntaxError(f"{name} is not an RRULE part")
    _library_reads(";".join(f"{k}={v}" for k, v in parts.items() if k != "UNTIL"), freq)


def _library_reads(rest: str, freq: str) -> None:
    """dateutil's RFC 5545 parser must read the rule too (UNTIL is checked above: dateutil would tie its
    form to the DTSTART's, which is not known here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _rrule.rrulestr(f"FREQ={freq}" + (f";{rest}" if rest else ""), dtstart=_PROBE_START)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise RecurrenceSyntaxError(f"not a valid RFC 5545 rule: {exc}") from None


def _check_dates(kind: str, params: list[str], value: str) -> None:
    for param in params:
        if not _PARAM.match(param):
            raise RecurrenceSyntaxError(f"{kind}: unknown parameter {param!r}")
    for item in value.split(","):
        if not _DATE_VALUE.match(item):
            raise RecurrenceSyntaxError(f"{kind}: {item!r} is not a date like 20270310 or 20270310T100000Z")


def check_recurrence_line(line: str, *, sub_daily: bool = False) -> str:
    """Return ``line`` if it is a well-formed recurrence line, else raise :class:`RecurrenceSyntaxError`.

    ``sub_daily`` allows ``FREQ=HOURLY``/``MINUTELY``/``SECONDLY`` (Google does; Muster's REST API does not).
    """
    head, sep, value = line.partition(":")
    if not sep or not value:
        raise RecurrenceSyntaxError(f"{line!r} must look like RRULE:FREQ=WEEKLY;COUNT=8")
    kind, *params = head.split(";")
    if kind not in LINE_KINDS:
        raise RecurrenceSyntaxError(f"{kind!r} is not one of {', '.join(LINE_KINDS)}")
    if kind in ("RRULE", "EXRULE"):
        if params:
            raise RecurrenceSyntaxError(f"{kind} takes no parameters before ':'")
        _check_rule(value, sub_daily)
    else:
        _check_dates(kind, params, value)
    return line
