"""Contract: recurrence as Google expands it (RFC 5545 through python-dateutil), and the REST API's check
of recurrence lines agreeing with the emulator on what is valid (real client, real HTTP)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from engine.domain.recurrence import RecurrenceSyntaxError, check_recurrence_line
from tests.contract.conftest import ALICE, BOB, ROOM, Ws, timed


def _series(ws: Ws, lines: list[str], start: str = "2027-03-01T10:00:00", tz: str = "Europe/Paris") -> Any:
    end = start[:11] + f"{int(start[11:13]) + 1:02d}" + start[13:]
    body = {"summary": "Series", **timed(start, end, tz), "recurrence": lines}
    return ws.as_user(ALICE).events().insert(calendarId="primary", body=body).execute()


def _instance_starts(ws: Ws, event_id: str) -> list[str]:
    got = ws.as_user(ALICE).events().instances(calendarId="primary", eventId=event_id, maxResults=50).execute()
    return [i["start"].get("dateTime") or i["start"]["date"] for i in got["items"]]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["RRULE:FREQ=MONTHLY;BYDAY=2TU;COUNT=3"],
         ["2027-03-09T10:00:00+01:00", "2027-04-13T10:00:00+02:00", "2027-05-11T10:00:00+02:00"]),
        (["RRULE:FREQ=MONTHLY;BYMONTHDAY=15,31;COUNT=4"],
         ["2027-03-15T10:00:00+01:00", "2027-03-31T10:00:00+02:00", "2027-04-15T10:00:00+02:00",
          "2027-05-15T10:00:00+02:00"]),
        (["RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=2"],
         ["2027-03-31T10:00:00+02:00", "2027-04-30T10:00:00+02:00"]),
        (["RRULE:FREQ=YEARLY;COUNT=2"], ["2027-03-01T10:00:00+01:00", "2028-03-01T10:00:00+01:00"]),
        (["RRULE:FREQ=WEEKLY;COUNT=2", "RDATE;TZID=Europe/Paris:20270303T100000"],
         ["2027-03-01T10:00:00+01:00", "2027-03-03T10:00:00+01:00", "2027-03-08T10:00:00+01:00"]),
        (["RRULE:FREQ=DAILY;COUNT=5", "EXRULE:FREQ=DAILY;INTERVAL=2;COUNT=2"],
         ["2027-03-02T10:00:00+01:00", "2027-03-04T10:00:00+01:00", "2027-03-05T10:00:00+01:00"]),
        (["RRULE:FREQ=WEEKLY;UNTIL=20270315", "EXDATE;TZID=Europe/Paris:20270308T100000"],
         ["2027-03-01T10:00:00+01:00", "2027-03-15T10:00:00+01:00"]),
    ],
    ids=["monthly-2nd-tuesday", "bymonthday", "bysetpos-last-weekday", "yearly", "rdate", "exrule", "until-date"],
)
def test_rfc5545_rules_expand_like_google(ws: Ws, lines: list[str], expected: list[str]) -> None:
    series = _series(ws, lines)
    assert series["recurrence"] == lines
    assert _instance_starts(ws, series["id"]) == expected
    listed = ws.as_user(ALICE).events().list(
        calendarId="primary", singleEvents=True, orderBy="startTime",
        timeMin="2027-01-01T00:00:00Z", timeMax="2029-01-01T00:00:00Z").execute()["items"]
    assert [i["start"]["dateTime"] for i in listed] == expected


def test_recurring_event_without_start_time_zone_is_refused(ws: Ws) -> None:
    body = {"summary": "Weekly", "start": {"dateTime": "2027-03-01T10:00:00Z"},
            "end": {"dateTime": "2027-03-01T11:00:00Z"}, "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"]}
    with pytest.raises(HttpError) as exc:
        ws.as_user(ALICE).events().insert(calendarId="primary", body=body).execute()
    error = json.loads(exc.value.content)["error"]
    assert exc.value.resp.status == 400
    assert error["errors"][0]["reason"] == "required" and error["errors"][0]["location"] == "start.timeZone"
    single = {k: v for k, v in body.items() if k != "recurrence"}
    assert ws.as_user(ALICE).events().insert(calendarId="primary", body=single).execute()["status"] == "confirmed"


# Lines on which Muster's REST API and the emulated Google must give the same verdict.
AGREEMENT = [
    "RRULE:FREQ=WEEKLY;COUNT=6",
    "RRULE:FREQ=MONTHLY;BYDAY=2TU",
    "RRULE:FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=-1;WKST=SU",
    "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1",
    "RRULE:FREQ=DAILY;UNTIL=20270101",
    "RRULE:FREQ=WEEKLY;UNTIL=20270331T235959Z",
    "RRULE:FREQ=YEARLY;BYMONTH=13",
    "RRULE:FREQ=MONTHLY;BYMONTHDAY=32",
    "RRULE:FREQ=MONTHLY;BYDAY=9TU",
    "RRULE:FREQ=MONTHLY;BYSETPOS=0;BYDAY=MO",
    "RRULE:FREQ=WEEKLY;COUNT=2;UNTIL=20270101",
    "RRULE:FREQ=WEEKLY;COLOR=RED",
    "RRULE:FREQ=BIWEEKLY",
    "RRULE:COUNT=3",
    "RRULE:FREQ=WEEKLY;BYDAY=MONDAY",
    "RDATE;VALUE=DATE:20270401",
    "RDATE;VALUE=PERIOD:20270401T100000Z/PT1H",
    "EXDATE;TZID=Europe/Berlin:20270310T100000",
    "EXDATE:yesterday",
    "DTSTART:20270301T100000Z",
]


@pytest.mark.parametrize("line", AGREEMENT)
def test_rest_api_and_emulator_agree_on_validity(ws: Ws, line: str) -> None:
    try:
        check_recurrence_line(line)
        muster_accepts = True
    except RecurrenceSyntaxError:
        muster_accepts = False
    lines = [line] if line.startswith("RRULE") else ["RRULE:FREQ=WEEKLY;COUNT=3", line]
    try:
        _series(ws, lines)
        google_accepts = True
    except HttpError as exc:
        assert exc.resp.status == 400
        assert json.loads(exc.content)["error"]["errors"][0]["reason"] == "invalid"
        google_accepts = False
    assert muster_accepts == google_accepts


def test_sub_daily_rules_are_google_valid_but_refused_by_muster(ws: Ws) -> None:
    """The one deliberate difference: Google accepts HOURLY; a live session repeats at most daily."""
    with pytest.raises(RecurrenceSyntaxError, match="more than once a day"):
        check_recurrence_line("RRULE:FREQ=HOURLY;COUNT=3")
    series = _series(ws, ["RRULE:FREQ=HOURLY;INTERVAL=2;COUNT=3"], start="2027-03-01T08:00:00")
    assert [s[11:16] for s in _instance_starts(ws, series["id"])] == ["08:00", "10:00", "12:00"]


def _room_answer(ws: Ws, event_id: str, instance_day: str | None = None) -> str:
    cal = ws.as_user(ALICE)
    deadline = time.monotonic() + 5
    while True:
        if instance_day is None:
            got = cal.events().get(calendarId="primary", eventId=event_id).execute()
        else:
            items = cal.events().instances(calendarId="primary", eventId=event_id, maxResults=100).execute()["items"]
            got = next(i for i in items if i["originalStartTime"]["dateTime"].startswith(instance_day))
        status = str(next(a for a in got["attendees"] if a["email"] == ROOM)["responseStatus"])
        if status != "needsAction" or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


def test_room_checks_a_bounded_series_to_its_end_even_past_a_year(ws: Ws) -> None:
    """A 30-week series starting in ten months: its week-20 conflict lies more than a year ahead."""
    first = (ws.world.now() + timedelta(days=300)).date()
    first -= timedelta(days=first.weekday())  # a Monday
    clash_day = first + timedelta(weeks=20)
    assert datetime.combine(clash_day, datetime.min.time()) > ws.world.now().replace(tzinfo=None) + timedelta(days=366)
    held = ws.as_user(BOB).events().insert(calendarId="primary", body={
        "summary": "Held", **timed(f"{clash_day}T10:00:00Z", f"{clash_day}T11:00:00Z"),
        "attendees": [{"email": ROOM, "resource": True}]}).execute()
    cal = ws.as_user(BOB)
    deadline = time.monotonic() + 5
    while cal.events().get(calendarId="primary", eventId=held["id"]).execute()["attendees"][0][
            "responseStatus"] == "needsAction" and time.monotonic() < deadline:
        time.sleep(0.05)
    series = ws.as_user(ALICE).events().insert(calendarId="primary", body={
        "summary": "Course", **timed(f"{first}T10:00:00Z", f"{first}T11:00:00Z"),
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=30"], "attendees": [{"email": ROOM, "resource": True}]}).execute()
    assert _room_answer(ws, series["id"]) == "accepted"
    assert _room_answer(ws, series["id"], instance_day=str(clash_day)) == "declined"
