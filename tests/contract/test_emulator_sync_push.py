"""Contract: incremental sync, push channels, Meet conferenceData and the invitations outbox."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract.conftest import ALICE, BOB, ERIN, GUEST, ROOM, PushReceiver, Ws

Body = Callable[..., dict[str, Any]]
MEET = {"createRequest": {"requestId": "req-1", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}


def _err(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str]:
    err = json.loads(exc.value.content)["error"]
    return exc.value.resp.status, err["errors"][0]["reason"]


def test_incremental_sync_includes_changes_and_deletions(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    a = cal.events().insert(calendarId="primary", body=ev("a")).execute()
    b = cal.events().insert(calendarId="primary", body=ev("b")).execute()
    token = cal.events().list(calendarId="primary").execute()["nextSyncToken"]
    nothing = cal.events().list(calendarId="primary", syncToken=token).execute()
    assert nothing["items"] == [] and nothing["nextSyncToken"]
    cal.events().patch(calendarId="primary", eventId=a["id"], body={"summary": "a2"}).execute()
    cal.events().delete(calendarId="primary", eventId=b["id"]).execute()
    c = cal.events().insert(calendarId="primary", body=ev("c")).execute()
    delta = cal.events().list(calendarId="primary", syncToken=token, maxResults=2).execute()
    assert "nextPageToken" in delta and "nextSyncToken" not in delta
    rest = (
        cal.events()
        .list(calendarId="primary", syncToken=token, maxResults=2, pageToken=delta["nextPageToken"])
        .execute()
    )
    assert "nextSyncToken" in rest and "nextPageToken" not in rest
    got = {i["id"]: i["status"] for i in delta["items"] + rest["items"]}
    assert got == {a["id"]: "confirmed", b["id"]: "cancelled", c["id"]: "confirmed"}
    assert cal.events().list(calendarId="primary", syncToken=rest["nextSyncToken"]).execute()["items"] == []


@pytest.mark.parametrize(
    "extra",
    [
        {"timeMin": "2027-01-01T00:00:00Z"},
        {"q": "x"},
        {"orderBy": "updated"},
        {"privateExtendedProperty": "a=b"},
        {"iCalUID": "x@y"},
        {"updatedMin": "2027-01-01T00:00:00Z"},
        {"showDeleted": False},
    ],
)
def test_sync_token_rejects_incompatible_parameters(ws: Ws, extra: dict[str, Any]) -> None:
    cal = ws.as_user(ALICE)
    token = cal.events().list(calendarId="primary").execute()["nextSyncToken"]
    with pytest.raises(HttpError) as info:
        cal.events().list(calendarId="primary", syncToken=token, **extra).execute()
    assert info.value.resp.status == 400


def test_garbled_foreign_and_stale_sync_tokens_are_410(ws: Ws) -> None:
    cal = ws.as_user(ALICE)
    token = cal.events().list(calendarId="primary").execute()["nextSyncToken"]
    for bad in ("1" + token, "garbage", token[:-3]):
        with pytest.raises(HttpError) as info:
            cal.events().list(calendarId="primary", syncToken=bad).execute()
        assert _err(info) == (410, "fullSyncRequired")
    ws.world.calendar_for(BOB).acl[ALICE] = "reader"  # type: ignore[union-attr]
    with pytest.raises(HttpError) as other:
        cal.events().list(calendarId=BOB, syncToken=token).execute()
    assert _err(other) == (410, "fullSyncRequired")


def test_meet_request_is_pending_then_success_and_request_id_is_idempotent(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    ignored = cal.events().insert(calendarId="primary", body=ev(conferenceData=MEET)).execute()
    assert "conferenceData" not in ignored and "hangoutLink" not in ignored
    e = (
        cal.events()
        .insert(calendarId="primary", body=ev(conferenceData=MEET), conferenceDataVersion=1)
        .execute()
    )
    assert e["conferenceData"]["createRequest"]["status"]["statusCode"] == "pending"
    assert "entryPoints" not in e["conferenceData"]
    done = cal.events().get(calendarId="primary", eventId=e["id"]).execute()
    conf = done["conferenceData"]
    assert conf["createRequest"]["status"]["statusCode"] == "success"
    assert [p["entryPointType"] for p in conf["entryPoints"]] == ["video", "more", "phone"]
    code = conf["conferenceId"]
    assert len(code) == 12 and code[3] == "-" and code[8] == "-"
    assert done["hangoutLink"] == f"https://meet.google.com/{code}"
    same = (
        cal.events()
        .patch(calendarId="primary", eventId=e["id"], body={"conferenceData": MEET}, conferenceDataVersion=1)
        .execute()
    )
    assert same["conferenceData"]["conferenceId"] == code
    kept = (
        cal.events()
        .patch(calendarId="primary", eventId=e["id"], body={"summary": "x"}, conferenceDataVersion=1)
        .execute()
    )
    assert kept["conferenceData"]["conferenceId"] == code
    other = (
        cal.events()
        .insert(calendarId="primary", body=ev(conferenceData=MEET), conferenceDataVersion=1)
        .execute()
    )
    other_done = cal.events().get(calendarId="primary", eventId=other["id"]).execute()
    assert other_done["conferenceData"]["conferenceId"] != code
    removed = (
        cal.events()
        .patch(calendarId="primary", eventId=e["id"], body={"conferenceData": None}, conferenceDataVersion=1)
        .execute()
    )
    assert "conferenceData" not in removed and "hangoutLink" not in removed


def test_meet_delay_and_failure_rate(ws: Ws, ev: Body) -> None:
    ws.world.options.conference_delay_s = 0.3
    cal = ws.as_user(ALICE)
    e = (
        cal.events()
        .insert(calendarId="primary", body=ev(conferenceData=MEET), conferenceDataVersion=1)
        .execute()
    )
    assert (
        cal.events()
        .get(calendarId="primary", eventId=e["id"])
        .execute()["conferenceData"]["createRequest"]["status"]["statusCode"]
        == "pending"
    )
    time.sleep(0.35)
    assert (
        cal.events()
        .get(calendarId="primary", eventId=e["id"])
        .execute()["conferenceData"]["createRequest"]["status"]["statusCode"]
        == "success"
    )
    ws.world.options.conference_delay_s = 0.0
    ws.world.options.conference_failure_rate = 1.0
    f = (
        cal.events()
        .insert(calendarId="primary", body=ev(conferenceData=MEET), conferenceDataVersion=1)
        .execute()
    )
    failed = cal.events().get(calendarId="primary", eventId=f["id"]).execute()
    assert failed["conferenceData"]["createRequest"]["status"]["statusCode"] == "failure"
    assert "entryPoints" not in failed["conferenceData"] and "hangoutLink" not in failed


def test_outbox_follows_send_updates(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    atts = [{"email": ALICE}, {"email": BOB}, {"email": GUEST}, {"email": ROOM}]
    quiet = cal.events().insert(calendarId="primary", body=ev(attendees=atts)).execute()
    assert ws.world.outbox == []
    e = cal.events().insert(calendarId="primary", body=ev(attendees=atts), sendUpdates="all").execute()
    assert sorted((m.kind, m.to) for m in ws.world.outbox) == [("invitation", BOB), ("invitation", GUEST)]
    ws.world.outbox.clear()
    cal.events().patch(
        calendarId="primary",
        eventId=e["id"],
        sendUpdates="externalOnly",
        body={"summary": "changed", "attendees": [{"email": ALICE}, {"email": GUEST}, {"email": ERIN}]},
    ).execute()
    assert ws.world.outbox == []  # externalOnly: Gmail and domain users use Google Calendar
    ws.world.outbox.clear()
    cal.events().patch(
        calendarId="primary",
        eventId=e["id"],
        sendUpdates="all",
        body={"attendees": [{"email": ALICE}, {"email": GUEST}, {"email": BOB}]},
    ).execute()
    assert sorted((m.kind, m.to) for m in ws.world.outbox) == [
        ("cancellation", ERIN),
        ("invitation", BOB),
        ("update", GUEST),
    ]
    ws.world.outbox.clear()
    cal.events().delete(calendarId="primary", eventId=e["id"], sendUpdates="all").execute()
    assert sorted((m.kind, m.to) for m in ws.world.outbox) == [("cancellation", BOB), ("cancellation", GUEST)]
    ws.world.outbox.clear()
    cal.events().delete(calendarId="primary", eventId=quiet["id"], sendUpdates="none").execute()
    assert ws.world.outbox == []


def test_push_channel_sync_then_exists_without_body_and_stop(
    ws: Ws, ev: Body, push_receiver: PushReceiver
) -> None:
    cal = ws.as_user(ALICE)
    ch = (
        cal.events()
        .watch(
            calendarId="primary",
            body={"id": "chan-1", "type": "web_hook", "address": push_receiver.url, "token": "tok-1"},
        )
        .execute()
    )
    assert isinstance(ch["expiration"], str) and ch["resourceId"]
    first = push_receiver.wait_for(1)[0]
    assert first.headers["X-Goog-Resource-State"] == "sync"
    assert first.headers["X-Goog-Message-Number"] == "1"
    assert first.headers["X-Goog-Channel-ID"] == "chan-1" and first.headers["X-Goog-Channel-Token"] == "tok-1"
    assert first.headers["X-Goog-Resource-ID"] == ch["resourceId"] and first.body == b""
    cal.events().insert(calendarId="primary", body=ev()).execute()
    second = push_receiver.wait_for(2)[1]
    assert second.headers["X-Goog-Resource-State"] == "exists" and second.body == b""
    assert int(second.headers["X-Goog-Message-Number"]) > 1
    cal.channels().stop(body={"id": "chan-1", "resourceId": ch["resourceId"]}).execute()
    cal.events().insert(calendarId="primary", body=ev()).execute()
    time.sleep(0.2)
    assert len(push_receiver.received) == 2


def test_push_channel_expiry_cap_and_address_rules(ws: Ws, ev: Body, push_receiver: PushReceiver) -> None:
    cal = ws.as_user(ALICE)
    with pytest.raises(HttpError) as info:
        cal.events().watch(
            calendarId="primary", body={"id": "c2", "type": "web_hook", "address": "http://example.com/hook"}
        ).execute()
    assert info.value.resp.status == 400
    far = int(time.time() * 1000) + 30 * 24 * 3600 * 1000
    ch = (
        cal.events()
        .watch(
            calendarId="primary",
            body={"id": "c3", "type": "web_hook", "address": push_receiver.url, "expiration": far},
        )
        .execute()
    )
    assert int(ch["expiration"]) <= int(time.time() * 1000) + 7 * 24 * 3600 * 1000 + 5000
    push_receiver.wait_for(1)
    ws.world.channels["c3"].expiration_ms = int(time.time() * 1000) - 1
    cal.events().insert(calendarId="primary", body=ev()).execute()
    time.sleep(0.2)
    assert len(push_receiver.received) == 1
