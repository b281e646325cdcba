"""Contract: ``calendars.transferOwnership`` (admin only, secondary calendars) and the project's daily
quota (``dailyLimitExceeded``), through the real client."""

from __future__ import annotations

import json

import httpx
import pytest
from googleapiclient.errors import HttpError

from tests.contract.conftest import ALICE, BOB, ERIN, Ws


def _reason(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str, str]:
    error = json.loads(exc.value.content)["error"]["errors"][0]
    return exc.value.resp.status, error["reason"], str(error.get("location", ""))


def test_admin_transfers_a_secondary_calendar(ws: Ws) -> None:
    bob = ws.as_user(BOB)
    team = bob.calendars().insert(body={"summary": "Team"}).execute()
    assert team["dataOwner"] == BOB
    admin = ws.as_user(ALICE).calendars()  # ALICE is a Workspace administrator
    admin.transferOwnership(calendarId=team["id"], newDataOwner=ERIN, useAdminAccess=True).execute()
    moved = ws.as_user(ERIN).calendars().get(calendarId=team["id"]).execute()
    assert moved["dataOwner"] == ERIN
    with pytest.raises(HttpError) as exc:
        bob.calendars().get(calendarId=team["id"]).execute()
    assert exc.value.resp.status == 404  # the previous owner keeps no access
    with pytest.raises(HttpError) as exc:
        ws.as_user(ERIN).calendars().transferOwnership(calendarId=team["id"], newDataOwner=BOB,
                                                       useAdminAccess=True).execute()
    assert _reason(exc)[:2] == (403, "forbidden")
    with pytest.raises(HttpError) as exc:
        admin.transferOwnership(calendarId=team["id"], newDataOwner=BOB, useAdminAccess=False).execute()
    assert _reason(exc) == (400, "invalid", "useAdminAccess")
    with pytest.raises(HttpError) as exc:
        admin.transferOwnership(calendarId=BOB, newDataOwner=ERIN, useAdminAccess=True).execute()
    assert _reason(exc) == (400, "invalid", "calendarId")  # primary calendars cannot be transferred
    with pytest.raises(HttpError) as exc:
        admin.transferOwnership(calendarId=team["id"], newDataOwner="stranger@gmail.com", useAdminAccess=True).execute()
    assert _reason(exc) == (400, "invalid", "newDataOwner")


def test_daily_limit_exceeded_once_the_project_quota_is_spent(ws: Ws) -> None:
    assert httpx.put(f"{ws.url}_emulator/quotas", json={"per_project_per_day": 3}).status_code == 200
    cal = ws.as_user(ALICE)
    for _ in range(3):
        cal.calendarList().list().execute()
    with pytest.raises(HttpError) as exc:
        cal.calendarList().list().execute()
    error = json.loads(exc.value.content)["error"]["errors"][0]
    assert exc.value.resp.status == 403
    assert (error["domain"], error["reason"], error["message"]) == ("usageLimits", "dailyLimitExceeded",
                                                                    "Daily Limit Exceeded")
