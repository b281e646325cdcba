"""A new session through ``PUT /v1/sessions/{id}``: what it stores, what it answers, what it costs, and the race
of two requests creating the same person.

Where it sits: :mod:`engine.ingest.sessions` (``_write_created``) and :mod:`engine.ingest.create` (PostgreSQL's one
statement), through the ASGI app of ``tests/api/conftest.py``, on SQLite and PostgreSQL: both paths must store and
answer the same.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from engine.ingest.rows import new_row
from engine.store.models import AuditEvent, Enrollment, LiveSession, Person, SessionHost
from tests.api.conftest import Api, session_body
from tests.api.test_sessions import _statements_of


def _stored(api: Api, external_id: str) -> dict[str, Any]:
    with Session(api.engine) as db:
        session = db.exec(select(LiveSession).where(LiveSession.external_id == external_id)).one()
        people = {p.id: p for p in db.exec(select(Person).where(Person.tenant_id == api.tenant_a))}
        hosts = db.exec(select(SessionHost).where(SessionHost.session_id == session.id)).all()
        learners = db.exec(select(Enrollment).where(Enrollment.session_id == session.id)).all()
        audits = db.exec(select(AuditEvent).where(AuditEvent.session_id == session.id)).all()
    return {
        "hosts": sorted((h.position, people[h.person_id].email, h.role) for h in hosts),
        "learners": {people[e.person_id].email: e.status for e in learners},
        "joined": [people[e.person_id].email for e in sorted(learners, key=lambda e: e.created_at)],
        "audit": [(a.action, a.actor.split(":")[0], a.subject, a.detail) for a in audits],
        "people": {p.email: (sorted(p.roles), p.display_name) for p in people.values()},
    }


def test_a_new_session_stores_its_hosts_learners_people_and_audit_row(api: Api) -> None:
    """Known and new people, a learner who becomes a co-host (gaining the organizer role), a display name for a
    person who had none, a cancelled learner (person created, no row): stored the same on both databases, and
    the answer is what a read returns."""
    api.put("/v1/sessions/first", session_body(enrollments=[{"email": "l1@acme.example"},
                                                            {"email": "grace@acme.example"}]))
    body = session_body(
        organizer="NEW-host@acme.example",
        coHosts=["grace@acme.example", "ada@acme.example"],
        enrollments=[
            {"email": "z-new@acme.example", "status": "enrolled", "displayName": "Zed New"},
            {"email": "l1@acme.example", "status": "waitlisted", "displayName": "Lena One"},
            {"email": "gone@acme.example", "status": "cancelled"},
            {"email": "a-new@acme.example", "status": "enrolled"},
        ],
    )
    created = api.put("/v1/sessions/second", body)
    assert created.status_code == 201, created.text
    assert created.json() == api.get("/v1/sessions/second").json()
    stored = _stored(api, "second")
    assert stored["hosts"] == [
        (0, "new-host@acme.example", "organizer"),
        (1, "grace@acme.example", "co_host"),
        (2, "ada@acme.example", "co_host"),
    ]
    assert stored["learners"] == {
        "z-new@acme.example": "enrolled", "l1@acme.example": "waitlisted", "a-new@acme.example": "enrolled",
    }
    assert stored["joined"] == ["z-new@acme.example", "l1@acme.example", "a-new@acme.example"]  # listed order
    assert stored["audit"] == [("session.create", "api-key", "second", {"revision": 1})]
    people = stored["people"]
    assert people["new-host@acme.example"] == (["organizer"], None)
    assert people["grace@acme.example"] == (["learner", "organizer"], None)  # was a learner, now hosts too
    assert people["l1@acme.example"] == (["learner"], "Lena One")  # had no name: gets the one sent
    assert people["z-new@acme.example"] == (["learner"], "Zed New")
    assert people["gone@acme.example"] == (["learner"], None)
    listed = api.get("/v1/sessions/second/enrollments").json()
    shown = {e: s for e, s in stored["learners"].items() if s != "cancelled"}
    assert {e["email"]: e["status"] for e in listed} == shown


def test_a_new_session_refuses_a_host_listed_as_learner_and_a_roster_over_the_cap(api: Api) -> None:
    """Checked on the request alone, before anything is written: nothing of the refused session is stored."""
    host = api.put("/v1/sessions/h", session_body(enrollments=[{"email": "l1@acme.example"},
                                                               {"email": "LINUS@acme.example"}]))
    assert host.status_code == 422
    assert host.json()["detail"] == [{
        "loc": ["body", "enrollments"], "type": "value_error",
        "msg": "linus@acme.example is a host of this session and cannot also be enrolled",
    }]
    many = [{"email": f"l{i:03d}@acme.example"} for i in range(199)]  # + 2 hosts = 201
    capped = api.put("/v1/sessions/c", session_body(enrollments=many, capacity=None))
    assert capped.status_code == 422, capped.text
    assert capped.json()["detail"][0]["loc"] == ["body", "enrollments"]
    assert "200" in capped.json()["detail"][0]["msg"]
    with Session(api.engine) as db:
        assert db.exec(select(LiveSession)).all() == []
        assert db.exec(select(Person)).all() == []
    assert api.dispatcher.calls == []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_new_session_is_three_statements_on_postgresql(api: Api) -> None:
    """The session row (inserted, locked), everything it brings along in one statement, the outbox row."""
    api.put("/v1/sessions/warm", session_body())
    created, statements = _statements_of(api, "/v1/sessions/fresh", session_body(
        enrollments=[{"email": "brand-new@acme.example"}, {"email": "l1@acme.example", "status": "waitlisted"}]))
    assert created.status_code == 201, created.text
    assert statements == ["INSERT", "WITH", "INSERT"], statements
    assert created.json() == api.get("/v1/sessions/fresh").json()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_person_another_request_creates_meanwhile_is_linked_once_it_commits(api: Api) -> None:
    """Another transaction inserts the same new person and holds it uncommitted: the PUT waits on the unique key,
    finds the person in neither part of its statement once the other commits, reads it and links it."""
    api.put("/v1/sessions/warm", session_body())  # the key is checked, the usual people exist
    side = sa.create_engine(api.engine.url.render_as_string(hide_password=False), poolclass=sa.pool.NullPool)
    other = side.connect()
    tx = other.begin()
    other.execute(sa.insert(Person.__table__), [  # type: ignore[attr-defined]
        new_row(Person, id=uuid.uuid4(), tenant_id=api.tenant_a, email="raced@acme.example", roles=["organizer"])
    ])
    answer: list[httpx.Response] = []
    body = session_body(enrollments=[{"email": "raced@acme.example", "displayName": "Ray Sed"},
                                     {"email": "l1@acme.example"}])
    worker = threading.Thread(target=lambda: answer.append(api.put("/v1/sessions/raced", body)))
    worker.start()
    deadline = time.monotonic() + 30
    with side.connect() as probe:  # wait until the PUT waits for the other transaction's row
        while not probe.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )).scalar():
            if time.monotonic() > deadline:
                tx.rollback()
                worker.join(30)
                raise AssertionError(f"the PUT never waited for the uncommitted person: {answer}")
            time.sleep(0.05)
    tx.commit()
    other.close()
    side.dispose()
    worker.join(30)
    assert answer and answer[0].status_code == 201, answer and answer[0].text
    stored = _stored(api, "raced")
    assert stored["learners"] == {"raced@acme.example": "enrolled", "l1@acme.example": "enrolled"}
    assert stored["people"]["raced@acme.example"] == (["learner", "organizer"], "Ray Sed")
    assert answer[0].json() == api.get("/v1/sessions/raced").json()
