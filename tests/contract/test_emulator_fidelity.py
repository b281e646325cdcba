"""Contract: behaviours of the reference (§0, §1.3-1.4, §6.3, §7.1, §10, §20) that fakes get wrong.

Where it sits: ``tests/contract``, beside ``test_emulator_events.py`` / ``test_emulator_sync_push.py``;
each test goes through the real google-api-python-client (or, where the client cannot express the
request, raw HTTP with a real bearer token) against the emulator over HTTP. The notification tests pin
what the invitations outbox records for ``sendUpdates`` (sources in ``eventmodel``'s docstring).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httplib2
import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from connectors.google_emulator.state import rfc3339
from tests.contract.conftest import ALICE, BOB, CAL, ERIN, GUEST, ROOM, Ws, timed

Body = Callable[..., dict[str, Any]]
EXT = "pat@partner.example"  # not a Google Calendar user: outside the world's domains, not Gmail


def _err(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str, str]:
    err = json.loads(exc.value.content)["error"]
    return exc.value.resp.status, err["errors"][0]["reason"], err["errors"][0]["message"]


def _mail(ws: Ws) -> list[tuple[str, str]]:
    out = sorted((m.kind, m.to) for m in ws.world.outbox)
    ws.world.outbox.clear()
    return out


def _status(req: Any) -> int:
    """Execute a client request and return the HTTP status the client saw."""
    seen: list[int] = []
    original = req.postproc

    def postproc(resp: Any, content: Any) -> Any:
        seen.append(int(resp.status))
        return original(resp, content)

    req.postproc = postproc
    req.execute()
    return seen[-1]


# ------------------------------------------------------------------------------------ notifications
def test_adding_or_removing_a_guest_with_send_updates_all_mails_every_guest(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    atts = [{"email": ALICE}, {"email": BOB}, {"email": ERIN}, {"email": EXT}, {"email": ROOM}]
    e = cal.events().insert(calendarId="primary", body=ev(attendees=atts), sendUpdates="all").execute()
    assert _mail(ws) == [("invitation", BOB), ("invitation", ERIN), ("invitation", EXT)]
    # Only change: one more guest. The new guest is invited AND every existing guest gets an update.
    cal.events().patch(
        calendarId="primary",
        eventId=e["id"],
        sendUpdates="all",
        body={"attendees": [*atts, {"email": GUEST}]},
    ).execute()
    assert _mail(ws) == [("invitation", GUEST), ("update", BOB), ("update", ERIN), ("update", EXT)]
    # Only change: one guest fewer. The removed guest gets a cancellation, the others an update.
    fewer = [a for a in atts if a["email"] != ERIN] + [{"email": GUEST}]
    cal.events().patch(
        calendarId="primary", eventId=e["id"], sendUpdates="all", body={"attendees": fewer}
    ).execute()
    assert {m.sender for m in ws.world.outbox} == {ALICE}
    assert _mail(ws) == [("cancellation", ERIN), ("update", BOB), ("update", GUEST), ("update", EXT)]
    # The same membership change without notifications mails nobody.
    cal.events().patch(
        calendarId="primary", eventId=e["id"], sendUpdates="none", body={"attendees": atts}
    ).execute()
    assert _mail(ws) == []


def test_description_only_and_time_changes_mail_every_guest_once(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    e = (
        cal.events()
        .insert(calendarId="primary", body=ev(attendees=[{"email": BOB}, {"email": EXT}]), sendUpdates="none")
        .execute()
    )
    assert _mail(ws) == []
    cal.events().patch(
        calendarId="primary", eventId=e["id"], sendUpdates="all", body={"description": "Bring a laptop"}
    ).execute()
    assert _mail(ws) == [("update", BOB), ("update", EXT)]
    cal.events().patch(
        calendarId="primary",
        eventId=e["id"],
        sendUpdates="all",
        body=timed("2027-01-11T14:00:00Z", "2027-01-11T15:00:00Z"),
    ).execute()
    msgs = list(ws.world.outbox)
    assert _mail(ws) == [("update", BOB), ("update", EXT)]
    assert {m.event_id for m in msgs} == {e["id"]} and {m.calendar_id for m in msgs} == {ALICE}
    # A notified write that changes nothing guest-visible still mails (Google documents no diffing).
    cal.events().patch(
        calendarId="primary",
        eventId=e["id"],
        sendUpdates="all",
        body={"extendedProperties": {"private": {"owner": "muster"}}},
    ).execute()
    assert _mail(ws) == [("update", BOB), ("update", EXT)]
    cal.events().update(calendarId="primary", eventId=e["id"], sendUpdates="none", body=ev("quiet")).execute()
    assert _mail(ws) == []  # sendUpdates=none: nobody hears, even about a full replace


def test_omitted_send_updates_still_mails_guests_who_do_not_use_google_calendar(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    atts = [{"email": BOB}, {"email": GUEST}, {"email": EXT}]
    e = cal.events().insert(calendarId="primary", body=ev(attendees=atts)).execute()
    assert _mail(ws) == [("invitation", EXT)]
    cal.events().patch(
        calendarId="primary", eventId=e["id"], body={"summary": "x"}, sendNotifications=False
    ).execute()
    assert _mail(ws) == [("update", EXT)]
    cal.events().patch(
        calendarId="primary", eventId=e["id"], body={"summary": "y"}, sendUpdates="externalOnly"
    ).execute()
    assert _mail(ws) == [("update", EXT)]
    cal.events().patch(
        calendarId="primary", eventId=e["id"], body={"summary": "z"}, sendNotifications=True
    ).execute()
    assert _mail(ws) == [("update", BOB), ("update", GUEST), ("update", EXT)]
    cal.events().delete(calendarId="primary", eventId=e["id"], sendUpdates="none").execute()
    assert _mail(ws) == []


def test_move_mails_guests_from_the_new_organizer_and_import_mails_nobody(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    team = cal.calendars().insert(body={"summary": "Team"}).execute()["id"]
    e = (
        cal.events()
        .insert(calendarId="primary", body=ev(attendees=[{"email": BOB}]), sendUpdates="none")
        .execute()
    )
    cal.events().move(calendarId="primary", eventId=e["id"], destination=team, sendUpdates="all").execute()
    msgs = list(ws.world.outbox)
    assert _mail(ws) == [("update", BOB)] and msgs[0].sender == team and msgs[0].calendar_id == team
    cal.events().import_(
        calendarId="primary", body=ev(iCalUID="ext-1@partner.example", attendees=[{"email": EXT}])
    ).execute()
    assert _mail(ws) == []


def test_cancelling_through_status_mails_cancellations(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    e = (
        cal.events()
        .insert(calendarId="primary", body=ev(attendees=[{"email": BOB}]), sendUpdates="none")
        .execute()
    )
    cal.events().patch(
        calendarId="primary", eventId=e["id"], sendUpdates="all", body={"status": "cancelled"}
    ).execute()
    assert _mail(ws) == [("cancellation", BOB)]
    cal.events().patch(
        calendarId="primary", eventId=e["id"], sendUpdates="all", body={"status": "confirmed"}
    ).execute()
    assert _mail(ws) == [("invitation", BOB)]


# ------------------------------------------------------------------------------------ HTTP surface
def test_status_codes_are_200_for_writes_and_204_for_delete_and_stop(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    team = cal.calendars().insert(body={"summary": "Team"}).execute()["id"]
    e = cal.events().insert(calendarId="primary", body=ev())
    assert _status(e) == 200
    eid = cal.events().list(calendarId="primary").execute()["items"][0]["id"]
    assert _status(cal.events().patch(calendarId="primary", eventId=eid, body={"summary": "p"})) == 200
    assert _status(cal.events().update(calendarId="primary", eventId=eid, body=ev("u"))) == 200
    assert _status(cal.events().move(calendarId="primary", eventId=eid, destination=team)) == 200
    assert _status(cal.events().import_(calendarId="primary", body=ev(iCalUID="i-1@x.example"))) == 200
    assert _status(cal.events().delete(calendarId=team, eventId=eid)) == 204
    receiver = "http://127.0.0.1:9/hook"  # nothing listens: deliveries fail, the channel still exists
    ch = cal.events().watch(
        calendarId="primary", body={"id": "st-1", "type": "web_hook", "address": receiver}
    )
    made = ch.execute()
    assert isinstance(made["expiration"], str) and made["expiration"].isdigit()
    stop = cal.channels().stop(body={"id": "st-1", "resourceId": made["resourceId"]})
    assert _status(stop) == 204


def _raw(ws: Ws, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    tok = ws.world.issue_access_token(email=ALICE, sub="1", scopes=[CAL], kind="user", client_id="c").token
    headers = {"authorization": f"Bearer {tok}", "content-type": "application/json"}
    resp, content = httplib2.Http().request(ws.url + path, method, body=body, headers=headers)
    return int(resp.status), json.loads(content)


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("PUT", "calendar/v3/calendars/primary/events", b"{}", 405),  # known path, wrong method
        ("GET", "calendar/v3/no/such/thing", None, 404),
        ("POST", "calendar/v3/calendars/primary/events", b"{not json", 400),
        ("GET", "calendar/v3/calendars/primary/events?maxResults=ten", None, 400),
    ],
)
def test_every_error_uses_googles_envelope_with_a_reason(
    ws: Ws, method: str, path: str, body: bytes | None, code: int
) -> None:
    status, payload = _raw(ws, method, path, body)
    err = payload["error"]
    assert status == code == err["code"]
    assert err["message"] and err["errors"][0]["reason"] and err["errors"][0]["domain"]


def test_global_parameters_are_accepted_and_fields_gives_a_partial_response(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    made = (
        cal.events()
        .insert(calendarId="primary", body=ev(), quotaUser="learner-1", prettyPrint=False)
        .execute()
    )
    got = (
        cal.events()
        .list(
            calendarId="primary", fields="items(id,summary),nextSyncToken", prettyPrint=False, quotaUser="q1"
        )
        .execute()
    )
    assert set(got) == {"items", "nextSyncToken"} and got["items"] == [
        {"id": made["id"], "summary": "Session"}
    ]
    one = (
        cal.events()
        .get(calendarId="primary", eventId=made["id"], fields="start/dateTime,organizer")
        .execute()
    )
    assert one == {"start": {"dateTime": made["start"]["dateTime"]}, "organizer": made["organizer"]}
    with pytest.raises(HttpError) as info:
        cal.events().patch(
            calendarId="primary", eventId=made["id"], body={"summary": "x"}, fields="items(id"
        ).execute()
    assert _err(info)[:2] == (400, "invalidParameter")
    assert cal.events().get(calendarId="primary", eventId=made["id"]).execute()["summary"] == "Session"


def test_path_segments_are_percent_decoded_and_encoded_slash_stays_inside(ws: Ws, ev: Body) -> None:
    ws.world.calendar_for(BOB).acl[ALICE] = "writer"  # type: ignore[union-attr]
    cal = ws.as_user(ALICE)
    e = cal.events().insert(calendarId=BOB, body=ev()).execute()  # sent as bob%40corp.test
    assert cal.events().get(calendarId=BOB, eventId=e["id"]).execute()["id"] == e["id"]
    with pytest.raises(HttpError) as info:
        cal.events().get(calendarId="primary", eventId=f"{e['id']}/instances").execute()  # %2F in one segment
    assert _err(info)[:2] == (404, "notFound")


def test_page_sizes_are_capped_not_refused(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    for day in (11, 12, 13):
        cal.events().insert(calendarId="primary", body=ev(day=day)).execute()
    assert len(cal.events().list(calendarId="primary", maxResults=99999).execute()["items"]) == 3
    assert cal.calendarList().list(maxResults=1000).execute()["items"]


def test_empty_pages_with_a_page_token_must_be_followed(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    for day in (11, 12, 13):
        cal.events().insert(calendarId="primary", body=ev(day=day)).execute()
    ws.world.options.empty_pages = True
    req = cal.events().list(calendarId="primary", maxResults=2)
    pages: list[dict[str, Any]] = []
    while req is not None:
        page = req.execute()
        pages.append(page)
        req = cal.events().list_next(req, page)
    assert pages[0]["items"] == [] and "nextPageToken" in pages[0]
    assert sum(len(p["items"]) for p in pages) == 3
    assert "nextSyncToken" in pages[-1] and all("nextSyncToken" not in p for p in pages[:-1])
    token = pages[-1]["nextSyncToken"]
    cal.events().insert(calendarId="primary", body=ev(day=14)).execute()
    first = cal.events().list(calendarId="primary", syncToken=token).execute()
    assert first["items"] == [] and "nextSyncToken" not in first
    rest = (
        cal.events().list(calendarId="primary", syncToken=token, pageToken=first["nextPageToken"]).execute()
    )
    assert len(rest["items"]) == 1 and rest["nextSyncToken"]


# ------------------------------------------------------------------------------------ events rules
def test_client_id_length_boundaries(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    for ok in ("abcde", "v" * 1024, "0123456789abcdefghijklmnopqrstuv"):
        assert cal.events().insert(calendarId="primary", body=ev(id=ok)).execute()["id"] == ok
    for bad in ("abcd", "abcdw", "ABCDE", "abc_de"):
        with pytest.raises(HttpError) as info:
            cal.events().insert(calendarId="primary", body=ev(id=bad)).execute()
        assert _err(info) == (400, "invalid", "Invalid resource id value.")


def test_stale_sequence_in_a_write_is_refused(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    e = cal.events().insert(calendarId="primary", body=ev()).execute()
    moved = (
        cal.events()
        .patch(
            calendarId="primary", eventId=e["id"], body=timed("2027-01-11T12:00:00Z", "2027-01-11T13:00:00Z")
        )
        .execute()
    )
    assert moved["sequence"] == 1
    with pytest.raises(HttpError) as info:
        cal.events().update(calendarId="primary", eventId=e["id"], body={**ev(), "sequence": 0}).execute()
    assert _err(info)[:2] == (400, "invalid")
    assert cal.events().update(calendarId="primary", eventId=e["id"], body={**ev(), "sequence": 1}).execute()


def test_expired_refresh_token_is_invalid_grant(ws: Ws) -> None:
    from connectors.google.clients import user_credentials
    from tests.contract.conftest import OAUTH_CLIENT_ID, OAUTH_SECRET

    rt = ws.world.issue_refresh_token(
        BOB, OAUTH_CLIENT_ID, [CAL], expires_at=ws.world.now() - timedelta(seconds=1)
    )
    cal = ws.calendar(user_credentials(rt.token, OAUTH_CLIENT_ID, OAUTH_SECRET, [CAL], ws.token_uri))
    with pytest.raises(RefreshError) as info:
        cal.calendars().get(calendarId="primary").execute()
    assert "invalid_grant: Token has been expired or revoked." in str(info.value)


# ------------------------------------------------------------------------------------ push retries
class FlakyReceiver:
    """Answers the queued statuses in turn (then 200) and records every POST."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.got: list[tuple[str, str, bytes]] = []  # (state, message number, body)
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                with outer.cond:
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    outer.got.append(
                        (self.headers["X-Goog-Resource-State"], self.headers["X-Goog-Message-Number"], body)
                    )
                    outer.cond.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 5.0) -> list[tuple[str, str, bytes]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.got) >= n, timeout)
            return list(self.got)


