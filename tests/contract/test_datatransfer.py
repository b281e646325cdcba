"""Contract: Data Transfer API moves a leaving organizer's calendar within Google's documented limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract import workspace_fixtures as fx
from tests.contract.workspace_fixtures import ADMIN, TRANSFER_SCOPE, Workspace, room

workspace, wait_for = fx.workspace, fx.wait_for

CALENDAR_APP = "435070579839"
Wait = Callable[..., Any]


def _user(seed: dict[str, Any], email: str) -> dict[str, Any]:
    return next(u for u in seed["users"] if u["primaryEmail"] == email)


def _ev(summary: str, day: str, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "start": {"dateTime": f"{day}T10:00:00Z"},
            "end": {"dateTime": f"{day}T11:00:00Z"}, **extra}


@pytest.fixture(scope="module")
def transfers(workspace: Workspace) -> Any:
    workspace.grant([TRANSFER_SCOPE])
    return workspace.service("admin", "datatransfer_v1", ADMIN, [TRANSFER_SCOPE])


def _wait_done(transfers: Any, tid: str, wait: Wait) -> dict[str, Any]:
    done: dict[str, Any] = wait(lambda: (t := transfers.transfers().get(dataTransferId=tid).execute())
                                ["overallTransferStatusCode"] == "completed" and t)
    return done


def test_applications_list_and_get(transfers: Any) -> None:
    apps = transfers.applications().list().execute()
    assert apps["kind"] == "admin#datatransfer#applicationsList"
    cal = transfers.applications().get(applicationId=CALENDAR_APP).execute()
    assert cal["name"] == "Calendar"
    assert cal["transferParams"] == [{"key": "RELEASE_RESOURCES", "value": ["TRUE"]}]
    assert CALENDAR_APP in [a["id"] for a in apps["applications"]]


def test_only_qualifying_events_move_to_the_new_owner(workspace: Workspace, transfers: Any,
                                                      wait_for: Wait) -> None:
    leaving = _user(workspace.seed, "radia.backus10@acme.example")
    heir = _user(workspace.seed, "margaret.turing4@acme.example")
    room_email = room(workspace.seed, "Ampere")["resourceEmail"]
    old = workspace.calendar(leaving["primaryEmail"]).events()
    guest = [{"email": "guest1@gmail.com"}]
    moving = old.insert(calendarId="primary", body=_ev(
        "Future class", "2027-09-06", attendees=[*guest, {"email": room_email, "resource": True}])).execute()
    solo = old.insert(calendarId="primary", body=_ev("No guests", "2027-09-07")).execute()
    past = old.insert(calendarId="primary", body=_ev("Old class", "2024-01-08", attendees=guest)).execute()
    private = old.insert(calendarId="primary", body=_ev("Private", "2027-09-08", attendees=guest,
                                                         visibility="private")).execute()
    started = transfers.transfers().insert(body={
        "oldOwnerUserId": leaving["id"], "newOwnerUserId": heir["id"],
        "applicationDataTransfers": [{"applicationId": CALENDAR_APP, "applicationTransferParams": [
            {"key": "RELEASE_RESOURCES", "value": ["TRUE"]}]}]}).execute()
    assert started["kind"] == "admin#datatransfer#DataTransfer"
    assert started["overallTransferStatusCode"] == "inProgress"
    done = _wait_done(transfers, started["id"], wait_for)
    assert done["applicationDataTransfers"][0]["applicationTransferStatus"] == "completed"

    new = workspace.calendar(heir["primaryEmail"]).events()
    moved = new.get(calendarId="primary", eventId=moving["id"]).execute()
    assert moved["organizer"]["email"] == heir["primaryEmail"]
    assert [a["email"] for a in moved["attendees"] if a.get("resource")] == []  # room released
    assert "guest1@gmail.com" in [a["email"] for a in moved["attendees"]]
    assert old.get(calendarId="primary", eventId=moving["id"]).execute()["status"] == "cancelled"
    for stays in (solo, past, private):
        assert old.get(calendarId="primary", eventId=stays["id"]).execute()["status"] == "confirmed"
        with pytest.raises(HttpError) as missing:
            new.get(calendarId="primary", eventId=stays["id"]).execute()
        assert missing.value.resp.status == 404
    listed = transfers.transfers().list(oldOwnerUserId=leaving["id"]).execute()["dataTransfers"]
    assert [t["id"] for t in listed] == [started["id"]]


def test_nothing_qualifies_creates_an_empty_secondary_calendar(workspace: Workspace, transfers: Any,
                                                               wait_for: Wait) -> None:
    leaving = _user(workspace.seed, "alan.perlman1@acme.example")
    heir = _user(workspace.seed, "grace.lamport2@acme.example")
    workspace.calendar(leaving["primaryEmail"]).events().insert(calendarId="primary", body=_ev(
        "Solo", "2027-09-06")).execute()
    started = transfers.transfers().insert(body={
        "oldOwnerUserId": leaving["id"], "newOwnerUserId": heir["id"],
        "applicationDataTransfers": [{"applicationId": CALENDAR_APP}]}).execute()
    _wait_done(transfers, started["id"], wait_for)
    heir_cal = workspace.calendar(heir["primaryEmail"])
    entries = heir_cal.calendarList().list().execute()["items"]
    secondary = [e for e in entries if e["summary"] == leaving["primaryEmail"]]
    assert len(secondary) == 1 and not secondary[0].get("primary")
    assert secondary[0]["accessRole"] == "owner"
    assert heir_cal.events().list(calendarId=secondary[0]["id"]).execute()["items"] == []


def test_bad_transfers_are_refused_naming_the_field(workspace: Workspace, transfers: Any) -> None:
    leaving = _user(workspace.seed, "radia.backus10@acme.example")

    def refused(body: dict[str, Any]) -> str:
        with pytest.raises(HttpError) as exc:
            transfers.transfers().insert(body=body).execute()
        assert exc.value.resp.status == 400
        return str(json.loads(exc.value.content)["error"]["errors"][0]["location"])

    apps = [{"applicationId": CALENDAR_APP}]
    unknown = {"oldOwnerUserId": leaving["id"], "newOwnerUserId": "1", "applicationDataTransfers": apps}
    assert refused(unknown) == "newOwnerUserId"
    assert refused({"oldOwnerUserId": leaving["id"], "newOwnerUserId": leaving["id"],
                    "applicationDataTransfers": apps}) == "newOwnerUserId"
    heir = _user(workspace.seed, "it-admin@acme.example")
    assert refused({"oldOwnerUserId": leaving["id"], "newOwnerUserId": heir["id"],
                    "applicationDataTransfers": [{"applicationId": "1"}]}) \
        == "applicationDataTransfers[0].applicationId"
    maybe = [{"applicationId": CALENDAR_APP,
              "applicationTransferParams": [{"key": "RELEASE_RESOURCES", "value": ["MAYBE"]}]}]
    assert refused({"oldOwnerUserId": leaving["id"], "newOwnerUserId": heir["id"],
                    "applicationDataTransfers": maybe}) \
        == "applicationDataTransfers[0].applicationTransferParams[0].value"
    learner = next(u["primaryEmail"] for u in workspace.seed["users"] if u["role"] == "learner")
    with pytest.raises(HttpError) as forbidden:
        workspace.service("admin", "datatransfer_v1", learner, [TRANSFER_SCOPE]).transfers().list().execute()
    assert forbidden.value.resp.status == 403
