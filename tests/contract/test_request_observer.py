"""Every Google request is reported by API method, HTTP status and outcome, through the real client.

Where it sits: ``tests/contract``: clients built by :func:`connectors.google.clients.build_service` against the
emulator, with the observer the composition root installs (:func:`engine.runtime.metrics.record_request`) and
with a recording one, so the labels of ``muster_google_requests_total`` are the statuses Google answered.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from connectors.google import clients
from engine.runtime import metrics
from tests.contract.conftest import ALICE, Ws


@pytest.fixture
def seen() -> Iterator[list[tuple[str, str, str]]]:
    calls: list[tuple[str, str, str]] = []

    def both(method: str, status: str, outcome: str) -> None:
        calls.append((method, status, outcome))
        metrics.record_request(method, status, outcome)

    metrics.configure(None)
    metrics.reset()
    clients.observe_requests(both)
    yield calls
    clients.observe_requests(metrics.record_request)
    metrics.reset()


def count(**labels: str) -> float:
    return sum(
        s.value for s in metrics.local_samples()
        if s.name == "muster_google_requests_total" and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_statuses_and_outcomes_of_calendar_requests(
    ws: Ws, seen: list[tuple[str, str, str]], ev: Callable[..., dict[str, Any]]
) -> None:
    cal = ws.as_user(ALICE)
    body = {**ev("Observed"), "id": "observed" + uuid.uuid4().hex[:8]}
    with metrics.tenant_scope(uuid.uuid4(), "acme"):
        cal.events().insert(calendarId="primary", body=body).execute()
        with pytest.raises(HttpError):
            cal.events().insert(calendarId="primary", body=body).execute()
        with pytest.raises(HttpError):
            cal.events().get(calendarId="primary", eventId="nosuchevent1").execute()
        cal.events().list(calendarId="primary").execute()
    assert seen == [
        ("calendar.events.insert", "200", "ok"),
        ("calendar.events.insert", "409", "exists"),
        ("calendar.events.get", "404", "permanent"),
        ("calendar.events.list", "200", "ok"),
    ]
    assert count(tenant="acme", method="calendar.events.insert", status="200", outcome="ok") == 1
    assert count(tenant="acme", method="calendar.events.insert", status="409", outcome="exists") == 1
    assert count(tenant="acme", method="calendar.events.get", status="404") == 1
    errors = [s for s in metrics.local_samples() if s.name == "muster_errors_total"]
    assert {(s.labels["error_class"], s.value) for s in errors} == {("exists", 1.0), ("permanent", 1.0)}


def test_a_request_without_an_answer_is_labelled_by_what_happened(
    ws: Ws, seen: list[tuple[str, str, str]]
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    cal = clients.build_service("calendar", "v3", root_url=closed, http=clients.SingleShotHttp(2.0))
    with pytest.raises(ConnectionError):
        cal.events().get(calendarId="primary", eventId="x").execute()
    assert seen == [("calendar.events.get", "connection", "retryable")]
    assert count(method="calendar.events.get", status="connection", outcome="retryable") == 1


def test_label_values_stay_bounded(seen: list[tuple[str, str, str]]) -> None:
    metrics.record_request("calendar.events.get", "ada@acme.example", "ok")
    metrics.record_request("ada@acme.example", "200", "ok")
    text = metrics.exposition().decode()
    assert "ada@acme.example" not in text
    assert count(method="calendar.events.get", status="error") == 1 and count(method="other", status="200") == 1
