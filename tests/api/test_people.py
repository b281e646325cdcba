"""Organizer lifecycle endpoints: departure announcements, transfer preview, SPOF report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from engine.lifecycle import dispatch
from engine.store.models import (
    AuditEvent,
    ConnectionStatus,
    GoogleConnection,
    IntegrationMode,
    Person,
    PersonStatus,
    Tenant,
)
from tests.api.conftest import Api, session_body


def _future(days: int) -> tuple[str, str]:
    start = (datetime.now(UTC) + timedelta(days=days)).replace(hour=9, minute=0, second=0, microsecond=0)
    return start.isoformat(), (start + timedelta(hours=1)).isoformat()


def _session(api: Api, external_id: str, organizer: str, co_hosts: list[str], days: int = 20) -> None:
    start, end = _future(days)
    r = api.put(
        f"/v1/sessions/{external_id}",
        session_body(organizer=organizer, coHosts=co_hosts, start=start, end=end),
    )
    assert r.status_code in (200, 201), r.text


def _connect(api: Api, email: str) -> None:
    with Session(api.engine) as db:
        p = db.exec(select(Person).where(Person.email == email)).one()
        db.add(
            GoogleConnection(
                tenant_id=p.tenant_id,
                person_id=p.id,
                google_email=email,
                kind="oauth",
                status=ConnectionStatus.CONNECTED.value,
            )
        )
        t = db.get(Tenant, api.tenant_a)
        assert t is not None
        t.integration_mode = IntegrationMode.DELEGATION.value
        db.add(t)
        db.commit()


@pytest.fixture
def transfers() -> Any:
    seen: list[tuple[Any, Any]] = []
    dispatch.set_transfer_dispatcher(lambda t, p: seen.append((t, p)))
    yield seen
    dispatch.set_transfer_dispatcher(None)


def test_departure_lifecycle(api: Api, transfers: list[Any]) -> None:
    _session(api, "s1", "radia@acme.example", ["grace@acme.example"])
    leaving_on = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    r = api.put("/v1/people/Radia@ACME.example/departure", {"leavingOn": leaving_on})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "email": "radia@acme.example",
        "status": "leaving",
        "leavingOn": leaving_on,
        "transferDue": False,
    }
    assert transfers == []  # not due yet: runs from the day before leavingOn

    r = api.put("/v1/people/radia@acme.example/departure", {})
    assert r.status_code == 200 and r.json()["transferDue"] is True and r.json()["leavingOn"] is None
    assert len(transfers) == 1

    r = api.client.delete("/v1/people/radia@acme.example/departure", headers=api.auth())
    assert r.status_code == 204
    r = api.client.delete("/v1/people/radia@acme.example/departure", headers=api.auth())
    assert r.status_code == 404 and "no announced departure" in r.json()["detail"]
    with Session(api.engine) as db:
        p = db.exec(select(Person).where(Person.email == "radia@acme.example")).one()
        assert p.status == PersonStatus.ACTIVE.value
        actions = [a.action for a in db.exec(select(AuditEvent).where(AuditEvent.subject == p.email)).all()]
    assert actions.count("person.departure_announced") == 2 and "person.departure_cancelled" in actions


@pytest.mark.parametrize(
    ("path", "body", "code", "fragment"),
    [
        ("/v1/people/nobody@acme.example/departure", {}, 404, "no person 'nobody@acme.example'"),
        ("/v1/people/radia@acme.example/departure", {"leavingOn": "2001-01-01"}, 422, "is in the past"),
        ("/v1/people/radia@acme.example/departure", {"leavingOn": "next week"}, 422, "leavingOn"),
        (
            "/v1/people/radia@acme.example/departure",
            {"leavingDay": "2030-01-01"},
            422,
            "leavingDay is not a known",
        ),
        ("/v1/people/not-an-email/departure", {}, 422, "not a valid email"),
    ],
)
def test_departure_bad_input(api: Api, path: str, body: Any, code: int, fragment: str) -> None:
    _session(api, "s1", "radia@acme.example", [])
    r = api.put(path, body)
    assert r.status_code == code, r.text
    assert fragment in r.text


def test_departure_of_suspended_person_conflicts(api: Api) -> None:
    _session(api, "s1", "tim@acme.example", [])
    with Session(api.engine) as db:
        p = db.exec(select(Person).where(Person.email == "tim@acme.example")).one()
        p.status = PersonStatus.SUSPENDED.value
        db.add(p)
        db.commit()
    r = api.put("/v1/people/tim@acme.example/departure", {})
    assert r.status_code == 409 and "already suspended" in r.json()["detail"]


def test_preview_and_spof_endpoints(api: Api, transfers: list[Any]) -> None:
    _session(api, "with-cohost", "radia@acme.example", ["grace@acme.example"], days=10)
    _session(api, "alone", "radia@acme.example", [], days=12)
    _connect(api, "radia@acme.example")
    _connect(api, "grace@acme.example")
    r = api.get("/v1/people/radia@acme.example/transfer-preview")
    assert r.status_code == 200, r.text
    body = r.json()
    got = {s["externalId"]: (s["outcome"], s["successor"], s["path"]) for s in body["sessions"]}
    assert got == {
        "with-cohost": ("co_host", "grace@acme.example", "move"),
        "alone": ("blocked", None, "none"),
    }
    assert body["blocked"] == 1
    assert "fallback owner" in body["sessions"][1]["needed"]
    assert api.get("/v1/reports/spof").json() == {"sessions": [], "count": 0}  # nobody is leaving yet

    assert api.put("/v1/people/radia@acme.example/departure", {}).status_code == 200
    spof = api.get("/v1/reports/spof").json()
    assert spof["count"] == 1
    row = spof["sessions"][0]
    assert (row["externalId"], row["owner"], row["ownerStatus"], row["outcome"]) == (
        "alone",
        "radia@acme.example",
        "leaving",
        "blocked",
    )
    # Another tenant's key sees nothing of tenant A.
    assert api.get("/v1/reports/spof", key=api.key_b).json()["count"] == 0
    assert api.get("/v1/people/radia@acme.example/transfer-preview", key=api.key_b).status_code == 404