@pytest.fixture
def flaky() -> Iterator[Callable[[list[int]], FlakyReceiver]]:
    made: list[FlakyReceiver] = []

    def make(statuses: list[int]) -> FlakyReceiver:
        made.append(FlakyReceiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.httpd.shutdown()


def test_push_is_retried_with_backoff_on_5xx_but_not_on_4xx(
    ws: Ws, ev: Body, flaky: Callable[[list[int]], FlakyReceiver]
) -> None:
    ws.world.options.push_retry_base_s = 0.05
    cal = ws.as_user(ALICE)
    busy = flaky([503, 500, 502, 504])
    cal.events().watch(
        calendarId="primary", body={"id": "r-1", "type": "web_hook", "address": busy.url}
    ).execute()
    got = busy.wait_for(5)
    assert [(s, n) for s, n, _ in got] == [("sync", "1")] * 5 and all(b == b"" for _, _, b in got)
    deadline = time.monotonic() + 5
    while len(ws.world.channels["r-1"].delivered) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)  # the receiver records before the emulator reads the answer
    assert [c for _, _, c in ws.world.channels["r-1"].delivered] == [503, 500, 502, 504, 200]
    refusing = flaky([404])
    cal.events().watch(
        calendarId="primary", body={"id": "r-2", "type": "web_hook", "address": refusing.url}
    ).execute()
    refusing.wait_for(1)
    cal.events().insert(calendarId="primary", body=ev()).execute()
    got = refusing.wait_for(2)
    assert [(s, n) for s, n, _ in got] == [("sync", "1"), ("exists", "2")]  # 404 is final: no retry


