"""Ingest REST API: hostile or odd input is a 4xx naming the field, on SQLite and PostgreSQL, never a 500.

Each case here once reached the last-resort 500 handler (or a misleading 503 on PostgreSQL): far-off
years, control characters PostgreSQL cannot store, huge list offsets, zone names that are not places,
bodies that are not UTF-8. The ``api`` fixture fails any test whose requests reached that handler.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import Api, session_body
from tests.api.test_sessions import row_counts


def _messages(resp: Any) -> dict[str, str]:
    assert resp.status_code == 422, resp.text
    return {".".join(str(p) for p in item["loc"][1:]): item["msg"] for item in resp.json()["detail"]}


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59-14:00", "start"),
        ("0001-01-01T00:00:00+14:00", "0001-01-01T01:00:00+14:00", "start"),
        ("2026-11-30T10:00:00+01:00", "9999-12-31T23:59:59-14:00", "end"),
        ("9999-12-31T23:59:59+00:00", "2026-01-01T00:00:00Z", "start"),
    ],
)
def test_far_off_years_are_422(api: Api, start: str, end: str, field: str) -> None:
    messages = _messages(api.put("/v1/sessions/s1", session_body(start=start, end=end)))
    assert "outside the years 1970 to 2099" in messages[field]
    assert row_counts(api)["live_session"] == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "Intro\x00SQL"}, "title"),
        ({"description": "line\x00"}, "description"),
        ({"location": "Room\x07 1"}, "location"),
        ({"recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3\x00"]}, "recurrence"),
        ({"room": {"building": "HQ\x1b"}}, "room.building"),
        ({"enrollments": [{"email": "l@acme.example", "displayName": "L\x00"}]}, "enrollments.0.displayName"),
    ],
)
def test_control_characters_are_422_naming_the_field(api: Api, overrides: dict[str, Any], field: str) -> None:
    messages = _messages(api.put("/v1/sessions/s1", session_body(**overrides)))
    assert field in messages, messages
    assert "control character" in messages[field]
    assert row_counts(api)["live_session"] == 0


def test_tabs_and_line_breaks_are_kept(api: Api) -> None:
    resp = api.put("/v1/sessions/s1", session_body(description="Agenda:\n\t1. SQL\r\n\t2. Joins"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["description"] == "Agenda:\n\t1. SQL\r\n\t2. Joins"


def test_control_character_in_an_update_keeps_the_stored_session(api: Api) -> None:
    assert api.put("/v1/sessions/s1", session_body()).status_code == 201
    messages = _messages(api.put("/v1/sessions/s1", session_body(title="y\x00")))
    assert "title" in messages
    assert api.get("/v1/sessions/s1").json()["title"] == "Intro to SQL"
    reason = api.client.post(
        "/v1/sessions/s1/cancel", json={"reason": "a\x00b"}, headers=api.auth()
    )
    assert "reason" in _messages(reason)
    assert api.get("/v1/sessions/s1").json()["status"] == "scheduled"


def test_lone_surrogate_escapes_are_422(api: Api) -> None:
    raw = json.dumps(session_body(title="@@")).replace("@@", "\\ud800").encode()
    resp = api.client.put(
        "/v1/sessions/s1", content=raw, headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert "title" in _messages(resp)


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules"])
def test_zone_names_that_are_not_places_are_422(api: Api, zone: str) -> None:
    messages = _messages(api.put("/v1/sessions/s1", session_body(timeZone=zone)))
    assert "not a known IANA time zone" in messages["timeZone"]


@pytest.mark.parametrize("offset", ["9223372036854775807", "9223372036854775808", "99999999999999999999"])
def test_huge_list_offset_is_422(api: Api, offset: str) -> None:
    messages = _messages(api.client.get("/v1/sessions", params={"offset": offset}, headers=api.auth()))
    assert "offset" in messages


def test_body_that_is_not_utf8_is_400_saying_what_to_send(api: Api) -> None:
    resp = api.client.put(
        "/v1/sessions/s1", content=b"\xff\xfe\x00", headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert "UTF-8" in resp.json()["detail"] and "application/json" in resp.json()["detail"]
    assert row_counts(api)["live_session"] == 0
    # other HTTP errors keep their own answer and headers
    unauthorized = api.client.get("/v1/sessions", headers={"Authorization": "Bearer mk_nope"})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "url", ["ftp://learn.example/s/1", "learn.example/s/1", "https://", "https://learn.example/a b"]
)
def test_session_url_must_be_http_or_https(api: Api, url: str) -> None:
    messages = _messages(api.put("/v1/sessions/s1", session_body(url=url)))
    assert "is not an http(s):// URL" in messages["url"], messages
    assert row_counts(api)["live_session"] == 0


def test_session_url_is_stored_and_answered(api: Api) -> None:
    resp = api.put("/v1/sessions/s1", session_body(url="https://learn.example/sessions/1"))
    assert resp.status_code == 201, resp.text
    assert api.get("/v1/sessions/s1").json()["url"] == "https://learn.example/sessions/1"
    assert api.put("/v1/sessions/s1", session_body()).json()["url"] is None  # a PUT replaces the whole session
