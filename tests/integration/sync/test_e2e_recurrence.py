"""A weekly series across the spring clock change keeps its local wall time (SQLite + embedded worker).

Where it sits: ``tests/sync``. The session is stored as UTC instants plus its IANA zone; the connector
writes ``start.dateTime`` in local time with ``start.timeZone``, so Google (the emulator) expands the
RRULE in that zone: 10:00 in Berlin before and after 28 March 2027.
"""

from __future__ import annotations

import json

from connectors.google.calendar import GoogleCalendarFactory
from connectors.google.credentials import ServiceAccountSource, token_uri_for
from connectors.ports.calendar import Actor
from tests.integration.sync.conftest import Stack, organizers, people, session_body


def test_weekly_series_keeps_local_time_across_dst(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    body = session_body(hosts=organizers()[:1], enrolled=people("l", 2, start=170),
                        start="2027-03-15T10:00:00+01:00", end="2027-03-15T11:00:00+01:00",
                        recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"])
    stack.put_session("s-series", body)
    stack.idle()
    (event,) = stack.emu.events_of(stack.session_id("s-series"))
    assert event["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]
    assert event["start"]["timeZone"] == "Europe/Berlin"
    owner = event["organizer"]["email"]
    source = ServiceAccountSource(json.loads(stack.emu.key_file.read_text()), token_uri=token_uri_for(stack.emu.url))
    svc = GoogleCalendarFactory(source, root_url=stack.emu.url)(Actor("vendor", owner))._svc()
    items = svc.events().instances(calendarId=owner, eventId=event["id"], timeZone="Europe/Berlin").execute()["items"]
    starts = [i["start"]["dateTime"] for i in items]
    assert [s[:10] for s in starts] == ["2027-03-15", "2027-03-22", "2027-03-29", "2027-04-05"]
    assert all(s[11:16] == "10:00" for s in starts), starts  # same wall time after the clock change
    assert starts[0].endswith("+01:00") and starts[-1].endswith("+02:00")
