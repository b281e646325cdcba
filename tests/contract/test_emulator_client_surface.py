"""Contract: the Calendar surface third-party clients call besides events - settings, colors, quickAdd and
calendarList sync tokens (real client, real HTTP, every answer schema-checked)."""

from __future__ import annotations

import json

import pytest
from googleapiclient.errors import HttpError

from tests.contract.conftest import ALICE, BOB, Ws


def test_settings_list_get_and_sync_token(ws: Ws) -> None:
    cal = ws.as_user(ALICE)
    listed = cal.settings().list().execute()
    values = {s["id"]: s["value"] for s in listed["items"]}
    assert values["timezone"] == "Europe/Berlin"  # the user's calendar zone
    assert values["weekStart"] == "0" and values["format24HourTime"] == "false"
    assert cal.settings().get(setting="timezone").execute()["value"] == "Europe/Berlin"
    again = cal.settings().list(syncToken=listed["nextSyncToken"]).execute()
    assert again["items"] == [] and again["nextSyncToken"]
    with pytest.raises(HttpError) as exc:
        cal.settings().get(setting="noSuchSetting").execute()
    assert exc.value.resp.status == 404
    with pytest.raises(HttpError) as exc:
        ws.as_user(BOB).settings().list(syncToken=listed["nextSyncToken"]).execute()
    assert exc.value.resp.status == 410


def test_colors_palettes(ws: Ws) -> None:
    colors = ws.as_user(ALICE).colors().get().execute()
    assert len(colors["calendar"]) == 24 and len(colors["event"]) == 11
    assert colors["event"]["11"] == {"background": "#dc2127", "foreground": "#1d1d1d"}


def test_quick_add_reads_title_place_date_and_time(ws: Ws) -> None:
    events = ws.as_user(ALICE).events()
    made = events.quickAdd(calendarId="primary", text="Lunch with Ada at Cafe Bleu 2027-03-10 12:00-13:30").execute()
    assert made["summary"] == "Lunch with Ada" and made["location"] == "Cafe Bleu"
    assert made["start"] == {"dateTime": "2027-03-10T12:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert made["end"]["dateTime"] == "2027-03-10T13:30:00+01:00"
    assert events.get(calendarId="primary", eventId=made["id"]).execute()["summary"] == "Lunch with Ada"
    all_day = events.quickAdd(calendarId="primary", text="Company holiday March 20 2027").execute()
    assert all_day["start"] == {"date": "2027-03-20"} and all_day["end"] == {"date": "2027-03-21"}
    with pytest.raises(HttpError) as exc:
        events.quickAdd(calendarId="primary", text="  ").execute()
    error = json.loads(exc.value.content)["error"]["errors"][0]
    assert exc.value.resp.status == 400 and error["location"] == "text"


def test_calendar_list_sync_token_reports_added_and_removed_entries(ws: Ws) -> None:
    alice, bob = ws.as_user(ALICE), ws.as_user(BOB)
    first = bob.calendarList().list().execute()
    token = first["nextSyncToken"]
    assert bob.calendarList().list(syncToken=token).execute()["items"] == []
    shared = alice.calendars().insert(body={"summary": "Team"}).execute()
    share = {"role": "reader", "scope": {"type": "user", "value": BOB}}
    alice.acl().insert(calendarId=shared["id"], body=share).execute()
    delta = bob.calendarList().list(syncToken=token).execute()
    assert [(e["id"], e["accessRole"]) for e in delta["items"]] == [(shared["id"], "reader")]
    alice.calendars().delete(calendarId=shared["id"]).execute()
    gone = bob.calendarList().list(syncToken=delta["nextSyncToken"]).execute()
    assert [(e["id"], e.get("deleted")) for e in gone["items"]] == [(shared["id"], True)]
    with pytest.raises(HttpError) as exc:
        bob.calendarList().list(syncToken=token, minAccessRole="owner").execute()
    assert exc.value.resp.status == 400 and "minAccessRole" in exc.value.content.decode()
    with pytest.raises(HttpError) as exc:
        bob.calendarList().list(syncToken="garbled").execute()
    assert exc.value.resp.status == 410
