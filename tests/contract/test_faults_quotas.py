"""Contract: injected faults and usage limits, as the real client (and its retry logic) sees them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract import workspace_fixtures as fx
from tests.contract.workspace_fixtures import SA_EMAIL, Workspace

workspace = fx.workspace
USER = "ada.torvalds0@acme.example"
EVENTS = "/calendar/v3/calendars/*/events"


@pytest.fixture(autouse=True)
def clean(workspace: Workspace) -> Iterator[None]:
    workspace.control("DELETE", "/_emulator/faults")
    workspace.control("DELETE", "/_emulator/quotas")
    workspace.control("DELETE", "/_emulator/counters")
    yield
    workspace.control("DELETE", "/_emulator/faults")
    workspace.control("DELETE", "/_emulator/quotas")


def _faults(workspace: Workspace, rules: list[dict[str, Any]], seed: int = 7) -> None:
    status, body = workspace.control("PUT", "/_emulator/faults", {"seed": seed, "rules": rules})
    assert status == 200, body


def _err(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str, str, str]:
    err = json.loads(exc.value.content)["error"]
    return exc.value.resp.status, err["errors"][0]["domain"], err["errors"][0]["reason"], err["message"]


def _event(summary: str, day: int = 1, **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "start": {"dateTime": f"2027-08-{day:02d}T10:00:00Z"},
            "end": {"dateTime": f"2027-08-{day:02d}T11:00:00Z"}, **extra}


def test_backend_error_is_retried_by_the_client(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    _faults(workspace, [{"method": "GET", "path": "/calendar/v3/calendars/*", "error_rate": 1.0,
                         "error_status": 503, "times": 1}])
    got = cal.calendars().get(calendarId="primary").execute(num_retries=2)
    assert got["id"] == USER
    log = workspace.control("GET", "/_emulator/faults")[1]["log"]
    assert [(e["fault"], e["status"]) for e in log] == [("error", 503)]
    _faults(workspace, [{"method": "GET", "path": "/calendar/v3/calendars/*", "error_rate": 1.0,
                         "error_status": 500}])
    with pytest.raises(HttpError) as exc:
        cal.calendars().get(calendarId="primary").execute()
    assert _err(exc) == (500, "global", "backendError", "Backend Error")


def test_rate_limit_429(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    _faults(workspace, [{"path": "/calendar/v3/**", "rate_limit_rate": 1.0}])
    with pytest.raises(HttpError) as exc:
        cal.events().list(calendarId="primary").execute()
    assert _err(exc) == (429, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")


def test_applied_but_lost_write(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    cal.calendars().get(calendarId="primary").execute()  # token minted before the fault
    _faults(workspace, [{"method": "POST", "path": EVENTS, "lost_rate": 1.0}])
    with pytest.raises(ConnectionError):
        cal.events().insert(calendarId="primary", body=_event("Lost answer", id="lostansver00001")).execute()
    workspace.control("DELETE", "/_emulator/faults")
    stored = cal.events().get(calendarId="primary", eventId="lostansver00001").execute()
    assert stored["summary"] == "Lost answer"  # the write happened although the client saw an error
    status, view = workspace.control("GET", f"/_emulator/calendars/{USER}/events")
    assert status == 200 and "lostansver00001" in [e["event"]["id"] for e in view["events"]]


def test_latency_and_control_api_is_never_faulted(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    cal.calendars().get(calendarId="primary").execute()
    _faults(workspace, [{"path": "/calendar/v3/calendars/*", "latency_ms": 150}])
    began = time.monotonic()
    cal.calendars().get(calendarId="primary").execute()
    assert time.monotonic() - began >= 0.15
    _faults(workspace, [{"path": "/**", "error_rate": 1.0}])
    assert workspace.control("GET", "/_emulator/health")[0] == 200


def test_seeded_faults_replay_identically(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    cal.calendars().get(calendarId="primary").execute()

    def run() -> list[int]:
        rule = {"method": "GET", "path": "/calendar/v3/calendars/*", "error_rate": 0.5}
        _faults(workspace, [rule], seed=42)
        outcome = []
        for _ in range(12):
            try:
                cal.calendars().get(calendarId="primary").execute()
                outcome.append(200)
            except HttpError as exc:
                outcome.append(exc.resp.status)
        return outcome

    first, second = run(), run()
    assert first == second and 200 in first and 503 in first


def test_fault_config_errors_name_the_field(workspace: Workspace) -> None:
    status, body = workspace.control("PUT", "/_emulator/faults", {"rules": [{"path": "no-slash"}]})
    assert status == 400 and body["error"]["field"] == "rules[0].path"
    status, body = workspace.control("PUT", "/_emulator/faults", {"rules": [{"error_status": 502}]})
    assert status == 400 and body["error"]["field"] == "rules[0].error_status"
    status, body = workspace.control("PUT", "/_emulator/quotas", {"per_user_per_minute": -1})
    assert status == 400 and body["error"]["field"] == "per_user_per_minute"


def test_per_user_quota_answers_403_user_rate_limit(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    workspace.control("PUT", "/_emulator/quotas", {"per_user_per_minute": 3})
    for _ in range(3):
        cal.events().list(calendarId="primary").execute()
    with pytest.raises(HttpError) as exc:
        cal.events().list(calendarId="primary").execute()
    assert _err(exc) == (403, "usageLimits", "userRateLimitExceeded", "User Rate Limit Exceeded")
    # quotaUser gives an impersonating service account a separate per-user bucket
    cal.events().list(calendarId="primary", quotaUser="learner-42").execute()
    counters = workspace.control("GET", "/_emulator/counters")[1]
    assert counters["by_identity"][SA_EMAIL] == 4 and counters["by_identity"]["learner-42"] == 1
    assert counters["rejected"] == {"userRateLimitExceeded": 1}
    # requests refused before routing are counted under their path, the others under the route template
    assert counters["by_route"]["GET /calendar/v3/calendars/{calendarId}/events"] == 4
    assert counters["by_route"]["GET /calendar/v3/calendars/primary/events"] == 1
    assert counters["by_status"] == {"200": 4, "403": 1}


def test_project_quota_and_429_mode(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    workspace.control("PUT", "/_emulator/quotas", {"per_project_per_minute": 2, "rate_limit_status": 429})
    cal.events().list(calendarId="primary").execute()
    cal.events().list(calendarId="primary", quotaUser="someone-else").execute()
    with pytest.raises(HttpError) as exc:
        cal.events().list(calendarId="primary", quotaUser="third").execute()
    assert _err(exc) == (429, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")


def test_calendar_usage_limits_are_quota_exceeded_and_not_retried(workspace: Workspace) -> None:
    cal = workspace.calendar("alan.perlman1@acme.example")
    workspace.control("PUT", "/_emulator/quotas", {"events_created_per_user": 2})
    cal.events().insert(calendarId="primary", body=_event("One", 2)).execute()
    cal.events().insert(calendarId="primary", body=_event("Two", 3)).execute()
    workspace.control("DELETE", "/_emulator/counters")
    with pytest.raises(HttpError) as exc:
        cal.events().insert(calendarId="primary", body=_event("Three", 4)).execute(num_retries=3)
    assert _err(exc) == (403, "usageLimits", "quotaExceeded", "Calendar usage limits exceeded.")
    assert workspace.control("GET", "/_emulator/counters")[1]["total"] == 1  # the client did not retry
    workspace.control("PUT", "/_emulator/quotas", {"events_created_per_user": None,
                                                   "external_invites_per_user": 1})
    guests = [{"email": "guest2@gmail.com"}, {"email": "guest3@gmail.com"}]
    with pytest.raises(HttpError) as invites:
        cal.events().insert(calendarId="primary", body=_event("Many", 5, attendees=guests)).execute()
    assert _err(invites)[2] == "quotaExceeded"
    inside = [{"email": "ada.torvalds0@acme.example"}, {"email": "guest2@gmail.com"}]
    assert cal.events().insert(calendarId="primary", body=_event("Ok", 6, attendees=inside)).execute()["id"]


def test_lost_part_loses_the_whole_batch_answer(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    cal.calendars().get(calendarId="primary").execute()
    # httplib2 re-sends a request once when the connection drops before the status line: lose both sends
    _faults(workspace, [{"method": "POST", "path": EVENTS, "lost_rate": 1.0, "times": 2}])
    batch = cal.new_batch_http_request()
    batch.add(cal.events().insert(calendarId="primary", body=_event("In a batch", 7, id="batchlost00001")))
    batch.add(cal.calendars().get(calendarId="primary"))
    with pytest.raises(ConnectionError):
        batch.execute()
    log = workspace.control("GET", "/_emulator/faults")[1]["log"]
    assert [e["fault"] for e in log] == ["lost", "lost"]
    workspace.control("DELETE", "/_emulator/faults")
    got = cal.events().get(calendarId="primary", eventId="batchlost00001").execute()
    assert got["summary"] == "In a batch"


def test_quota_user_over_40_characters_is_a_400_and_one_of_40_gets_its_own_bucket(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    with pytest.raises(HttpError) as exc:
        cal.events().list(calendarId="primary", quotaUser="q" * 41).execute()
    status, _domain, reason, message = _err(exc)
    assert (status, reason) == (400, "invalidParameter") and "quotaUser" in message and "40" in message
    cal.events().list(calendarId="primary", quotaUser="q" * 40).execute()
    counters = workspace.control("GET", "/_emulator/counters")[1]
    assert counters["by_identity"]["q" * 40] == 1


def test_the_connector_sends_a_quota_user_google_accepts_for_any_address_length() -> None:
    from connectors.ports.calendar import QUOTA_USER_MAX, Actor, quota_user_for

    short = "organizer@acme.example"
    long_one = "a.very.long.organizer.name.for.testing@subsidiary.acme.example"
    assert quota_user_for(short) == short and Actor("vendor", short.upper()).quota_user == short
    hashed = quota_user_for(long_one)
    assert len(hashed) == QUOTA_USER_MAX and hashed.startswith("u-")
    assert hashed == quota_user_for(long_one.upper())  # stable per identity
    assert hashed != quota_user_for(long_one.replace("very", "vary"))  # one bucket per identity


def test_skip_lets_the_first_matching_requests_through_and_seen_counts_them(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    _faults(workspace, [{"method": "GET", "path": "/calendar/v3/calendars/*", "error_rate": 1.0,
                         "error_status": 503, "skip": 2, "times": 1}])
    for _ in range(2):  # skipped: answered normally
        assert cal.calendars().get(calendarId="primary").execute()["id"] == USER
    with pytest.raises(HttpError) as exc:
        cal.calendars().get(calendarId="primary").execute()
    assert exc.value.resp.status == 503
    assert cal.calendars().get(calendarId="primary").execute()["id"] == USER  # times: 1 spent
    [rule] = workspace.control("GET", "/_emulator/faults")[1]["rules"]
    assert (rule["seen"], rule["injected"], rule["skip"]) == (4, 1, 2)
    status, body = workspace.control("PUT", "/_emulator/faults", {"rules": [{"skip": -1}]})
    assert status == 400 and body["error"]["field"] == "rules[0].skip"