def test_updated_min_lists_deletions_like_a_sync(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    e = cal.events().insert(calendarId="primary", body=ev()).execute()
    cal.events().delete(calendarId="primary", eventId=e["id"]).execute()
    since = rfc3339(ws.world.now() - timedelta(hours=1))
    got = cal.events().list(calendarId="primary", updatedMin=since).execute()["items"]
    assert [(i["id"], i["status"]) for i in got] == [(e["id"], "cancelled")]
    assert cal.events().list(calendarId="primary").execute()["items"] == []


def test_reminder_overrides_are_limited(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    six = [{"method": "popup", "minutes": m} for m in range(6)]
    for reminders in (
        {"useDefault": False, "overrides": six},
        {"overrides": [{"method": "popup", "minutes": 40321}]},
    ):
        with pytest.raises(HttpError) as info:
            cal.events().insert(calendarId="primary", body=ev(reminders=reminders)).execute()
        assert _err(info)[:2] == (400, "invalid")
    ok = {"useDefault": False, "overrides": six[:5]}
    assert cal.events().insert(calendarId="primary", body=ev(reminders=ok)).execute()["reminders"] == ok


def test_if_none_match_with_the_current_etag_is_304(ws: Ws, ev: Body) -> None:
    cal = ws.as_user(ALICE)
    e = cal.events().insert(calendarId="primary", body=ev()).execute()
    req = cal.events().get(calendarId="primary", eventId=e["id"])
    req.headers["If-None-Match"] = e["etag"]
    with pytest.raises(HttpError) as info:
        req.execute()
    assert info.value.resp.status == 304
    stale = cal.events().get(calendarId="primary", eventId=e["id"])
    stale.headers["If-None-Match"] = '"1"'
    assert stale.execute()["id"] == e["id"]


def test_instance_ids_follow_googles_format(ws: Ws) -> None:
    cal = ws.as_user(ALICE)
    timed_series = (
        cal.events()
        .insert(
            calendarId="primary",
            body={
                **timed("2027-01-11T10:00:00Z", "2027-01-11T11:00:00Z"),
                "recurrence": ["RRULE:FREQ=DAILY;COUNT=2"],
            },
        )
        .execute()
    )
    day_series = (
        cal.events()
        .insert(
            calendarId="primary",
            body={
                "start": {"date": "2027-01-11"},
                "end": {"date": "2027-01-12"},
                "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=2"],
            },
        )
        .execute()
    )
    ids = [
        i["id"]
        for i in cal.events().instances(calendarId="primary", eventId=timed_series["id"]).execute()["items"]
    ]
    assert ids == [f"{timed_series['id']}_20270111T100000Z", f"{timed_series['id']}_20270112T100000Z"]
    items = cal.events().instances(calendarId="primary", eventId=day_series["id"]).execute()["items"]
    assert [i["id"] for i in items] == [f"{day_series['id']}_20270111", f"{day_series['id']}_20270118"]
    assert all(i["recurringEventId"] == day_series["id"] and "recurrence" not in i for i in items)


def test_watch_params_ttl_sets_the_expiration(ws: Ws) -> None:
    cal = ws.as_user(ALICE)
    before = int(time.time() * 1000)
    body = {"id": "ttl-1", "type": "web_hook", "address": "http://127.0.0.1:9/h", "params": {"ttl": "600"}}
    ch = cal.events().watch(calendarId="primary", body=body).execute()
    assert before + 590_000 <= int(ch["expiration"]) <= int(time.time() * 1000) + 600_000


def test_guests_see_a_cancelled_instance_as_cancelled_and_a_deleted_series_takes_its_exceptions(
    ws: Ws,
) -> None:
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    body = {
        **timed("2027-01-11T10:00:00Z", "2027-01-11T11:00:00Z"),
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
        "attendees": [{"email": BOB}],
    }
    series = alice.events().insert(calendarId="primary", body=body).execute()
    token = bob.events().list(calendarId="primary", singleEvents=True).execute()["nextSyncToken"]
    first, second, third = (
        alice.events().instances(calendarId="primary", eventId=series["id"]).execute()["items"]
    )
    alice.events().delete(calendarId="primary", eventId=second["id"]).execute()
    alice.events().patch(calendarId="primary", eventId=third["id"], body={"summary": "moved"}).execute()
    for view in (alice, bob):
        seen = view.events().list(calendarId="primary", singleEvents=True).execute()["items"]
        assert [(i["id"], i.get("summary")) for i in seen] == [(first["id"], None), (third["id"], "moved")]
        listed = view.events().instances(calendarId="primary", eventId=series["id"]).execute()["items"]
        assert [i["id"] for i in listed] == [first["id"], third["id"]]
    delta = bob.events().list(calendarId="primary", singleEvents=True, syncToken=token).execute()["items"]
    gone = next(i for i in delta if i["id"] == second["id"])
    assert (
        gone["status"] == "cancelled"
        and gone["recurringEventId"] == series["id"]
        and gone["originalStartTime"]
    )
    alice.events().delete(calendarId="primary", eventId=series["id"]).execute()
    for view in (alice, bob):
        assert view.events().list(calendarId="primary", singleEvents=True).execute()["items"] == []
        assert view.events().list(calendarId="primary").execute()["items"] == []
    assert alice.events().get(calendarId="primary", eventId=third["id"]).execute()["status"] == "cancelled"


def test_calendar_list_basics(ws: Ws) -> None:
    cal = ws.as_user(ALICE)
    team = cal.calendars().insert(body={"summary": "Team"}).execute()
    assert team["id"].endswith("@group.calendar.google.com") and team["dataOwner"] == ALICE
    assert cal.calendars().get(calendarId="primary").execute()["id"] == ALICE
    entries = {e["id"]: e for e in cal.calendarList().list().execute()["items"]}
    assert set(entries) == {ALICE, team["id"]}
    assert entries[ALICE]["primary"] is True and entries[ALICE]["accessRole"] == "owner"
    assert "primary" not in entries[team["id"]] and entries[team["id"]]["accessRole"] == "owner"
    assert cal.calendarList().get(calendarId=team["id"]).execute()["summary"] == "Team"
    with pytest.raises(HttpError) as info:
        cal.calendars().delete(calendarId="primary").execute()
    assert _err(info)[:2] == (403, "cannotDeletePrimaryCalendar")


def test_a_moved_series_keeps_its_exceptions_for_guests(ws: Ws) -> None:
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    team = alice.calendars().insert(body={"summary": "Team"}).execute()["id"]
    body = {
        **timed("2027-01-11T10:00:00Z", "2027-01-11T11:00:00Z"),
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
        "attendees": [{"email": BOB}],
    }
    series = alice.events().insert(calendarId="primary", body=body).execute()
    first, second, third = (
        alice.events().instances(calendarId="primary", eventId=series["id"]).execute()["items"]
    )
    alice.events().patch(calendarId="primary", eventId=third["id"], body={"summary": "changed"}).execute()
    alice.events().delete(calendarId="primary", eventId=second["id"]).execute()
    alice.events().move(calendarId="primary", eventId=series["id"], destination=team).execute()
    want = [(first["id"], None, team), (third["id"], "changed", team)]
    for view, cal_id in ((bob, "primary"), (alice, team)):
        items = view.events().list(calendarId=cal_id, singleEvents=True).execute()["items"]
        assert [(i["id"], i.get("summary"), i["organizer"]["email"]) for i in items] == want
    assert alice.events().list(calendarId="primary", singleEvents=True).execute()["items"] == []


def test_deleting_a_user_kills_their_live_token(ws: Ws) -> None:
    cal = ws.as_user(BOB)
    assert cal.calendars().get(calendarId="primary").execute()["id"] == BOB
    ws.world.users[BOB].deleted = True
    with pytest.raises(RefreshError) as info:  # 401 → the client refreshes → the grant is refused
        cal.calendars().get(calendarId="primary").execute()
    assert "invalid_grant: The account has been deleted" in str(info.value)
