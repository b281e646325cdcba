"""Ingest REST API: session upsert, reads, cancel/reopen, removal, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from engine.store.models import AuditEvent, CalendarBinding, Enrollment, LiveSession, Person, SessionHost
from tests.api.conftest import Api, session_body


def row_counts(api: Api) -> dict[str, int]:
    with api.engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in SQLModel.metadata.sorted_tables
        }


def test_put_twice_gives_one_row_and_one_enqueue(api: Api) -> None:
    first = api.put("/v1/sessions/sess-1", session_body())
    assert first.status_code == 201, first.text
    data = first.json()
    assert data["externalId"] == "sess-1"
    assert data["start"] == "2026-11-30T09:00:00Z"  # stored and returned in UTC
    assert [h["email"] for h in data["hosts"]] == ["ada@acme.example", "linus@acme.example"]
    assert (data["enrolledCount"], data["waitlistedCount"]) == (2, 1)
    assert data["sync"]["status"] == "pending"
    assert api.dispatcher.calls == [[__import__("uuid").UUID(data["id"])]]

    second = api.put("/v1/sessions/sess-1", session_body())
    assert second.status_code == 200
    assert second.json()["revision"] == data["revision"]  # nothing changed
    assert len(api.dispatcher.calls) == 1  # identical PUT: no sync
    counts = row_counts(api)
    assert counts["live_session"] == 1
    assert counts["enrollment"] == 3
    assert counts["session_host"] == 2


def test_identical_put_retries_a_sync_that_left_something_to_fill(api: Api) -> None:
    sid = __import__("uuid").UUID(api.put("/v1/sessions/sess-1", session_body()).json()["id"])
    with Session(api.engine) as db:
        session = db.get(LiveSession, sid)
        assert session is not None
        db.add(CalendarBinding(tenant_id=session.tenant_id, session_id=sid, sync_status="synced",
                               meet_error="Meet returned failure"))
        db.commit()
    api.put("/v1/sessions/sess-1", session_body())
    assert api.dispatcher.calls == [[sid], [sid]]  # the save retries the missing link
    with Session(api.engine) as db:
        binding = db.exec(select(CalendarBinding)).one()
        binding.meet_error = None
        db.add(binding)
        db.commit()
    api.put("/v1/sessions/sess-1", session_body())
    assert len(api.dispatcher.calls) == 2  # healthy and unchanged: nothing to do


def test_put_change_bumps_revision_and_enqueues_once(api: Api) -> None:
    sid = api.put("/v1/sessions/sess-1", session_body()).json()["id"]
    changed = api.put(
        "/v1/sessions/sess-1",
        session_body(title="Intro to SQL (v2)", coHosts=[], enrollments=[{"email": "l9@acme.example"}]),
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["revision"] == 2
    assert body["title"] == "Intro to SQL (v2)"
    assert [h["email"] for h in body["hosts"]] == ["ada@acme.example"]
    assert (body["enrolledCount"], body["waitlistedCount"]) == (1, 0)
    # one dispatch per request, each with the session once, even though hosts+enrollments+fields changed
    assert [[str(i) for i in call] for call in api.dispatcher.calls] == [[sid], [sid]]


def test_people_created_from_emails_lowercased_with_roles(api: Api) -> None:
    api.put("/v1/sessions/sess-1", session_body())
    with Session(api.engine) as db:
        people = {p.email: p.roles for p in db.exec(select(Person))}
    assert people["ada@acme.example"] == ["organizer"]
    assert people["l2@acme.example"] == ["learner"]
    assert "L2@acme.example" not in people


def test_end_before_start_is_422_naming_end_and_saves_nothing(api: Api) -> None:
    before = row_counts(api)
    resp = api.put(
        "/v1/sessions/sess-1",
        session_body(start="2026-11-30T10:00:00+01:00", end="2026-11-30T09:00:00+01:00"),
    )
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail[0]["loc"] == ["body", "end"]
    assert detail[0]["msg"] == (
        "end must be after start (got end 2026-11-30 09:00 before start 2026-11-30 10:00 Europe/Berlin)"
    )
    assert row_counts(api) == before
    assert api.dispatcher.calls == []


def invalid(api: Api, **overrides: Any) -> list[dict[str, Any]]:
    resp = api.put("/v1/sessions/sess-x", session_body(**overrides))
    assert resp.status_code == 422, resp.text
    return list(resp.json()["detail"])


def test_validation_messages_name_field_and_fix(api: Api) -> None:
    before = row_counts(api)
    cases: list[tuple[dict[str, Any], list[Any], str]] = [
        ({"timeZone": "Mars/Olympus"}, ["body", "timeZone"], "not a known IANA time zone"),
        ({"start": "2026-11-30T10:00:00"}, ["body", "start"], "needs a UTC offset"),
        ({"start": "tomorrow"}, ["body", "start"], "not an ISO 8601 date-time"),
        ({"organizer": "not-an-email"}, ["body", "organizer"], "is not a valid email address"),
        ({"title": ""}, ["body", "title"], "title must not be empty"),
        ({"title": "x" * 501}, ["body", "title"], "at most 500 characters"),
        ({"video": "zoom"}, ["body", "video"], "must be one of 'meet', 'manual' or 'none'"),
        ({"manualJoinLink": "http://zoom.example/j/1"}, ["body", "manualJoinLink"], "is not an https:// URL"),
        ({"manualJoinLink": None}, ["body", "manualJoinLink"], "manualJoinLink is required"),
        ({"video": "none"}, ["body", "manualJoinLink"], "only used when video is 'manual'"),
        (
            {"recurrence": ["RRULE:FREQ=FORTNIGHTLY"]},
            ["body", "recurrence"],
            "FREQ=FORTNIGHTLY is not one of",
        ),
        ({"recurrence": ["RRULE:COUNT=3"]}, ["body", "recurrence"], "FREQ is required"),
        ({"recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3;UNTIL=20270101"]}, ["body", "recurrence"], "not both"),
        ({"coHosts": ["ada@acme.example"]}, ["body", "coHosts"], "already a host"),
        ({"enrollments": [{"email": "ada@acme.example"}]}, ["body", "enrollments"], "is a host"),
        (
            {"enrollments": [{"email": "a@x.example"}, {"email": "A@x.example"}]},
            ["body", "enrollments"],
            "listed twice",
        ),
        ({"strat": "2026-11-30T10:00:00+01:00"}, ["body", "strat"], "not a known field"),
        ({"capacity": 0}, ["body", "capacity"], "greater than or equal to 1"),
        ({"externalId": "other"}, ["body", "externalId"], "differs from the id in the path"),
    ]
    for overrides, loc, fragment in cases:
        detail = invalid(api, **overrides)
        assert any(d["loc"] == loc and fragment in d["msg"] for d in detail), (overrides, detail)
    missing = api.put("/v1/sessions/sess-x", {"title": "x"}).json()["detail"]
    assert {"loc": ["body", "organizer"], "msg": "organizer is required", "type": "missing"} in missing
    bad_json = api.client.put(
        "/v1/sessions/sess-x",
        content=b"{not json",
        headers={**api.auth(), "content-type": "application/json"},
    )
    assert bad_json.status_code == 422
    assert "not valid JSON" in bad_json.json()["detail"][0]["msg"]
    assert api.put("/v1/sessions/bad%20id", session_body()).status_code == 422
    assert row_counts(api) == before
    assert api.dispatcher.calls == []


def test_attendee_cap(api: Api) -> None:
    learners = [{"email": f"l{i}@acme.example"} for i in range(199)]  # + organizer + co-host = 201
    detail = invalid(api, enrollments=learners)
    assert detail[0]["loc"] == ["body", "enrollments"]
    assert "201 attendees" in detail[0]["msg"] and "limit is 200" in detail[0]["msg"]
    ok = api.put("/v1/sessions/sess-cap", session_body(enrollments=learners[:198]))
    assert ok.status_code == 201, ok.text
    # waitlisted learners do not count
    extra = [*learners[:198], *({"email": f"w{i}@acme.example", "status": "waitlisted"} for i in range(50))]
    assert api.put("/v1/sessions/sess-cap", session_body(enrollments=extra)).status_code == 200


def test_wrong_or_missing_key_is_401(api: Api) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer mk_deadbeef_nope"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        resp = api.client.put("/v1/sessions/sess-1", json=session_body(), headers=headers)
        assert resp.status_code == 401, headers
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "API key" in resp.json()["detail"]
    assert api.client.get("/v1/sessions").status_code == 401
    # authentication is checked before the body: an anonymous caller learns nothing about validation
    anonymous_bad = api.client.put("/v1/sessions/sess-1", json={"title": ""})
    assert anonymous_bad.status_code == 401
    assert row_counts(api)["live_session"] == 0


def test_unknown_session_is_404(api: Api) -> None:
    for method, path in (
        ("GET", "/v1/sessions/nope"),
        ("DELETE", "/v1/sessions/nope"),
        ("POST", "/v1/sessions/nope/cancel"),
        ("GET", "/v1/sessions/nope/enrollments"),
        ("PUT", "/v1/sessions/nope/enrollments/a@b.example"),
        ("DELETE", "/v1/sessions/nope/enrollments/a@b.example"),
    ):
        resp = api.client.request(method, path, headers=api.auth())
        assert resp.status_code == 404, (method, path, resp.text)
        assert "no session with external id 'nope'" in resp.json()["detail"]
    assert row_counts(api)["person"] == 0


def test_cross_tenant_isolation(api: Api) -> None:
    assert api.put("/v1/sessions/shared-id", session_body()).status_code == 201
    # B cannot see, change, cancel or delete A's session ...
    assert api.get("/v1/sessions/shared-id", key=api.key_b).status_code == 404
    assert api.get("/v1/sessions", key=api.key_b).json()["total"] == 0
    assert api.client.post("/v1/sessions/shared-id/cancel", headers=api.auth(api.key_b)).status_code == 404
    assert api.client.delete("/v1/sessions/shared-id", headers=api.auth(api.key_b)).status_code == 404
    assert (
        api.put("/v1/sessions/shared-id/enrollments", {"enrollments": []}, key=api.key_b).status_code == 404
    )
    # ... and the same external id in B is B's own session.
    created = api.put("/v1/sessions/shared-id", session_body(title="B's"), key=api.key_b)
    assert created.status_code == 201
    a = api.get("/v1/sessions/shared-id").json()
    assert a["title"] == "Intro to SQL" and a["status"] == "scheduled" and a["deletedAt"] is None
    with Session(api.engine) as db:
        tenants = {s.tenant_id for s in db.exec(select(LiveSession))}
        people = list(db.exec(select(Person).where(Person.email == "ada@acme.example")))
    assert tenants == {api.tenant_a, api.tenant_b}
    assert len(people) == 2  # people are per tenant


def test_cancel_reopen_delete_restore(api: Api) -> None:
    sid = api.put("/v1/sessions/sess-1", session_body()).json()["id"]
    cancelled = api.client.post(
        "/v1/sessions/sess-1/cancel", json={"reason": "trainer ill"}, headers=api.auth()
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.client.post("/v1/sessions/sess-1/cancel", headers=api.auth()).status_code == 200
    reopened = api.client.post("/v1/sessions/sess-1/reopen", headers=api.auth())
    assert reopened.json()["status"] == "scheduled"
    assert len(api.dispatcher.calls) == 3  # create, cancel, reopen (second cancel changed nothing)

    assert api.client.delete("/v1/sessions/sess-1", headers=api.auth()).status_code == 204
    assert api.client.delete("/v1/sessions/sess-1", headers=api.auth()).status_code == 204
    assert len(api.dispatcher.calls) == 4
    gone = api.get("/v1/sessions/sess-1").json()
    assert gone["deletedAt"] is not None
    assert api.get("/v1/sessions").json()["total"] == 0
    assert api.get("/v1/sessions", includeDeleted="true").json()["total"] == 1
    # a removed session refuses changes until it is PUT again
    assert api.put("/v1/sessions/sess-1/enrollments/x@acme.example").status_code == 409
    restored = api.put("/v1/sessions/sess-1", session_body())
    assert restored.status_code == 200 and restored.json()["deletedAt"] is None
    assert str(api.dispatcher.calls[-1][0]) == sid
    with Session(api.engine) as db:
        actions = [a.action for a in db.exec(select(AuditEvent).order_by(col(AuditEvent.at)))]
    assert actions == [
        "session.create",
        "session.cancel",
        "session.reopen",
        "session.delete",
        "session.update",
    ]


def test_status_in_put_body(api: Api) -> None:
    resp = api.put("/v1/sessions/sess-1", session_body(status="cancelled"))
    assert resp.json()["status"] == "cancelled"


def test_list_and_filters(api: Api) -> None:
    for i in range(3):
        api.put(
            f"/v1/sessions/s{i}",
            session_body(start=f"2026-12-0{3 - i}T10:00:00Z", end=f"2026-12-0{3 - i}T11:00:00Z"),
        )
    page = api.get("/v1/sessions", limit=2).json()
    assert page["total"] == 3
    assert [s["externalId"] for s in page["items"]] == ["s2", "s1"]  # by start time
    assert api.get("/v1/sessions", syncStatus="pending").json()["total"] == 3
    assert api.get("/v1/sessions", syncStatus="synced").json()["total"] == 0
    assert api.get("/v1/sessions", limit=0).status_code == 422


def test_room_recurrence_and_meet_round_trip(api: Api) -> None:
    body = session_body(
        video="meet",
        manualJoinLink=None,
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=WE"],
        room={"building": "BER-HQ", "minCapacity": 11, "features": ["Projector"]},
    )
    resp = api.put("/v1/sessions/series-0", body)
    assert resp.status_code == 201, resp.text
    data = resp.json()
    assert data["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=6;BYDAY=WE"]
    assert data["room"] == {"building": "BER-HQ", "minCapacity": 11, "features": ["Projector"], "email": None}
    assert data["video"] == "meet" and data["manualJoinLink"] is None
    assert api.put("/v1/sessions/series-0", body).json()["revision"] == 1
    # a single line may be sent as a string
    one = api.put("/v1/sessions/series-1", {**body, "recurrence": "RRULE:FREQ=DAILY;COUNT=3"})
    assert one.status_code == 201 and one.json()["recurrence"] == ["RRULE:FREQ=DAILY;COUNT=3"]


def test_hosts_replaced_in_order(api: Api) -> None:
    api.put("/v1/sessions/sess-1", session_body(coHosts=["b@acme.example", "c@acme.example"]))
    resp = api.put(
        "/v1/sessions/sess-1",
        session_body(organizer="c@acme.example", coHosts=["b@acme.example"], presenters=["p@acme.example"]),
    )
    assert [(h["email"], h["role"]) for h in resp.json()["hosts"]] == [
        ("c@acme.example", "organizer"),
        ("b@acme.example", "co_host"),
        ("p@acme.example", "presenter"),
    ]
    with Session(api.engine) as db:
        assert len(list(db.exec(select(SessionHost)))) == 3
        assert len(list(db.exec(select(Enrollment)))) == 3


def test_odd_bodies_are_422_never_500(api: Api) -> None:
    odd: list[Any] = [
        None,
        [],
        "text",
        42,
        {},
        session_body(title=7),
        session_body(room="big"),
        session_body(room={"minCapacity": "ten"}),
        session_body(coHosts=[None]),
        session_body(enrollments=[{"email": "a@b.example", "status": None}]),
        session_body(enrollments="everyone"),
        session_body(start=None),
        session_body(start="2026-11-30T10:00:00+01:00", end="2026-12-30T10:00:00+01:00"),
        session_body(start="1900-01-01T00:00:00Z"),
        session_body(timeZone="../../etc/passwd"),
        session_body(recurrence="RRULE:FREQ=SOMETIMES"),
        session_body(recurrence=["RRULE:FREQ=WEEKLY", "RRULE:FREQ=DAILY"]),
        session_body(description="x" * 9000),
        session_body(organizer="a" * 330 + "@x.example"),
        session_body(manualJoinLink="https://"),
    ]
    for body in odd:
        resp = api.put("/v1/sessions/odd", body)
        assert resp.status_code == 422, (body, resp.text)
        for item in resp.json()["detail"]:
            assert item["loc"][0] == "body" and item["msg"], item
    assert row_counts(api)["live_session"] == 0


def _statements_of(api: Api, path: str, body: dict[str, Any]) -> tuple[httpx.Response, list[str]]:
    """The answer to ``PUT path`` and the first word of each SQL statement it ran (BEGIN/COMMIT left out)."""
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    sa.event.listen(api.engine, "before_cursor_execute", seen)
    try:
        answer = api.put(path, body)
    finally:
        sa.event.remove(api.engine, "before_cursor_execute", seen)
    return answer, [s for s in statements if s not in ("BEGIN", "COMMIT")]


def test_a_new_session_costs_few_statements_and_answers_what_a_read_returns(api: Api) -> None:
    """A new session whose people exist: the session upserted (its row locked), the people upserted
    together, the hosts, the enrollments, the audit row and the outbox row: 6 statements, nothing read
    back (the key was checked by the warm-up request moments ago); the answer is built from what was
    written and equals what a read returns."""
    api.put("/v1/sessions/warm", session_body())  # the people exist now; the key's last use is recorded
    created, statements = _statements_of(api, "/v1/sessions/fresh", session_body())
    assert created.status_code == 201, created.text
    assert len(statements) <= 6, statements
    assert "SELECT" not in statements, statements
    read = api.get("/v1/sessions/fresh").json()
    assert created.json() == read


def test_a_new_session_with_new_people_costs_the_same_statements(api: Api) -> None:
    """New hosts and learners are created by the same single people statement (no re-read of them)."""
    api.put("/v1/sessions/warm", session_body())
    body = session_body(
        organizer="new-host@acme.example",
        coHosts=["linus@acme.example"],
        enrollments=[
            {"email": "new1@acme.example", "status": "enrolled", "displayName": "New One"},
            {"email": "l1@acme.example", "status": "enrolled"},
            {"email": "new2@acme.example", "status": "waitlisted"},
        ],
    )
    created, statements = _statements_of(api, "/v1/sessions/fresh-people", body)
    assert created.status_code == 201, created.text
    assert len(statements) <= 6, statements
    assert "SELECT" not in statements, statements
    assert created.json() == api.get("/v1/sessions/fresh-people").json()
    with Session(api.engine) as db:
        people = {p.email: p for p in db.exec(select(Person))}
    assert people["new-host@acme.example"].roles == ["organizer"]
    assert people["new1@acme.example"].roles == ["learner"]
    assert people["new1@acme.example"].display_name == "New One"
    assert people["linus@acme.example"].roles == ["organizer"]
    enrolled = api.get("/v1/sessions/fresh-people/enrollments").json()
    assert sorted((e["email"], e["status"]) for e in enrolled) == [
        ("l1@acme.example", "enrolled"), ("new1@acme.example", "enrolled"), ("new2@acme.example", "waitlisted"),
    ]


def test_a_host_enrolled_on_a_new_session_is_refused_and_nothing_is_saved(api: Api) -> None:
    body = session_body(enrollments=[{"email": "linus@acme.example", "status": "enrolled"}])
    answer = api.put("/v1/sessions/host-learner", body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][:2] == ["body", "enrollments"]
    assert api.get("/v1/sessions/host-learner").status_code == 404
    assert row_counts(api)["person"] == 0
