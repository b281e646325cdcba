"""Contract: calendar ACL (sharing before events.move), Directory users and Data Transfer, through the
real clients and Muster's lifecycle connector (``connectors.google.directory_users``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from connectors.errors import PermanentError
from connectors.google.directory_users import CalendarDataTransfers, DirectoryUsers
from tests.contract.conftest import ALICE, BOB, CAROL, DAVE, ERIN, Ws

USER_RO = "https://www.googleapis.com/auth/admin.directory.user.readonly"
TRANSFER = "https://www.googleapis.com/auth/admin.datatransfer"


def test_move_needs_writer_on_destination_then_acl_allows_it(ws: Ws,
                                                             ev: Callable[..., dict[str, Any]]) -> None:
    ws.world.add_delegation_grant("104857600000000000042", "corp.test",
                                  ["https://www.googleapis.com/auth/calendar", USER_RO, TRANSFER])
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    created = alice.events().insert(calendarId=ALICE, body=ev(attendees=[{"email": ERIN}]),
                                    sendUpdates="none").execute()
    with pytest.raises(HttpError) as denied:
        alice.events().move(calendarId=ALICE, eventId=created["id"], destination=BOB).execute()
    # Alice sees only Bob's free/busy: Google hides the calendar (404) or refuses the write (403).
    assert denied.value.resp.status in (403, 404)

    share = {"role": "writer", "scope": {"type": "user", "value": ALICE}}
    rule = bob.acl().insert(calendarId=BOB, body=share, sendNotifications=False).execute()
    assert rule["id"] == f"user:{ALICE}" and rule["role"] == "writer"
    with pytest.raises(HttpError) as not_owner:
        alice.acl().insert(calendarId=BOB, body={"role": "owner", "scope": {"type": "user", "value": ERIN}},
                           sendNotifications=False).execute()
    assert not_owner.value.resp.status == 403
    moved = alice.events().move(calendarId=ALICE, eventId=created["id"], destination=BOB,
                                sendUpdates="none").execute()
    assert moved["id"] == created["id"] and moved["organizer"]["email"] == BOB
    assert {r["id"] for r in bob.acl().list(calendarId=BOB).execute()["items"]} == {f"user:{BOB}",
                                                                                   f"user:{ALICE}"}
    bob.acl().delete(calendarId=BOB, ruleId=f"user:{ALICE}").execute()
    with pytest.raises(HttpError) as gone:
        bob.acl().delete(calendarId=BOB, ruleId=f"user:{ALICE}").execute()
    assert gone.value.resp.status == 404
    assert bob.events().get(calendarId=BOB, eventId=created["id"]).execute()["status"] == "confirmed"


def _admin(ws: Ws, scopes: list[str]) -> Any:
    ws.world.add_delegation_grant("104857600000000000042", "corp.test",
                                  ["https://www.googleapis.com/auth/calendar", USER_RO, TRANSFER])
    return ws.sa_creds(ALICE, scopes)


def test_directory_users_suspended_deleted_get(ws: Ws) -> None:
    users = DirectoryUsers.build(root_url=ws.url, credentials=_admin(ws, [USER_RO]), identity=ALICE)
    suspended = users.suspended()
    assert [(u.email, u.suspended, u.suspension_reason) for u in suspended] == [(CAROL, True, "ADMIN")]
    assert [u.email for u in users.deleted()] == [DAVE]
    bob = users.get(BOB)
    assert bob is not None and not bob.suspended and bob.id
    assert users.get("nobody@corp.test") is None


def test_directory_users_non_admin_is_auth_error(ws: Ws) -> None:
    ws.world.add_delegation_grant("104857600000000000042", "corp.test", [USER_RO])
    users = DirectoryUsers.build(root_url=ws.url, credentials=ws.sa_creds(BOB, [USER_RO]), identity=BOB)
    with pytest.raises(PermanentError) as err:
        users.suspended()
    assert err.value.error_class == "auth" and "Not Authorized" in str(err.value)


def test_data_transfer_moves_future_events(ws: Ws, ev: Callable[..., dict[str, Any]]) -> None:
    ws.world.options.extra["transfer_delay_s"] = 0.01
    alice = ws.as_user(ALICE)
    ev_body = ev(attendees=[{"email": ERIN}])
    ev_body["start"]["dateTime"] = "2031-01-01T10:00:00Z"
    ev_body["end"]["dateTime"] = "2031-01-01T11:00:00Z"
    created = alice.events().insert(calendarId=ALICE, body=ev_body, sendUpdates="none").execute()
    ws.world.users[ALICE].suspended = True
    creds = _admin(ws, [TRANSFER, USER_RO])
    ws.world.users[ALICE].suspended = False  # the admin itself must not be the suspended one
    transfers = CalendarDataTransfers.build(root_url=ws.url, credentials=creds, identity=ALICE)
    users = DirectoryUsers.build(root_url=ws.url, credentials=creds, identity=ALICE)
    alice_u, bob_u = users.get(ALICE), users.get(BOB)
    assert alice_u is not None and bob_u is not None
    started = transfers.start(alice_u.id, bob_u.id, release_resources=False)
    assert started.status in ("inProgress", "completed")
    deadline = time.monotonic() + 5
    status = started
    while not status.done and time.monotonic() < deadline:
        time.sleep(0.01)
        status = transfers.get(started.id)
    assert status.status == "completed"
    got = ws.as_user(BOB).events().get(calendarId=BOB, eventId=created["id"]).execute()
    assert got["organizer"]["email"] == BOB and got["status"] == "confirmed"
    with pytest.raises(PermanentError) as bad:
        transfers.start(alice_u.id, alice_u.id, release_resources=True)
    assert bad.value.status == 400
