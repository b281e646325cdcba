"""Contract: guests answering invitations, per-calendar sync-token invalidation, channel expiry and
``updatedMin`` tombstones, seen through the real Google client (and the control API)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract.conftest import ALICE, BOB, ERIN, GUEST, PushReceiver, Ws

Body = Callable[..., dict[str, Any]]


def _err(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str]:
    err = json.loads(exc.value.content)["error"]
    return exc.value.resp.status, err["errors"][0]["reason"]


def control(ws: Ws, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(ws.url + path.lstrip("/"), data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def _answers(event: dict[str, Any]) -> dict[str, str]:
    return {a["email"]: a.get("responseStatus", "") for a in event.get("attendees", [])}


def _sync_all(cal: Any, cal_id: str, token: str) -> tuple[list[dict[str, Any]], str]:
    items: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        got = cal.events().list(calendarId=cal_id, syncToken=token, pageToken=page).execute()
        items += got["items"]
        page = got.get("nextPageToken")
        if page is None:
            return items, got["nextSyncToken"]


def test_guest_answers_through_its_own_copy(ws: Ws, ev: Body, push_receiver: PushReceiver) -> None:
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    e = alice.events().insert(
        calendarId="primary", body=ev(attendees=[{"email": BOB}, {"email": ERIN}, {"email": GUEST}])
    ).execute()
    alice_token = alice.events().list(calendarId="primary").execute()["nextSyncToken"]
    bob_token = bob.events().list(calendarId="primary").execute()["nextSyncToken"]
    for cid, who in (("org", alice), ("guest", bob)):
        who.events().watch(calendarId="primary",
                           body={"id": f"ch-{cid}", "type": "web_hook", "address": push_receiver.url}).execute()
    push_receiver.wait_for(2)
    mine = bob.events().get(calendarId="primary", eventId=e["id"]).execute()
    mine_only = [{"email": BOB, "responseStatus": "declined", "comment": "On leave"}]
    answered = bob.events().patch(calendarId="primary", eventId=e["id"], body={"attendees": mine_only}).execute()
    assert _answers(answered)[BOB] == "declined"
    organizer = alice.events().get(calendarId="primary", eventId=e["id"]).execute()
    assert _answers(organizer) == {BOB: "declined", ERIN: "needsAction", GUEST: "needsAction"}
    assert [a.get("comment") for a in organizer["attendees"] if a["email"] == BOB] == ["On leave"]
    assert organizer["sequence"] == e["sequence"] and organizer["etag"] != e["etag"]
    for who, token in ((alice, alice_token), (bob, bob_token)):
        items, _ = _sync_all(who, "primary", token)
        assert [(i["id"], _answers(i)[BOB]) for i in items] == [(e["id"], "declined")]
    got = push_receiver.wait_for(4)
    assert sorted(r.headers["X-Goog-Channel-ID"] for r in got[2:]) == ["ch-guest", "ch-org"]
    assert {r.headers["X-Goog-Resource-State"] for r in got[2:]} == {"exists"}
    # a full PUT of the guest's copy with its own entry changed is an answer too
    mine = bob.events().get(calendarId="primary", eventId=e["id"]).execute()
    for att in mine["attendees"]:
        if att["email"] == BOB:
            att["responseStatus"] = "accepted"
    bob.events().update(calendarId="primary", eventId=e["id"], body=mine).execute()
    assert _answers(alice.events().get(calendarId="primary", eventId=e["id"]).execute())[BOB] == "accepted"


def test_guest_cannot_change_shared_properties_or_other_guests(ws: Ws, ev: Body) -> None:
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    e = alice.events().insert(calendarId="primary", body=ev(attendees=[{"email": BOB}])).execute()
    for body in ({"summary": "mine now"}, {"attendees": [{"email": BOB}, {"email": ERIN}]}):
        with pytest.raises(HttpError) as info:
            bob.events().patch(calendarId="primary", eventId=e["id"], body=body).execute()
        assert _err(info) == (403, "forbiddenForNonOrganizer")
    with pytest.raises(HttpError) as bad:
        bob.events().patch(calendarId="primary", eventId=e["id"],
                           body={"attendees": [{"email": BOB, "responseStatus": "maybe"}]}).execute()
    assert _err(bad)[0] == 400
    stale_write = bob.events().patch(calendarId="primary", eventId=e["id"],
                                     body={"attendees": [{"email": BOB, "responseStatus": "accepted"}]})
    stale_write.headers["If-Match"] = '"1"'
    with pytest.raises(HttpError) as stale:
        stale_write.execute()
    assert _err(stale) == (412, "conditionNotMet")
    assert _answers(alice.events().get(calendarId="primary", eventId=e["id"]).execute()) == {BOB: "needsAction"}


def test_control_route_answers_as_any_guest(ws: Ws, ev: Body) -> None:
    alice = ws.as_user(ALICE)
    e = alice.events().insert(calendarId="primary", body=ev(attendees=[{"email": BOB}, {"email": GUEST}])).execute()
    token = alice.events().list(calendarId="primary").execute()["nextSyncToken"]
    path = f"/_emulator/calendars/{ALICE}/events/{e['id']}/responses"
    status, body = control(ws, "POST", path, {"email": GUEST, "responseStatus": "tentative", "comment": "maybe"})
    assert status == 200 and body["calendarId"] == ALICE and body["responseStatus"] == "tentative"
    status, _ = control(ws, "POST", f"/_emulator/calendars/{BOB}/events/{e['id']}/responses",
                        {"email": BOB, "responseStatus": "accepted"})  # through the guest's copy
    assert status == 200
    items, _ = _sync_all(alice, "primary", token)
    assert [_answers(i) for i in items] == [{BOB: "accepted", GUEST: "tentative"}]
    for bad, field in (({"email": GUEST, "responseStatus": "yes"}, "responseStatus"),
                       ({"responseStatus": "accepted"}, "email"),
                       ({"email": GUEST, "responseStatus": "accepted", "comment": 3}, "comment")):
        status, body = control(ws, "POST", path, bad)
        assert status == 400 and body["error"]["field"] == field
    status, body = control(ws, "POST", path, {"email": ERIN, "responseStatus": "accepted"})
    assert status == 404 and body["error"]["field"] == "email"
    status, body = control(ws, "POST", f"/_emulator/calendars/{ALICE}/events/nosuchevent/responses",
                           {"email": GUEST, "responseStatus": "accepted"})
    assert status == 404 and body["error"]["field"] == "eventId"


def test_sync_tokens_are_invalidated_per_calendar(ws: Ws, ev: Body) -> None:
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    a_token = alice.events().list(calendarId="primary").execute()["nextSyncToken"]
    b_token = bob.events().list(calendarId="primary").execute()["nextSyncToken"]
    status, body = control(ws, "POST", f"/_emulator/calendars/{ALICE}/invalidate-sync-tokens")
    assert status == 200 and body["generation"] == 1
    with pytest.raises(HttpError) as info:
        alice.events().list(calendarId="primary", syncToken=a_token).execute()
    assert _err(info) == (410, "fullSyncRequired")
    assert bob.events().list(calendarId="primary", syncToken=b_token).execute()["items"] == []
    fresh = alice.events().list(calendarId="primary").execute()["nextSyncToken"]  # full resync
    alice.events().insert(calendarId="primary", body=ev("after")).execute()
    assert [i["summary"] for i in alice.events().list(calendarId="primary", syncToken=fresh).execute()["items"]] \
        == ["after"]
    # a change of the calendar's sharing invalidates its tokens too ("changes in related ACLs")
    b_token = bob.events().list(calendarId="primary").execute()["nextSyncToken"]
    bob.acl().insert(calendarId="primary", body={"scope": {"type": "user", "value": ALICE},
                                                  "role": "writer"}).execute()
    with pytest.raises(HttpError) as acl:
        bob.events().list(calendarId="primary", syncToken=b_token).execute()
    assert _err(acl) == (410, "fullSyncRequired")
    status, body = control(ws, "POST", "/_emulator/calendars/nobody@corp.test/invalidate-sync-tokens")
    assert status == 404 and body["error"]["field"] == "calendarId"


def test_sync_tokens_expire_after_the_configured_lifetime(ws: Ws) -> None:
    status, opts = control(ws, "PUT", "/_emulator/options", {"sync_token_ttl_s": 0.3})
    assert status == 200 and opts["sync_token_ttl_s"] == 0.3
    alice = ws.as_user(ALICE)
    token = alice.events().list(calendarId="primary").execute()["nextSyncToken"]
    assert alice.events().list(calendarId="primary", syncToken=token).execute()["items"] == []
    time.sleep(0.4)
    with pytest.raises(HttpError) as info:
        alice.events().list(calendarId="primary", syncToken=token).execute()
    assert _err(info) == (410, "fullSyncRequired")
    status, body = control(ws, "PUT", "/_emulator/options", {"sync_token_ttl_s": -1})
    assert status == 400 and body["error"]["field"] == "sync_token_ttl_s"


def test_updated_min_lists_tombstones_after_a_move_and_a_guest_removal(ws: Ws, ev: Body) -> None:
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    since = "2020-01-01T00:00:00Z"
    moved = alice.events().insert(calendarId="primary", body=ev("moved")).execute()
    kept = alice.events().insert(calendarId="primary", body=ev("kept", attendees=[{"email": BOB}])).execute()
    bob.acl().insert(calendarId="primary", body={"scope": {"type": "user", "value": ALICE},
                                                  "role": "writer"}).execute()
    alice.events().move(calendarId="primary", eventId=moved["id"], destination=BOB).execute()
    alice.events().patch(calendarId="primary", eventId=kept["id"], body={"attendees": []}).execute()
    org = alice.events().list(calendarId="primary", updatedMin=since).execute()["items"]
    assert {i["id"]: i["status"] for i in org} == {moved["id"]: "cancelled", kept["id"]: "confirmed"}
    guest = bob.events().list(calendarId="primary", updatedMin=since).execute()["items"]
    assert {i["id"]: i["status"] for i in guest} == {moved["id"]: "confirmed", kept["id"]: "cancelled"}
    later = bob.events().list(calendarId="primary", updatedMin="2099-01-01T00:00:00Z").execute()["items"]
    assert later == []


def test_expired_channel_posts_nothing_and_is_listed_as_expired(
    ws: Ws, ev: Body, push_receiver: PushReceiver
) -> None:
    alice = ws.as_user(ALICE)
    soon = int(time.time() * 1000) + 400
    ch = alice.events().watch(calendarId="primary", body={
        "id": "short", "type": "web_hook", "address": push_receiver.url, "expiration": soon}).execute()
    assert int(ch["expiration"]) == soon
    push_receiver.wait_for(1)
    time.sleep(0.5)  # the channel reaches its expiration
    alice.events().insert(calendarId="primary", body=ev()).execute()
    alice.events().watch(calendarId="primary", body={
        "id": "long", "type": "web_hook", "address": push_receiver.url}).execute()
    push_receiver.wait_for(2)
    status, listed = control(ws, "POST", "/_emulator/channels/long/expire")
    assert status == 200 and listed["expired"] is True
    alice.events().insert(calendarId="primary", body=ev()).execute()
    time.sleep(0.3)
    got = [(r.headers["X-Goog-Channel-ID"], r.headers["X-Goog-Resource-State"]) for r in push_receiver.received]
    assert got == [("short", "sync"), ("long", "sync")]
    status, body = control(ws, "GET", f"/_emulator/channels?calendarId={ALICE}")
    assert status == 200 and [(c["id"], c["expired"]) for c in body["channels"]] == [("long", True),
                                                                                    ("short", True)]
    assert control(ws, "POST", "/_emulator/channels/none/expire")[0] == 404
