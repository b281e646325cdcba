"""Contract: HTTP batch in the exact multipart form the Python client sends and parses."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from connectors.google_emulator.batch import PartResponse, parse_batch, render_batch
from tests.contract import workspace_fixtures as fx
from tests.contract.validating_http import check_batch
from tests.contract.workspace_fixtures import ADMIN, Workspace

workspace = fx.workspace
USER = "grace.lamport2@acme.example"

# What google-api-python-client writes (reference §1.7): LF-only lines, quoted boundary.
CLIENT_BODY = (
    "--===============8902333492638851293==\n"
    "Content-Type: application/http\nMIME-Version: 1.0\nContent-Transfer-Encoding: binary\n"
    "Content-ID: <abac797b-4744-4eca-9256-5023d6f85841 + 1>\n\n"
    "GET /calendar/v3/calendars/primary/events/x?alt=json HTTP/1.1\nContent-Type: application/json\n"
    "MIME-Version: 1.0\naccept: application/json\nauthorization: Bearer tok\nHost: 127.0.0.1:40271\n\n\n"
    "--===============8902333492638851293==\n"
    "Content-Type: application/http\nMIME-Version: 1.0\nContent-Transfer-Encoding: binary\n"
    "Content-ID: <abac797b-4744-4eca-9256-5023d6f85841 + 2>\n\n"
    "POST /calendar/v3/calendars/primary/events?alt=json HTTP/1.1\nContent-Type: application/json\n"
    "content-length: 17\n\n{\"summary\": \"x\"}\n"
    "--===============8902333492638851293==--"
)
CLIENT_CT = 'multipart/mixed; boundary="===============8902333492638851293=="'


@pytest.fixture(autouse=True)
def clean(workspace: Workspace) -> Iterator[None]:
    workspace.control("DELETE", "/_emulator/faults")
    workspace.control("DELETE", "/_emulator/counters")
    yield
    workspace.control("DELETE", "/_emulator/faults")


def test_parse_the_clients_lf_only_body_and_render_crlf_parts() -> None:
    parts = parse_batch(CLIENT_CT, CLIENT_BODY.encode())
    assert [(p.method, p.target) for p in parts] == [
        ("GET", "/calendar/v3/calendars/primary/events/x?alt=json"),
        ("POST", "/calendar/v3/calendars/primary/events?alt=json")]
    assert parts[0].content_id == "<abac797b-4744-4eca-9256-5023d6f85841 + 1>"
    assert parts[1].body == b'{"summary": "x"}'
    assert dict(parts[0].headers)["authorization"] == "Bearer tok"
    answer = render_batch([("<response-abac797b-4744-4eca-9256-5023d6f85841 + 1>",
                            PartResponse(204, [], b""))], "b1")
    assert b"Content-ID: <response-abac797b-4744-4eca-9256-5023d6f85841 + 1>\r\n\r\nHTTP/1.1 204" in answer
    assert b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n" in answer
    assert answer.endswith(b"--b1--\r\n")


def test_mixed_calendar_batch_answers_in_request_order(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    made = cal.events().insert(calendarId="primary", body={
        "summary": "Batch me", "start": {"dateTime": "2027-10-04T10:00:00Z"},
        "end": {"dateTime": "2027-10-04T11:00:00Z"}}).execute()
    workspace.control("DELETE", "/_emulator/counters")
    results: list[tuple[str, Any, Any]] = []
    batch = cal.new_batch_http_request(callback=lambda rid, resp, exc: results.append((rid, resp, exc)))
    batch.add(cal.events().get(calendarId="primary", eventId=made["id"]))
    batch.add(cal.events().get(calendarId="primary", eventId="missing0001"))
    batch.add(cal.events().patch(calendarId="primary", eventId=made["id"], body={"summary": "Patched"}))
    batch.add(cal.events().delete(calendarId="primary", eventId=made["id"]))
    batch.execute()
    assert [r[0] for r in results] == ["1", "2", "3", "4"]
    assert results[0][1]["summary"] == "Batch me"
    assert isinstance(results[1][2], HttpError) and results[1][2].resp.status == 404
    assert results[2][1]["summary"] == "Patched"
    assert results[3][2] is None and not results[3][1]  # 204 from delete: empty body, no error
    counters = workspace.control("GET", "/_emulator/counters")[1]
    assert counters["total"] == 4  # a batch of n counts as n requests (the envelope does not count)
    assert cal.events().get(calendarId="primary", eventId=made["id"]).execute()["status"] == "cancelled"


def test_admin_batch_for_directory(workspace: Workspace) -> None:
    d = workspace.directory(ADMIN)
    found: dict[str, Any] = {}
    batch = d.new_batch_http_request()
    for key in ("ada.torvalds0@acme.example", "nobody@acme.example"):
        batch.add(d.users().get(userKey=key), request_id=key,
                  callback=lambda rid, resp, exc: found.__setitem__(rid, resp or exc))
    batch.execute()
    assert found["ada.torvalds0@acme.example"]["primaryEmail"] == "ada.torvalds0@acme.example"
    assert isinstance(found["nobody@acme.example"], HttpError)
    assert found["nobody@acme.example"].resp.status == 404


def test_faults_apply_per_part(workspace: Workspace) -> None:
    cal = workspace.calendar(USER)
    cal.calendars().get(calendarId="primary").execute()
    workspace.control("PUT", "/_emulator/faults", {"rules": [
        {"method": "GET", "path": "/calendar/v3/calendars/*", "error_rate": 1.0, "times": 1}]})
    outcome: list[Any] = []
    batch = cal.new_batch_http_request(callback=lambda rid, resp, exc: outcome.append(exc or resp["id"]))
    batch.add(cal.calendars().get(calendarId="primary"))
    batch.add(cal.calendars().get(calendarId="primary"))
    batch.execute()
    assert isinstance(outcome[0], HttpError) and outcome[0].resp.status == 503
    assert outcome[1] == USER


def _raw_batch(workspace: Workspace, parts: int, path: str = "/batch/calendar/v3") -> tuple[int, bytes, str]:
    token = workspace.http(USER, [fx.CAL_SCOPE]).credentials
    token.refresh(__import__("google.auth.transport.requests", fromlist=["Request"]).Request())
    boundary = "===============1=="
    chunks = []
    for i in range(parts):
        chunks.append(f"--{boundary}\nContent-Type: application/http\nContent-ID: <x + {i}>\n\n"
                      "GET /calendar/v3/calendars/primary?alt=json HTTP/1.1\n"
                      f"authorization: Bearer {token.token}\n\n")
    body = ("".join(chunks) + f"--{boundary}--").encode()
    req = urllib.request.Request(workspace.url + path.lstrip("/"), data=body, method="POST", headers={
        "content-type": f'multipart/mixed; boundary="{boundary}"'})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers["content-type"]
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers["content-type"]


def test_batch_limit_and_wrong_api_parts(workspace: Workspace) -> None:
    status, body, _ = _raw_batch(workspace, 1001)
    assert status == 400 and b"1000" in body
    status, body, ctype = _raw_batch(workspace, 2, "/batch")  # calendar calls sent to the admin batch
    assert status == 200
    assert body.count(b"HTTP/1.1 400") == 2
    status, body, ctype = _raw_batch(workspace, 2)
    request_ct = 'multipart/mixed; boundary="===============1=="'
    request = ("".join(f"--===============1==\nContent-Type: application/http\nContent-ID: <x + {i}>\n\n"
                       "GET /calendar/v3/calendars/primary?alt=json HTTP/1.1\n\n" for i in range(2))
               + "--===============1==--").encode()
    assert status == 200 and check_batch(request_ct, request, ctype, body) == []
    assert body.count(b"HTTP/1.1 200 OK") == 2
