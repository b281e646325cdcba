"""Contract: ``freebusy.query`` through the real client (errors inside a 200, merged busy blocks)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract import workspace_fixtures as fx
from tests.contract.workspace_fixtures import Workspace

workspace = fx.workspace

ORG = "grace.lamport2@acme.example"
GUEST = "linus.goldberg3@acme.example"
DAY = "2027-04-12"


def _ev(summary: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "start": {"dateTime": f"{DAY}T{start}:00Z"},
            "end": {"dateTime": f"{DAY}T{end}:00Z"}, **extra}


def _query(cal: Any, *ids: str, **extra: Any) -> dict[str, Any]:
    body = {"timeMin": f"{DAY}T00:00:00Z", "timeMax": f"{DAY}T23:59:59Z", "items": [{"id": i} for i in ids],
            **extra}
    result: dict[str, Any] = cal.freebusy().query(body=body).execute()
    return result


def test_busy_blocks_are_merged_and_skip_free_time(workspace: Workspace) -> None:
    cal = workspace.calendar(ORG)
    events = cal.events()
    events.insert(calendarId="primary", body=_ev("A", "09:00", "10:00")).execute()
    events.insert(calendarId="primary", body=_ev("B", "09:30", "11:00")).execute()
    free = _ev("Free", "12:00", "13:00", transparency="transparent")
    events.insert(calendarId="primary", body=free).execute()
    gone = events.insert(calendarId="primary", body=_ev("Gone", "14:00", "15:00")).execute()
    events.delete(calendarId="primary", eventId=gone["id"]).execute()
    events.insert(calendarId="primary", body={
        "summary": "Daily", "start": {"dateTime": "2027-04-10T16:00:00Z", "timeZone": "UTC"},
        "end": {"dateTime": "2027-04-10T16:30:00Z"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"]}).execute()
    got = _query(cal, "primary")
    assert got["kind"] == "calendar#freeBusy"
    assert got["calendars"]["primary"] == {"busy": [
        {"start": f"{DAY}T09:00:00Z", "end": f"{DAY}T11:00:00Z"},
        {"start": f"{DAY}T16:00:00Z", "end": f"{DAY}T16:30:00Z"}]}


def test_declined_invitation_does_not_block_the_guest(workspace: Workspace) -> None:
    cal = workspace.calendar(ORG)
    invite = cal.events().insert(calendarId="primary", body=_ev(
        "Invite", "18:00", "19:00", attendees=[{"email": GUEST}])).execute()
    guest_cal = workspace.calendar(GUEST)
    assert _query(guest_cal, "primary")["calendars"]["primary"]["busy"] == [
        {"start": f"{DAY}T18:00:00Z", "end": f"{DAY}T19:00:00Z"}]
    guest_cal.events().delete(calendarId="primary", eventId=invite["id"]).execute()  # declines the copy
    assert _query(guest_cal, "primary")["calendars"]["primary"]["busy"] == []
    # the organizer is still busy, and may read the guest's free/busy as a domain colleague
    both = _query(cal, "primary", GUEST)["calendars"]
    assert both["primary"]["busy"] and both[GUEST] == {"busy": []}


def test_unknown_calendar_is_an_error_inside_a_200(workspace: Workspace) -> None:
    got = _query(workspace.calendar(ORG), "primary", "nobody@acme.example", "someone@gmail.com")
    for cid in ("nobody@acme.example", "someone@gmail.com"):
        assert got["calendars"][cid] == {"busy": [], "errors": [{"domain": "global", "reason": "notFound"}]}


def test_time_range_and_expansion_limits(workspace: Workspace) -> None:
    cal = workspace.calendar(ORG)
    with pytest.raises(HttpError) as empty:
        cal.freebusy().query(body={"timeMin": f"{DAY}T10:00:00Z", "timeMax": f"{DAY}T10:00:00Z",
                                   "items": [{"id": "primary"}]}).execute()
    err = json.loads(empty.value.content)["error"]["errors"][0]
    assert empty.value.resp.status == 400
    assert (err["reason"], err["location"]) == ("timeRangeEmpty", "timeMax")
    with pytest.raises(HttpError) as too_many:
        _query(cal, "primary", calendarExpansionMax=51)
    assert too_many.value.resp.status == 400 and "calendarExpansionMax" in too_many.value.content.decode()
    limited = _query(cal, "primary", GUEST, calendarExpansionMax=1)["calendars"]
    assert "errors" not in limited["primary"]
    assert limited[GUEST]["errors"] == [{"domain": "global", "reason": "tooManyCalendarsRequested"}]
    with pytest.raises(HttpError) as missing:
        cal.freebusy().query(body={"timeMax": f"{DAY}T10:00:00Z", "items": []}).execute()
    assert missing.value.resp.status == 400 and "timeMin" in missing.value.content.decode()
