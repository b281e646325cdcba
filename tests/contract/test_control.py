"""Contract: the ``/_emulator/`` control API changes the world the way an admin would, seen through
the real clients."""

from __future__ import annotations

import json

import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from connectors.google.clients import build_service, user_credentials
from connectors.google_emulator.server import EmulatorServer
from tests.contract import workspace_fixtures as fx
from tests.contract.validating_http import ValidatingHttp
from tests.contract.workspace_fixtures import ADMIN, CAL_SCOPE, SA_EMAIL, Workspace, acme_seed

workspace = fx.workspace


def test_seed_users_and_errors_name_the_field(workspace: Workspace) -> None:
    status, body = workspace.control("POST", "/_emulator/users", [
        {"primaryEmail": "new.hire@acme.example", "name": {"givenName": "New", "familyName": "Hire"}}])
    assert status == 200 and body == {"added": ["new.hire@acme.example"]}
    got = workspace.directory().users().get(userKey="new.hire@acme.example").execute()
    assert got["name"]["fullName"] == "New Hire"
    status, body = workspace.control("POST", "/_emulator/users", [{"primaryEmail": "not-an-email"}])
    assert status == 400 and body["error"]["field"] == "users[0].primaryEmail"
    mars = [{"resourceName": "X", "buildingId": "MARS"}]
    status, body = workspace.control("POST", "/_emulator/rooms", mars)
    assert status == 400 and body["error"]["field"] == "rooms[0].buildingId"
    status, body = workspace.control("POST", "/_emulator/seed", {"usres": []})
    assert status == 400 and body["error"]["field"] == "usres"
    status, body = workspace.control("POST", "/_emulator/users", None)
    assert status == 400 and body["error"]["field"] == "body"


def test_suspend_and_unsuspend_a_user(workspace: Workspace) -> None:
    email = "linus.goldberg3@acme.example"
    assert workspace.control("POST", f"/_emulator/users/{email}/suspend", {"reason": "ADMIN"})[0] == 200
    user = workspace.directory().users().get(userKey=email).execute()
    assert user["suspended"] is True and user["suspensionReason"] == "ADMIN"
    with pytest.raises(HttpError) as exc:
        workspace.calendar(email).events().list(calendarId="primary").execute()
    assert json.loads(exc.value.content)["error"]["errors"][0]["reason"] == "notACalendarUser"
    assert workspace.control("POST", f"/_emulator/users/{email}/unsuspend")[0] == 200
    assert "items" in workspace.calendar(email).events().list(calendarId="primary").execute()
    assert workspace.control("POST", "/_emulator/users/nobody@acme.example/suspend")[0] == 404


def test_deleted_user_can_no_longer_be_impersonated(workspace: Workspace) -> None:
    email = "margaret.turing4@acme.example"
    assert workspace.control("DELETE", f"/_emulator/users/{email}")[0] == 200
    with pytest.raises(RefreshError) as exc:
        workspace.calendar(email).calendars().get(calendarId="primary").execute()
    assert "deleted" in str(exc.value)


def test_revoking_a_refresh_token_is_seen_by_google_auth(workspace: Workspace) -> None:
    client = {"client_id": "42-emu.apps.googleusercontent.com", "client_secret": "s3cret",
              "redirect_uris": ["http://127.0.0.1:9/cb"]}
    assert workspace.control("POST", "/_emulator/oauth-clients", [client])[0] == 200
    status, issued = workspace.control("POST", "/_emulator/refresh-tokens", {
        "user": "grace.lamport2@acme.example", "client_id": client["client_id"], "scopes": [CAL_SCOPE]})
    assert status == 200
    import google_auth_httplib2

    creds = user_credentials(issued["refresh_token"], client["client_id"], client["client_secret"],
                             [CAL_SCOPE], workspace.url + "token")
    cal = build_service("calendar", "v3", root_url=workspace.url,
                        http=google_auth_httplib2.AuthorizedHttp(creds, http=ValidatingHttp(timeout=10)))
    assert cal.calendars().get(calendarId="primary").execute()["id"] == "grace.lamport2@acme.example"
    status, body = workspace.control("POST", "/_emulator/tokens/revoke",
                                     {"refresh_token": issued["refresh_token"]})
    assert status == 200 and body == {"tokensRevoked": 1}
    with pytest.raises(RefreshError) as exc:
        cal.calendars().get(calendarId="primary").execute()
    assert "invalid_grant" in str(exc.value)
    assert workspace.control("POST", "/_emulator/tokens/revoke", {})[1]["error"]["field"] == "refresh_token"


