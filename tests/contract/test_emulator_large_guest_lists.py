"""Contract: guest lists past 200 (responses not propagated to guests) and past 1000 (refused), through the
real client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract.conftest import ALICE, BOB, ERIN, Ws, timed


def _event(guests: int) -> dict[str, Any]:
    crowd = [{"email": f"learner{i}@example.org"} for i in range(guests - 2)]
    return {"summary": "Lecture", **timed("2027-03-10T10:00:00Z", "2027-03-10T11:00:00Z"),
            "attendees": [{"email": BOB}, {"email": ERIN}, *crowd]}


def _status_of(event: dict[str, Any], email: str) -> str:
    return str(next(a for a in event["attendees"] if a["email"] == email)["responseStatus"])


@pytest.mark.parametrize(("guests", "propagated"), [(200, True), (201, False)])
def test_responses_reach_other_guests_only_up_to_200(ws: Ws, guests: int, propagated: bool) -> None:
    alice = ws.as_user(ALICE).events()
    event = alice.insert(calendarId="primary", body=_event(guests), sendUpdates="none").execute()
    assert len(event["attendees"]) == guests
    ws.world.set_attendee_response(ALICE, event["id"], ERIN, "accepted")
    assert _status_of(alice.get(calendarId="primary", eventId=event["id"]).execute(), ERIN) == "accepted"
    as_bob = ws.as_user(BOB).events().get(calendarId="primary", eventId=event["id"]).execute()
    assert _status_of(as_bob, ERIN) == ("accepted" if propagated else "needsAction")
    as_erin = ws.as_user(ERIN).events().get(calendarId="primary", eventId=event["id"]).execute()
    assert _status_of(as_erin, ERIN) == "accepted"  # one's own answer is always shown


def test_more_than_1000_guests_are_refused(ws: Ws) -> None:
    with pytest.raises(HttpError) as exc:
        ws.as_user(ALICE).events().insert(calendarId="primary", body=_event(1001), sendUpdates="none").execute()
    error = json.loads(exc.value.content)["error"]["errors"][0]
    assert exc.value.resp.status == 400 and error["location"] == "attendees"
