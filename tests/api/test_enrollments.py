"""Ingest REST API: single and bulk enrollments, all-or-nothing, one enqueue per request."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, select

from engine.api.schemas import MAX_ATTENDEES
from engine.store.models import Person
from tests.api.conftest import Api, session_body
from tests.api.test_sessions import row_counts

BASE = "/v1/sessions/sess-1/enrollments"


def make_session(api: Api) -> str:
    resp = api.put("/v1/sessions/sess-1", session_body(enrollments=None))
    assert resp.status_code == 201, resp.text
    api.dispatcher.calls.clear()
    return str(resp.json()["id"])


def emails(api: Api, **params: str) -> dict[str, str]:
    return {e["email"]: e["status"] for e in api.get(BASE, **params).json()}


def test_single_enrollment_put_and_delete(api: Api) -> None:
    sid = make_session(api)
    first = api.put(f"{BASE}/New.Learner@Acme.example")
    assert first.status_code == 201, first.text
    assert first.json()["email"] == "new.learner@acme.example" and first.json()["status"] == "enrolled"
    again = api.put(f"{BASE}/new.learner@acme.example")
    assert again.status_code == 200
    waitlisted = api.put(f"{BASE}/new.learner@acme.example", {"status": "waitlisted", "displayName": "Nel"})
    assert waitlisted.json()["status"] == "waitlisted"
    assert api.client.delete(f"{BASE}/new.learner@acme.example", headers=api.auth()).status_code == 204
    assert api.client.delete(f"{BASE}/new.learner@acme.example", headers=api.auth()).status_code == 204
    assert api.client.delete(f"{BASE}/never@acme.example", headers=api.auth()).status_code == 404
    assert emails(api) == {}
    assert emails(api, includeCancelled="true") == {"new.learner@acme.example": "cancelled"}
    # enqueue per changing request only: create, waitlist, cancel
    assert [[str(i) for i in c] for c in api.dispatcher.calls] == [[sid]] * 3
    assert api.get("/v1/sessions/sess-1").json()["revision"] == 4


def test_single_enrollment_rejects_bad_email_and_hosts(api: Api) -> None:
    make_session(api)
    bad = api.put(f"{BASE}/not-an-email")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "email"]
    host = api.put(f"{BASE}/ada@acme.example")
    assert host.status_code == 422
    assert host.json()["detail"] == [
        {
            "loc": ["path", "email"],
            "type": "value_error",
            "msg": "ada@acme.example is a host of session 'sess-1' and cannot also be enrolled",
        }
    ]
    assert api.put(f"{BASE}/x@acme.example", {"status": "maybe"}).status_code == 422
    assert emails(api, includeCancelled="true") == {}
    assert api.dispatcher.calls == []


def test_bulk_replace_and_merge(api: Api) -> None:
    sid = make_session(api)
    replaced = api.put(
        BASE,
        {
            "enrollments": [
                {"email": "a@acme.example"},
                {"email": "b@acme.example"},
                {"email": "c@acme.example", "status": "waitlisted"},
            ]
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert (
        replaced.json()["changed"],
        replaced.json()["enrolledCount"],
        replaced.json()["waitlistedCount"],
    ) == (3, 2, 1)
    # PUT replaces: b is left out, so b is cancelled; c moves to enrolled
    again = api.put(BASE, {"enrollments": [{"email": "a@acme.example"}, {"email": "c@acme.example"}]})
    assert again.json()["changed"] == 2
    assert emails(api) == {"a@acme.example": "enrolled", "c@acme.example": "enrolled"}
    # the same list again changes nothing and enqueues nothing
    assert (
        api.put(BASE, {"enrollments": [{"email": "a@acme.example"}, {"email": "c@acme.example"}]}).json()[
            "changed"
        ]
        == 0
    )
    # PATCH merges: d added, a cancelled, c untouched
    merged = api.client.patch(
        BASE,
        json={
            "enrollments": [{"email": "d@acme.example"}, {"email": "a@acme.example", "status": "cancelled"}]
        },
        headers=api.auth(),
    )
    assert merged.status_code == 200, merged.text
    assert emails(api) == {"c@acme.example": "enrolled", "d@acme.example": "enrolled"}
    assert [[str(i) for i in c] for c in api.dispatcher.calls] == [[sid]] * 3


def test_bulk_failure_leaves_nothing_behind(api: Api) -> None:
    make_session(api)
    api.put(BASE, {"enrollments": [{"email": "keep@acme.example"}]})
    api.dispatcher.calls.clear()
    before = row_counts(api)
    # The cap is checked on the result: 2 hosts + 1 existing + 198 new = 201.
    new = [{"email": f"n{i}@acme.example"} for i in range(MAX_ATTENDEES - 2)]
    resp = api.client.patch(BASE, json={"enrollments": new}, headers=api.auth())
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "enrollments"]
    assert "201 attendees" in resp.json()["detail"][0]["msg"]
    # A host in the list fails the whole request, even after valid items.
    resp = api.put(BASE, {"enrollments": [{"email": "fresh@acme.example"}, {"email": "linus@acme.example"}]})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "enrollments", 1, "email"]
    dup = api.put(BASE, {"enrollments": [{"email": "z@acme.example"}, {"email": "Z@acme.example"}]})
    assert dup.status_code == 422 and "listed twice" in dup.json()["detail"][0]["msg"]
    assert row_counts(api) == before  # no people, enrollments or audit rows from the failed requests
    assert api.dispatcher.calls == []
    assert emails(api) == {"keep@acme.example": "enrolled"}


def test_cancelling_a_learner_never_enrolled_is_404_and_saves_nothing(api: Api) -> None:
    assert api.put("/v1/sessions/c1", session_body()).status_code == 201
    with Session(api.engine) as db:
        people_before = db.exec(select(func.count()).select_from(Person)).one()
    resp = api.client.put(
        "/v1/sessions/c1/enrollments/stranger@acme.example", json={"status": "cancelled"}, headers=api.auth()
    )
    assert resp.status_code == 404
    assert "stranger@acme.example is not enrolled" in resp.json()["detail"]
    with Session(api.engine) as db:
        assert db.exec(select(func.count()).select_from(Person)).one() == people_before
    # cancelling an enrolled learner through the same PUT still works, and is idempotent
    for _ in range(2):
        resp = api.client.put(
            "/v1/sessions/c1/enrollments/l1@acme.example", json={"status": "cancelled"}, headers=api.auth()
        )
        assert resp.status_code == 200 and resp.json()["status"] == "cancelled"


def test_a_bulk_put_of_200_new_learners_costs_a_fixed_few_statements(api: Api) -> None:
    """200 learners new to the tenant, 199 enrolled (the cap with the one host) and 1 waitlisted: the session
    locked, the people upserted in one statement, the hosts and roster read once, the 200 rows inserted in one
    statement, the revision, the audit and outbox rows, and the answer's list (its counts taken from it): 9
    statements whatever the number of learners; the answer is what a read returns."""
    assert api.put("/v1/sessions/bulk", session_body(coHosts=[], enrollments=[])).status_code == 201
    learners = [
        {"email": f"b{i:03d}@acme.example", "status": "enrolled" if i < 199 else "waitlisted"} for i in range(200)
    ]
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    sa.event.listen(api.engine, "before_cursor_execute", seen)
    try:
        answer = api.client.put("/v1/sessions/bulk/enrollments", json={"enrollments": learners}, headers=api.auth())
    finally:
        sa.event.remove(api.engine, "before_cursor_execute", seen)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["changed"], body["enrolledCount"], body["waitlistedCount"]) == (200, 199, 1)
    assert len([s for s in statements if s not in ("BEGIN", "COMMIT")]) <= 9, statements
    assert body["enrollments"] == api.get("/v1/sessions/bulk/enrollments").json()
    assert api.get("/v1/sessions/bulk").json()["enrolledCount"] == 199


def test_a_learner_enrolled_again_after_a_cancellation_has_no_answer_from_before(api: Api) -> None:
    """The stored answer belonged to the earlier invitation: enrolled again (single or bulk), the learner is
    invited anew, so nothing may be carried onto the event (a recreated event reads stored answers)."""
    make_session(api)
    for again in ("single", "bulk"):
        email = f"{again}.back@acme.example"
        assert api.put(f"{BASE}/{email}").status_code == 201
        with Session(api.engine) as db:
            db.execute(sa.text(
                "UPDATE enrollment SET response_status = 'accepted', response_comment = 'see you', responded_at = :t "
                "WHERE person_id = (SELECT id FROM person WHERE email = :e)"), {"e": email, "t": datetime.now(UTC)})
            db.commit()
        [row] = [e for e in api.get(BASE).json() if e["email"] == email]
        assert row["response"]["status"] == "accepted", row
        assert api.client.delete(f"{BASE}/{email}", headers=api.auth()).status_code == 204
        if again == "single":
            assert api.put(f"{BASE}/{email}").status_code == 200
        else:
            merged = api.client.patch(BASE, json={"enrollments": [{"email": email}]}, headers=api.auth())
            assert merged.status_code == 200, merged.text
        [row] = [e for e in api.get(BASE).json() if e["email"] == email]
        assert row["status"] == "enrolled" and row["response"] is None, row


def test_learners_written_together_join_in_the_order_listed(api: Api) -> None:
    """The waitlist is promoted earliest first: learners sent in one request (a new session, a bulk PUT) joined
    in the order the platform listed them, whatever their addresses' alphabetical order."""
    body = session_body(enrollments=None)
    listed = ["zoe.first@acme.example", "amy.second@acme.example", "mia.third@acme.example"]
    body["enrollments"] = [{"email": e, "status": "waitlisted"} for e in listed]
    assert api.put("/v1/sessions/sess-1", body).status_code == 201
    more = ["yann.fourth@acme.example", "bea.fifth@acme.example"]
    merged = api.client.patch(BASE, json={"enrollments": [{"email": e, "status": "waitlisted"} for e in more]},
                              headers=api.auth())
    assert merged.status_code == 200, merged.text
    with Session(api.engine) as db:
        joined = db.execute(sa.text(
            "SELECT p.email, e.created_at FROM enrollment e JOIN person p ON p.id = e.person_id "
            "ORDER BY e.created_at, p.email")).all()
    assert [email for email, _at in joined] == listed + more
    assert len({at for _email, at in joined}) == len(joined)  # no two learners joined at the same instant