def test_options_events_with_tombstones_and_outbox(workspace: Workspace) -> None:
    status, opts = workspace.control("PUT", "/_emulator/options", {"room_response_delay_s": 0.01})
    assert status == 200 and opts["room_response_delay_s"] == 0.01
    status, body = workspace.control("PUT", "/_emulator/options", {"room_delay": 1})
    assert status == 400 and body["error"]["field"] == "room_delay"
    status, body = workspace.control("PUT", "/_emulator/options", {"conference_failure_rate": 2})
    assert status == 400 and body["error"]["field"] == "conference_failure_rate"
    status, opts = workspace.control("PUT", "/_emulator/options",
                                     {"push_max_retries": 2, "push_retry_base_s": 0.1, "empty_pages": True})
    assert status == 200
    assert (opts["push_max_retries"], opts["push_retry_base_s"], opts["empty_pages"]) == (2, 0.1, True)
    assert workspace.world.options.empty_pages is True
    status, body = workspace.control("PUT", "/_emulator/options", {"empty_pages": "yes"})
    assert status == 400 and body["error"]["field"] == "empty_pages"
    workspace.control("PUT", "/_emulator/options", {"empty_pages": False})
    organizer = "ada.torvalds0@acme.example"
    cal = workspace.calendar(organizer)
    made = cal.events().insert(calendarId="primary", sendUpdates="all", body={
        "summary": "Invite", "start": {"dateTime": "2027-11-01T10:00:00Z"},
        "end": {"dateTime": "2027-11-01T11:00:00Z"}, "attendees": [{"email": "guest4@gmail.com"}]}).execute()
    cal.events().delete(calendarId="primary", eventId=made["id"], sendUpdates="all").execute()
    status, view = workspace.control("GET", f"/_emulator/calendars/{organizer}/events")
    mine = [e for e in view["events"] if e["event"]["id"] == made["id"]]
    assert status == 200 and mine[0]["deleted"] is True and mine[0]["event"]["status"] == "cancelled"
    live = workspace.control("GET", f"/_emulator/calendars/{organizer}/events?includeDeleted=false")[1]
    assert made["id"] not in [e["event"]["id"] for e in live["events"]]
    status, box = workspace.control("GET", f"/_emulator/outbox?to=guest4@gmail.com&eventId={made['id']}")
    assert status == 200 and [m["kind"] for m in box["messages"]] == ["invitation", "cancellation"]
    assert workspace.control("GET", "/_emulator/calendars/nobody@acme.example/events")[0] == 404


def test_service_account_key_and_reset(workspace: Workspace) -> None:
    status, key = workspace.control("GET", f"/_emulator/service-accounts/{SA_EMAIL}/key")
    assert status == 200 and key["type"] == "service_account" and key["token_uri"] == workspace.url + "token"
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert workspace.control("GET", "/_emulator/service-accounts/x@y.iam.gserviceaccount.com/key")[0] == 404
    directory = workspace.directory(ADMIN)  # built with the key the emulator held before the reset
    assert workspace.control("POST", "/_emulator/reset")[0] == 200
    assert workspace.control("GET", "/_emulator/users")[1] == {"users": [], "rooms": []}
    with pytest.raises(RefreshError):
        directory.users().get(userKey=ADMIN).execute()


def test_vendor_service_account_acts_for_its_own_owner_accounts() -> None:
    # The seed grants the vendor's service account the Calendar scope on the vendor's own domain, so it
    # can act for an owner account and invite customer users, as vendor mode needs.
    owner = "calendar-owner-1@muster-vendor.example"
    with EmulatorServer(seed=acme_seed()) as server:
        _vendor_acts_for(Workspace(server, acme_seed()), owner)


def _vendor_acts_for(workspace: Workspace, owner: str) -> None:
    cal = workspace.calendar(subject=owner)
    event = cal.events().insert(calendarId="primary", body={
        "summary": "Vendor-owned", "start": {"dateTime": "2027-01-11T10:00:00Z"},
        "end": {"dateTime": "2027-01-11T11:00:00Z"}, "attendees": [{"email": "ada.torvalds0@acme.example"}],
    }).execute()
    assert event["organizer"]["email"] == owner
    # Directory scopes were not granted on the vendor domain: asking for them is refused at the token.
    with pytest.raises(RefreshError, match="unauthorized_client"):
        workspace.directory(subject=owner).users().get(userKey=owner).execute()


def test_vendor_without_own_delegation_is_refused() -> None:
    seed = acme_seed()
    seed["vendor"]["ownDomainDelegation"] = False
    with EmulatorServer(seed=seed) as server:
        ws = Workspace(server, seed)
        with pytest.raises(RefreshError, match="unauthorized_client"):
            ws.calendar(subject="calendar-owner-1@muster-vendor.example").events().list(calendarId="primary").execute()


def test_health_lists_every_api_package_module(workspace: Workspace) -> None:
    """Every module of the package that contributes routes, middleware or hooks is assembled by ``app.py``
    (a new module not added to ``MODULES`` would be served by nothing)."""
    import pkgutil

    import connectors.google_emulator as package
    from connectors.google_emulator.app import MODULES

    status, body = workspace.control("GET", "/_emulator/health")
    assert status == 200 and body["ok"] is True
    assert body["modules"] == [m.__name__ for m in MODULES]
    assert "connectors.google_emulator.calendar.events" in body["modules"]
    hooks = ("routes", "control_routes", "wrap_google", "install", "shutdown")
    contributing = set()
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = __import__(info.name, fromlist=["_"])
        if any(callable(getattr(module, hook, None)) and getattr(module, hook).__module__ == info.name
               for hook in hooks):
            contributing.add(info.name)
    assert contributing == set(body["modules"]), contributing ^ set(body["modules"])
