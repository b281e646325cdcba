"""Contract: Calendar v3 events semantics of the emulator, through the real google-api-python-client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract.conftest import ALICE, BOB, ERIN, GUEST, ROOM, Ws, timed

Body = Callable[..., dict[str, Any]]


def _err(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str, str]:
    err = json.loads(exc.value.content)["error"]
    return exc.value.resp.status, err["errors"][0]["reason"], err["message"]


def test_insert_get_list_shape(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    created = cal.events().insert(calendarId="primary", body=ev("Intro")).execute()
    assert created["status"] == "confirmed" and created["sequence"] == 0
    assert created["organizer"] == {"email": ALICE, "displayName": "Alice A", "self": True}
    assert created["iCalUID"] == created["id"] + "@google.com"
    assert created["etag"].startswith('"') and created["etag"][1:-1].isdigit()
    got = cal.events().get(calendarId=ALICE, eventId=created["id"]).execute()
    assert got == created
    listed = cal.events().list(calendarId="primary").execute()
    assert [i["id"] for i in listed["items"]] == [created["id"]]
    assert "nextSyncToken" in listed and "nextPageToken" not in listed
    # guests* defaults are omitted, as Google does; non-defaults are kept
    assert "guestsCanInviteOthers" not in created
    other = (
        cal.events()
        .insert(calendarId="primary", body=ev(guestsCanInviteOthers=False, guestsCanModify=True))
        .execute()
    )
    assert other["guestsCanInviteOthers"] is False and other["guestsCanModify"] is True


@pytest.mark.parametrize("bad_id", ["ABCDE12345", "abc", "has-hyphen-123", "wxyz12345", "a" * 1025])
def test_client_ids_must_be_base32hex(ws: Ws, ev: Body, bad_id: str) -> None:
    with pytest.raises(HttpError) as info:
        ws.as_user(ALICE).events().insert(calendarId="primary", body=ev(id=bad_id)).execute()
    assert _err(info) == (400, "invalid", "Invalid resource id value.")


def test_duplicate_id_even_after_delete_and_tombstones(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    cal.events().insert(calendarId="primary", body=ev(id="sess00001")).execute()
    with pytest.raises(HttpError) as dup:
        cal.events().insert(calendarId="primary", body=ev(id="sess00001")).execute()
    assert _err(dup) == (409, "duplicate", "The requested identifier already exists.")
    assert cal.events().delete(calendarId="primary", eventId="sess00001").execute() == ""
    assert cal.events().get(calendarId="primary", eventId="sess00001").execute()["status"] == "cancelled"
    assert cal.events().list(calendarId="primary").execute()["items"] == []
    shown = cal.events().list(calendarId="primary", showDeleted=True).execute()["items"]
    assert [(i["id"], i["status"]) for i in shown] == [("sess00001", "cancelled")]
    with pytest.raises(HttpError) as gone:
        cal.events().delete(calendarId="primary", eventId="sess00001").execute()
    assert _err(gone) == (410, "deleted", "Resource has been deleted")
    with pytest.raises(HttpError) as again:
        cal.events().insert(calendarId="primary", body=ev(id="sess00001")).execute()
    assert _err(again)[:2] == (409, "duplicate")
    with pytest.raises(HttpError) as missing:
        cal.events().get(calendarId="primary", eventId="nosuchevent").execute()
    assert _err(missing)[:2] == (404, "notFound")


def test_etag_changes_and_if_match(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    first = cal.events().insert(calendarId="primary", body=ev()).execute()
    second = cal.events().patch(calendarId="primary", eventId=first["id"], body={"summary": "b"}).execute()
    assert second["etag"] != first["etag"]
    req = cal.events().patch(calendarId="primary", eventId=first["id"], body={"summary": "c"})
    req.headers["If-Match"] = first["etag"]
    with pytest.raises(HttpError) as info:
        req.execute()
    err = json.loads(info.value.content)["error"]["errors"][0]
    assert (info.value.resp.status, err["reason"], err["location"], err["locationType"]) == (
        412,
        "conditionNotMet",
        "If-Match",
        "header",
    )
    ok = cal.events().patch(calendarId="primary", eventId=first["id"], body={"summary": "c"})
    ok.headers["If-Match"] = second["etag"]
    assert ok.execute()["summary"] == "c"


def test_sequence_and_read_only_organizer(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    e = cal.events().insert(calendarId="primary", body=ev()).execute()
    e = cal.events().patch(calendarId="primary", eventId=e["id"], body={"summary": "renamed"}).execute()
    assert e["sequence"] == 0
    e = cal.events().patch(calendarId="primary", eventId=e["id"], body={"location": "Room 4"}).execute()
    assert e["sequence"] == 1
    e = (
        cal.events()
        .patch(
            calendarId="primary", eventId=e["id"], body=timed("2027-01-11T12:00:00Z", "2027-01-11T13:00:00Z")
        )
        .execute()
    )
    assert e["sequence"] == 2
    e = (
        cal.events()
        .patch(calendarId="primary", eventId=e["id"], body={"organizer": {"email": BOB}})
        .execute()
    )
    assert e["organizer"]["email"] == ALICE


def test_update_replaces_and_patch_merges(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    e = (
        cal.events()
        .insert(
            calendarId="primary",
            body=ev(
                description="d",
                location="L",
                extendedProperties={"private": {"a": "1", "b": "2"}},
                attendees=[{"email": BOB}, {"email": ERIN}],
            ),
        )
        .execute()
    )
    p = (
        cal.events()
        .patch(
            calendarId="primary",
            eventId=e["id"],
            body={"extendedProperties": {"private": {"b": "3"}}, "attendees": [{"email": BOB}]},
        )
        .execute()
    )
    assert p["description"] == "d" and p["location"] == "L"
    assert p["extendedProperties"]["private"] == {"a": "1", "b": "3"}
    assert [a["email"] for a in p["attendees"]] == [BOB]
    u = cal.events().update(calendarId="primary", eventId=e["id"], body=ev("only summary")).execute()
    assert "description" not in u and "location" not in u and "attendees" not in u
    assert "extendedProperties" not in u and u["summary"] == "only summary"
    assert u["id"] == e["id"] and u["created"] == e["created"]


def test_attendee_flags_and_response_preservation(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    e = (
        cal.events()
        .insert(
            calendarId="primary",
            body=ev(attendees=[{"email": ALICE}, {"email": BOB}, {"email": GUEST}, {"email": ROOM}]),
        )
        .execute()
    )
    by = {a["email"]: a for a in e["attendees"]}
    assert by[ALICE]["organizer"] is True and by[ALICE]["self"] is True
    assert by[ALICE]["responseStatus"] == "accepted"
    assert by[BOB]["responseStatus"] == "needsAction" and "self" not in by[BOB]
    assert by[ROOM]["resource"] is True
    ws.world.set_attendee_response(ALICE, e["id"], BOB, "accepted")
    p = (
        cal.events()
        .patch(
            calendarId="primary",
            eventId=e["id"],
            body={"attendees": [{"email": ALICE}, {"email": BOB}, {"email": ERIN}]},
        )
        .execute()
    )
    by = {a["email"]: a for a in p["attendees"]}
    # a guest re-sent without responseStatus is un-answered (Google reads absent as needsAction)
    assert by[BOB]["responseStatus"] == "needsAction" and by[ERIN]["responseStatus"] == "needsAction"
    assert by[ALICE]["responseStatus"] == "accepted"
    ws.world.set_attendee_response(ALICE, e["id"], BOB, "accepted")
    kept = [{"email": ALICE}, {"email": BOB, "responseStatus": "accepted"}, {"email": ERIN}]
    p = cal.events().patch(calendarId="primary", eventId=e["id"], body={"attendees": kept}).execute()
    by = {a["email"]: a for a in p["attendees"]}
    assert by[BOB]["responseStatus"] == "accepted" and by[ERIN]["responseStatus"] == "needsAction"
    bob_view = ws.as_user(BOB).events().get(calendarId="primary", eventId=e["id"]).execute()
    assert {a["email"]: a.get("self", False) for a in bob_view["attendees"]}[BOB] is True
    assert "self" not in bob_view["organizer"]
    with pytest.raises(HttpError) as info:
        ws.as_user(BOB).events().patch(calendarId="primary", eventId=e["id"], body={"summary": "x"}).execute()
    assert _err(info)[:2] == (403, "forbiddenForNonOrganizer")


def test_answers_sent_by_the_organizer_on_insert_and_on_a_restore_are_kept(ws: Ws, ev: Body) -> None:
    """EventAttendee.responseStatus: an event may be added "using the values declined, tentative, or accepted"
    (inserted, restored or imported);
    the organizer's copy and each guest's copy show the answers as sent (Google's caveat for guests whose
    "Add invitations to my calendar" setting asks to respond first, a "might", is not modelled)."""
    cal = ws.as_user(ALICE)
    sent = [{"email": BOB, "responseStatus": "accepted", "comment": "count me in", "additionalGuests": 1},
            {"email": ERIN, "responseStatus": "declined"}, {"email": GUEST}]
    e = cal.events().insert(calendarId="primary", body=ev(attendees=sent)).execute()
    by = {a["email"]: a for a in e["attendees"]}
    bob = (by[BOB]["responseStatus"], by[BOB]["comment"], by[BOB]["additionalGuests"])
    assert bob == ("accepted", "count me in", 1)
    assert by[ERIN]["responseStatus"] == "declined" and by[GUEST]["responseStatus"] == "needsAction"
    bob_view = ws.as_user(BOB).events().get(calendarId="primary", eventId=e["id"]).execute()
    assert {a["email"]: a["responseStatus"] for a in bob_view["attendees"]} == {
        BOB: "accepted", ERIN: "declined", GUEST: "needsAction"}
    # Deleted, then restored with the guests and their answers: the answers are as sent again
    cal.events().delete(calendarId="primary", eventId=e["id"]).execute()
    back = cal.events().patch(calendarId="primary", eventId=e["id"],
                              body={"status": "confirmed", "attendees": sent}).execute()
    by = {a["email"]: a for a in back["attendees"]}
    assert back["status"] == "confirmed"
    assert (by[BOB]["responseStatus"], by[BOB]["comment"]) == ("accepted", "count me in")
    assert by[ERIN]["responseStatus"] == "declined"
    # Imported (a private copy of an existing event, iCalUID required): the answers as sent too
    imp = cal.events().import_(calendarId="primary",
                               body=ev(attendees=sent, iCalUID="answers-import@example.com")).execute()
    by = {a["email"]: a for a in imp["attendees"]}
    bob = (by[BOB]["responseStatus"], by[BOB]["comment"], by[BOB]["additionalGuests"])
    assert bob == ("accepted", "count me in", 1)
    assert by[ERIN]["responseStatus"] == "declined" and by[GUEST]["responseStatus"] == "needsAction"


def test_attendee_copy_appears_and_disappears_in_their_calendar(ws: Ws, ev: Body) -> None:
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    e = (
        alice.events()
        .insert(
            calendarId="primary",
            body=ev(
                attendees=[{"email": BOB}], extendedProperties={"private": {"k": "v"}, "shared": {"s": "1"}}
            ),
        )
        .execute()
    )
    first = bob.events().list(calendarId="primary").execute()
    assert [i["id"] for i in first["items"]] == [e["id"]]
    assert first["items"][0]["extendedProperties"] == {"shared": {"s": "1"}}
    alice.events().patch(calendarId="primary", eventId=e["id"], body={"attendees": []}).execute()
    assert bob.events().list(calendarId="primary").execute()["items"] == []
    delta = bob.events().list(calendarId="primary", syncToken=first["nextSyncToken"]).execute()
    assert [(i["id"], i["status"]) for i in delta["items"]] == [(e["id"], "cancelled")]


def test_extended_property_filters_are_anded(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    a = (
        cal.events()
        .insert(
            calendarId="primary", body=ev(extendedProperties={"private": {"owner": "muster", "session": "1"}})
        )
        .execute()
    )
    cal.events().insert(
        calendarId="primary", body=ev(extendedProperties={"private": {"owner": "muster", "session": "2"}})
    ).execute()
    cal.events().insert(calendarId="primary", body=ev()).execute()
    both = cal.events().list(calendarId="primary", privateExtendedProperty="owner=muster").execute()["items"]
    assert len(both) == 2
    one = (
        cal.events()
        .list(calendarId="primary", privateExtendedProperty=["owner=muster", "session=1"])
        .execute()["items"]
    )
    assert [i["id"] for i in one] == [a["id"]]


def test_paging_time_window_and_order(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    ids = [
        cal.events().insert(calendarId="primary", body=ev(f"e{d}", day=d)).execute()["id"]
        for d in (15, 12, 14, 11, 13)
    ]
    seen: list[str] = []
    req = cal.events().list(calendarId="primary", maxResults=2)
    pages = 0
    while req is not None:
        resp = req.execute()
        pages += 1
        assert not ("nextPageToken" in resp and "nextSyncToken" in resp)
        if "nextPageToken" in resp:
            assert "nextSyncToken" not in resp
        else:
            assert "nextSyncToken" in resp
        seen += [i["id"] for i in resp["items"]]
        req = cal.events().list_next(req, resp)
    assert pages == 3 and sorted(seen) == sorted(ids)
    window = (
        cal.events()
        .list(
            calendarId="primary",
            timeMin="2027-01-12T10:30:00Z",
            timeMax="2027-01-14T10:00:00Z",
            singleEvents=True,
            orderBy="startTime",
        )
        .execute()
    )
    assert [i["summary"] for i in window["items"]] == ["e12", "e13"]
    assert "nextSyncToken" not in window
    with pytest.raises(HttpError) as info:
        cal.events().list(calendarId="primary", orderBy="startTime").execute()
    assert _err(info)[0] == 400
    with pytest.raises(HttpError) as empty:
        cal.events().list(
            calendarId="primary", timeMin="2027-01-12T00:00:00Z", timeMax="2027-01-11T00:00:00Z"
        ).execute()
    assert _err(empty)[:2] == (400, "timeRangeEmpty")


def test_move_changes_organizer_and_leaves_a_cancelled_copy(ws: Ws, ev: Body) -> None:
    alice = ws.as_user(ALICE)
    e = alice.events().insert(calendarId="primary", body=ev(attendees=[{"email": ERIN}])).execute()
    ws.world.calendar_for(BOB).acl[ALICE] = "writer"  # type: ignore[union-attr]
    moved = alice.events().move(calendarId="primary", eventId=e["id"], destination=BOB).execute()
    assert moved["id"] == e["id"] and moved["organizer"]["email"] == BOB
    left = alice.events().get(calendarId="primary", eventId=e["id"]).execute()
    assert left["status"] == "cancelled"
    assert (
        ws.as_user(BOB).events().get(calendarId="primary", eventId=e["id"]).execute()["organizer"]["email"]
        == BOB
    )
    other = alice.events().insert(calendarId="primary", body=ev()).execute()
    with pytest.raises(HttpError) as info:
        alice.events().move(calendarId="primary", eventId=other["id"], destination=ERIN).execute()
    assert _err(info)[0] == 404  # Erin's calendar is not shared with Alice


def test_move_refuses_single_instances(ws: Ws, ev: Body) -> None:
    alice = ws.as_user(ALICE)
    series = (
        alice.events()
        .insert(calendarId="primary", body=ev(recurrence=["RRULE:FREQ=DAILY;COUNT=3"]))
        .execute()
    )
    inst = alice.events().instances(calendarId="primary", eventId=series["id"]).execute()["items"][1]
    ws.world.calendar_for(BOB).acl[ALICE] = "writer"  # type: ignore[union-attr]
    with pytest.raises(HttpError) as info:
        alice.events().move(calendarId="primary", eventId=inst["id"], destination=BOB).execute()
    assert _err(info)[:2] == (400, "cannotChangeOrganizerOfInstance")


def test_import_sets_organizer_and_needs_ical_uid(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    with pytest.raises(HttpError) as info:
        cal.events().import_(calendarId="primary", body=ev()).execute()
    assert _err(info)[0] == 400
    imp = (
        cal.events()
        .import_(
            calendarId="primary", body=ev(iCalUID="ext-1@lms.test", organizer={"email": "host@lms.test"})
        )
        .execute()
    )
    assert imp["organizer"]["email"] == "host@lms.test" and imp["iCalUID"] == "ext-1@lms.test"
    assert ws.world.outbox == []


def test_weekly_series_keeps_local_time_across_dst(ws: Ws) -> None:
    cal = ws.as_user(ALICE)
    body = {
        "summary": "Weekly",
        "recurrence": ["RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4"],
        "start": {"dateTime": "2027-03-15T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2027-03-15T11:00:00+01:00", "timeZone": "Europe/Berlin"},
    }
    series = cal.events().insert(calendarId="primary", body=body).execute()
    items = cal.events().instances(calendarId="primary", eventId=series["id"]).execute()["items"]
    assert [i["start"]["dateTime"] for i in items] == [
        "2027-03-15T10:00:00+01:00",
        "2027-03-22T10:00:00+01:00",
        "2027-03-29T10:00:00+02:00",
        "2027-04-05T10:00:00+02:00",
    ]
    assert items[2]["id"] == f"{series['id']}_20270329T080000Z"
    assert items[2]["recurringEventId"] == series["id"]
    assert items[2]["originalStartTime"]["dateTime"] == "2027-03-29T10:00:00+02:00"
    assert all("recurrence" not in i for i in items)
    # change one instance, cancel another; singleEvents list reflects both
    cal.events().patch(calendarId="primary", eventId=items[1]["id"], body={"summary": "Moved"}).execute()
    cal.events().delete(calendarId="primary", eventId=items[3]["id"]).execute()
    flat = cal.events().list(calendarId="primary", singleEvents=True, orderBy="startTime").execute()["items"]
    assert [i["summary"] for i in flat] == ["Weekly", "Moved", "Weekly"]
    daily = (
        cal.events()
        .insert(
            calendarId="primary",
            body={
                "summary": "D",
                "recurrence": ["RRULE:FREQ=DAILY;UNTIL=20270103T235959Z"],
                **timed("2027-01-01T09:00:00Z", "2027-01-01T09:30:00Z"),
            },
        )
        .execute()
    )
    assert len(cal.events().instances(calendarId="primary", eventId=daily["id"]).execute()["items"]) == 3


def test_service_account_without_delegation_cannot_invite_or_create_meet(ws: Ws, ev: Body) -> None:
    sa = ws.as_sa()
    with pytest.raises(HttpError) as att:
        sa.events().insert(
            calendarId="primary", body=ev(attendees=[{"email": ROOM, "resource": True}])
        ).execute()
    assert _err(att) == (
        403,
        "forbiddenForServiceAccounts",
        "Service accounts cannot invite attendees without Domain-Wide Delegation of Authority.",
    )
    meet = {"createRequest": {"requestId": "r1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
    with pytest.raises(HttpError) as conf:
        sa.events().insert(
            calendarId="primary", body=ev(conferenceData=meet), conferenceDataVersion=1
        ).execute()
    assert _err(conf) == (400, "invalid", "Invalid conference type value.")
    assert (
        sa.events()
        .insert(calendarId="primary", body=ev())
        .execute()["organizer"]["email"]
        .endswith("iam.gserviceaccount.com")
    )


def test_other_users_calendar_is_not_found_and_reader_cannot_write(ws: Ws, ev: Body) -> None:
    with pytest.raises(HttpError) as info:
        ws.as_user(BOB).events().list(calendarId=ALICE).execute()
    assert _err(info)[:2] == (404, "notFound")
    ws.world.calendar_for(ALICE).acl[BOB] = "reader"  # type: ignore[union-attr]
    assert ws.as_user(BOB).events().list(calendarId=ALICE).execute()["accessRole"] == "reader"
    with pytest.raises(HttpError) as ro:
        ws.as_user(BOB).events().insert(calendarId=ALICE, body=ev()).execute()
    assert _err(ro)[:2] == (403, "requiredAccessLevel")


def test_secondary_calendars(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    sec = (
        cal.calendars().insert(body={"summary": "Muster sessions", "timeZone": "America/New_York"}).execute()
    )
    assert sec["id"].endswith("@group.calendar.google.com")
    e = cal.events().insert(calendarId=sec["id"], body=ev()).execute()
    assert e["organizer"] == {"email": sec["id"], "displayName": "Muster sessions", "self": True}
    patched = cal.calendars().patch(calendarId=sec["id"], body={"summary": "Renamed"}).execute()
    assert patched["summary"] == "Renamed"
    ids = [c["id"] for c in cal.calendarList().list().execute()["items"]]
    assert ids[0] == ALICE and sec["id"] in ids
    cal.calendars().delete(calendarId=sec["id"]).execute()
    with pytest.raises(HttpError) as info:
        cal.calendars().get(calendarId=sec["id"]).execute()
    assert _err(info)[0] == 404
    with pytest.raises(HttpError) as prim:
        cal.calendars().delete(calendarId="primary").execute()
    assert _err(prim)[:2] == (403, "cannotDeletePrimaryCalendar")
