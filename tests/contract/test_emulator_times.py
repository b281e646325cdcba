"""Contract: event times come back as Google writes them - RFC 3339 with an offset - on every read."""

from __future__ import annotations

from tests.contract.conftest import ALICE, Ws, timed


def test_local_date_time_plus_zone_comes_back_with_the_offset(ws: Ws) -> None:
    events = ws.as_user(ALICE).events()
    body = {"summary": "Local", **timed("2027-03-10T10:00:00", "2027-03-10T11:00:00", "Europe/Paris")}
    inserted = events.insert(calendarId="primary", body=body).execute()
    got = events.get(calendarId="primary", eventId=inserted["id"]).execute()
    listed = events.list(calendarId="primary").execute()["items"]
    for seen in (inserted, got, next(i for i in listed if i["id"] == inserted["id"])):
        assert seen["start"] == {"dateTime": "2027-03-10T10:00:00+01:00", "timeZone": "Europe/Paris"}
        assert seen["end"] == {"dateTime": "2027-03-10T11:00:00+01:00", "timeZone": "Europe/Paris"}
    summer = events.insert(calendarId="primary", body={
        "summary": "Summer", **timed("2027-07-01T09:30:00", "2027-07-01T10:00:00", "America/New_York")}).execute()
    assert summer["start"]["dateTime"] == "2027-07-01T09:30:00-04:00"
    series = events.insert(calendarId="primary", body={**body, "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"]}).execute()
    instances = events.instances(calendarId="primary", eventId=series["id"]).execute()["items"]
    assert series["start"]["dateTime"] == instances[0]["start"]["dateTime"] == "2027-03-10T10:00:00+01:00"
    assert instances[-1]["start"]["dateTime"] == "2027-03-31T10:00:00+02:00"  # after the clock change
    written_in_utc = events.insert(calendarId="primary", body={
        "summary": "UTC", **timed("2027-03-10T09:00:00Z", "2027-03-10T10:00:00Z", "Europe/Paris")}).execute()
    assert written_in_utc["start"]["dateTime"] == "2027-03-10T09:00:00Z"  # an explicit offset is kept
