"""Contract: the read-only HTML pages show a calendar as its owner would see it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.contract import workspace_fixtures as fx
from tests.contract.workspace_fixtures import Workspace, room

workspace, wait_for = fx.workspace, fx.wait_for
ORGANIZER = "ada.torvalds0@acme.example"


def test_index_lists_users_and_rooms(workspace: Workspace) -> None:
    status, page = workspace.control("GET", "/_emulator/")
    assert status == 200
    assert f"/_emulator/calendar/{ORGANIZER}" in page
    assert "BER-HQ-3-Curie (8)" in page and "it-admin@acme.example" in page
    assert "suspended" in page  # tim.matsumoto11 is suspended in the seed


def test_week_view_shows_local_times_responses_meet_and_room(workspace: Workspace,
                                                            wait_for: Callable[..., Any]) -> None:
    berlin_room = room(workspace.seed, "Curie")["resourceEmail"]
    cal = workspace.calendar(ORGANIZER)
    made = cal.events().insert(calendarId="primary", conferenceDataVersion=1, body={
        "summary": "Onboarding <intro>", "start": {"dateTime": "2027-01-12T09:00:00Z"},
        "end": {"dateTime": "2027-01-12T10:30:00Z"},
        "attendees": [{"email": berlin_room, "resource": True}, {"email": "guest0@gmail.com"}],
        "conferenceData": {"createRequest": {"requestId": "page-test-1",
                                             "conferenceSolutionKey": {"type": "hangoutsMeet"}}}}).execute()
    room_page = f"/_emulator/calendar/{berlin_room}?week=2027-01-11"
    wait_for(lambda: "accepted" in workspace.control("GET", room_page)[1])
    status, page = workspace.control("GET", f"/_emulator/calendar/{berlin_room}?week=2027-01-13")
    assert status == 200
    assert "Onboarding &lt;intro&gt;" in page  # escaped
    assert "10:00-11:30 Europe/Berlin" in page  # the room's building is in Berlin (UTC+1 in January)
    assert "Tue 12 Jan" in page
    status, own = workspace.control("GET", f"/_emulator/calendar/{ORGANIZER}?week=2027-01-11")
    assert "09:00-10:30 UTC" in own
    assert "guest0@gmail.com" in own and "needsAction" in own
    assert "BER-HQ-3-Curie (8)" in own
    link = cal.events().get(calendarId="primary", eventId=made["id"]).execute()["hangoutLink"]
    assert link.startswith("https://meet.google.com/")
    status, own = workspace.control("GET", f"/_emulator/calendar/{ORGANIZER}?week=2027-01-11")
    assert link in own
    status, other_week = workspace.control("GET", f"/_emulator/calendar/{ORGANIZER}?week=2027-02-01")
    assert status == 200 and "Onboarding" not in other_week


def test_bad_week_and_unknown_calendar(workspace: Workspace) -> None:
    status, page = workspace.control("GET", f"/_emulator/calendar/{ORGANIZER}?week=next-tuesday")
    assert status == 400 and "week" in page
    status, page = workspace.control("GET", "/_emulator/calendar/nobody@acme.example")
    assert status == 404
