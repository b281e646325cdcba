"""RRULE expansion for the emulated Calendar: recurring masters → instances.

Where it sits: used by ``events.py`` for ``events.instances``, ``singleEvents=true`` and instance ids.
Supports what Muster and most clients send: ``FREQ=DAILY|WEEKLY|MONTHLY`` with ``INTERVAL``, ``COUNT``,
``UNTIL`` and (weekly) ``BYDAY``; ``EXDATE`` lines. Occurrences keep the master's local wall-clock time
in its ``timeZone`` across DST changes (zoneinfo), as Google does. Rules outside this subset are refused
with 400 ``invalid`` "Invalid recurrence rule." (stricter than Google, which knows all of RFC 5545).
Unbounded rules are expanded up to a horizon (``limit`` occurrences / ``until`` instant).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.google_emulator.errors import bad_request

_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
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
    freq: str
    interval: int
    count: int | None
    until: datetime | date | None
    byday: tuple[int, ...]
    exdates: frozenset[str]  # instance stamps excluded


def invalid() -> Exception:
    return bad_request("Invalid recurrence rule.")


def _parse_until(raw: str, tz: ZoneInfo) -> datetime | date:
    if "T" not in raw:
        return datetime.strptime(raw, "%Y%m%d").replace(tzinfo=UTC).date()
    if raw.endswith("Z"):
        return datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.strptime(raw, "%Y%m%dT%H%M%S").replace(tzinfo=tz)


def parse(lines: list[Any], tz: ZoneInfo) -> Rule:
    rrule: dict[str, str] | None = None
    exdates: set[str] = set()
    for line in lines:
        text = str(line).strip()
        if text.startswith("RRULE:"):
            if rrule is not None:
                raise invalid()
            parts = [p for p in text[6:].split(";") if p]
            try:
                rrule = dict(p.split("=", 1) for p in parts)
            except ValueError:
                raise invalid() from None
        elif text.startswith("EXDATE"):
            head, _, values = text.partition(":")
            ex_tz = tz
            for param in head.split(";")[1:]:
                if param.startswith("TZID="):
                    try:
                        ex_tz = ZoneInfo(param[5:])
                    except (ZoneInfoNotFoundError, ValueError):
                        raise invalid() from None
            for value in values.split(","):
                try:
                    when = _parse_until(value.strip(), ex_tz)
                except ValueError:
                    raise invalid() from None
                exdates.add(Occurrence(when, when).stamp)
        elif text.startswith(("RDATE", "EXRULE")):
            raise invalid()
        else:
            raise invalid()
    if rrule is None:
        raise invalid()
    freq = rrule.get("FREQ", "")
    if freq not in ("DAILY", "WEEKLY", "MONTHLY"):
        raise invalid()
    unknown = set(rrule) - {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST"}
    if unknown or ("BYDAY" in rrule and freq != "WEEKLY") or ("COUNT" in rrule and "UNTIL" in rrule):
        raise invalid()
    try:
        interval = int(rrule.get("INTERVAL", "1"))
        count = int(rrule["COUNT"]) if "COUNT" in rrule else None
        until = _parse_until(rrule["UNTIL"], tz) if "UNTIL" in rrule else None
        byday = tuple(sorted(_DAYS[d.strip()] for d in rrule["BYDAY"].split(","))) if "BYDAY" in rrule else ()
    except (KeyError, ValueError):
        raise invalid() from None
    if interval < 1 or (count is not None and count < 1):
        raise invalid()
    return Rule(freq, interval, count, until, byday, frozenset(exdates))


def _add_months(d: date, months: int) -> date | None:
    y, m = divmod(d.month - 1 + months, 12)
    try:
        return d.replace(year=d.year + y, month=m + 1)
    except ValueError:
        return None  # e.g. 31st in a short month: RFC 5545 skips it


def _local_dates(rule: Rule, first: date) -> Iterator[date]:
    if rule.freq == "DAILY":
        k = 0
        while True:
            yield first + timedelta(days=k * rule.interval)
            k += 1
    elif rule.freq == "WEEKLY":
        days = rule.byday or (first.weekday(),)
        week0 = first - timedelta(days=first.weekday())
        k = 0
        while True:
            week = week0 + timedelta(weeks=k * rule.interval)
            for wd in days:
                d = week + timedelta(days=wd)
                if d >= first:
                    yield d
            k += 1
    else:
        k = 0
        while True:
            month_day = _add_months(first, k * rule.interval)
            if month_day is not None:
                yield month_day
            k += 1
            if k > 12 * 400:
                return


def expand(
    rule: Rule,
    start: datetime | date,
    end: datetime | date,
    tz: ZoneInfo,
    *,
    horizon: datetime | None = None,
    limit: int = MAX_INSTANCES,
) -> list[Occurrence]:
    """Occurrences of ``rule`` (excluding EXDATEs) up to COUNT/UNTIL, ``horizon`` and ``limit``."""
    out: list[Occurrence] = []
    timed = isinstance(start, datetime)
    if timed:
        assert isinstance(start, datetime) and isinstance(end, datetime)
        local_start = start.astimezone(tz)
        duration: timedelta = end - start
        first = local_start.date()
        wall: time = local_start.time().replace(tzinfo=None)
    else:
        assert not isinstance(start, datetime) and not isinstance(end, datetime)
        duration = end - start
        first = start
    produced = 0
    for d in _local_dates(rule, first):
        if timed:
            local = datetime.combine(d, wall).replace(tzinfo=tz)
            local = local.astimezone(UTC).astimezone(tz)  # normalise non-existent wall times
            s: datetime | date = local
            e: datetime | date = local + duration
        else:
            s, e = d, d + duration
        if rule.until is not None:
            if isinstance(rule.until, datetime) and isinstance(s, datetime) and s > rule.until:
                break
            if (
                not isinstance(rule.until, datetime)
                and (s.date() if isinstance(s, datetime) else s) > rule.until
            ):
                break
        if horizon is not None:
            start_utc = s if isinstance(s, datetime) else datetime.combine(s, time(), tzinfo=UTC)
            if start_utc >= horizon:
                break
        produced += 1  # noqa: SIM113 (EXDATEs count towards COUNT but are not yielded)
        occ = Occurrence(s, e)
        if occ.stamp not in rule.exdates:
            out.append(occ)
        if (rule.count is not None and produced >= rule.count) or len(out) >= limit:
            break
    return out
