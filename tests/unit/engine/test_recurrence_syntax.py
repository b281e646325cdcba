"""Recurrence line syntax checks (table-driven)."""

from __future__ import annotations

import pytest

from engine.domain.recurrence import RecurrenceSyntaxError, check_recurrence_line


@pytest.mark.parametrize(
    "line",
    [
        "RRULE:FREQ=WEEKLY;COUNT=6",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270331T235959Z",
        "RRULE:FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2",
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=-1;WKST=SU",
        "RRULE:FREQ=DAILY;UNTIL=20270101",
        "EXDATE;TZID=Europe/Berlin:20270310T100000,20270317T100000",
        "RDATE;VALUE=DATE:20270401",
        "EXDATE:20270310T090000Z",
    ],
)
def test_valid_lines(line: str) -> None:
    assert check_recurrence_line(line) == line


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("FREQ=WEEKLY", "must look like RRULE:"),
        ("RULE:FREQ=WEEKLY", "is not one of RRULE"),
        ("RRULE:", "must look like RRULE:"),
        ("RRULE:COUNT=3", "FREQ is required"),
        ("RRULE:FREQ=WEEKLY;FREQ=DAILY", "FREQ appears twice"),
        ("RRULE:FREQ=BIWEEKLY", "FREQ=BIWEEKLY is not one of DAILY, WEEKLY, MONTHLY, YEARLY"),
        ("RRULE:FREQ=SECONDLY;COUNT=5", "FREQ=SECONDLY repeats a session more than once a day"),
        ("RRULE:FREQ=MINUTELY;COUNT=5", "allowed frequencies are DAILY, WEEKLY, MONTHLY, YEARLY"),
        ("RRULE:FREQ=HOURLY;INTERVAL=2", "FREQ=HOURLY repeats a session more than once a day"),
        ("EXRULE:FREQ=HOURLY;COUNT=2", "FREQ=HOURLY repeats a session more than once a day"),
        ("RRULE:FREQ=WEEKLY;COUNT=0", "COUNT=0"),
        ("RRULE:FREQ=WEEKLY;COUNT=2;UNTIL=20270101", "not both"),
        ("RRULE:FREQ=WEEKLY;UNTIL=2027-01-01", "UNTIL=2027-01-01"),
        ("RRULE:FREQ=WEEKLY;BYDAY=MONDAY", "not a weekday"),
        ("RRULE:FREQ=YEARLY;BYMONTH=13", "outside 1..12"),
        ("RRULE:FREQ=WEEKLY;COLOR=RED", "COLOR is not an RRULE part"),
        ("RRULE:FREQ=WEEKLY;COUNT", "is not NAME=VALUE"),
        ("RRULE;X=1:FREQ=WEEKLY", "takes no parameters"),
        ("EXDATE:yesterday", "is not a date"),
        ("EXDATE;FOO=1:20270101", "unknown parameter"),
    ],
)
def test_invalid_lines(line: str, fragment: str) -> None:
    with pytest.raises(RecurrenceSyntaxError) as info:
        check_recurrence_line(line)
    assert fragment in str(info.value)
