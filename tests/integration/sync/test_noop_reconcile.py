"""A reconcile that finds Google in step writes nothing; one that finds a new answer records it.

Where it sits: ``tests/integration/sync``, on both stacks. :meth:`engine.sync.reconciler.SessionReconciler._unchanged`
decides, from what the reconcile read, that recording would change no row.
"""

from __future__ import annotations

import threading

from sqlalchemy import event
from sqlmodel import Session, select

from engine.api.schemas import EnrollmentCreate
from engine.ingest.enrollments import put_enrollment
from engine.runtime import locks
from engine.runtime.wiring import build_runtime
from engine.store.models import Enrollment, LiveSession, Person
from engine.store.unit_of_work import unit_of_work
from tests.integration.sync.conftest import Stack, organizers, people, session_body


def test_an_unchanged_reconcile_writes_no_row_and_keeps_its_token(stack: Stack) -> None:
    """A reconcile that finds Google in step writes nothing (not even its fencing token); the time it
    verified the session is written later, in one batch statement."""
    stack.put_session("s-quiet", session_body(hosts=organizers()[:1], enrolled=people("q", 3)))
    stack.idle()
    sid = stack.session_id("s-quiet")
    before = stack.binding(sid)
    assert before is not None and before.sync_status == "synced"
    runtime = build_runtime(stack.settings, engine=stack.engine)
    statements: list[str] = []

    me = threading.get_ident()  # the embedded worker's clocks query the same engine meanwhile

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if threading.get_ident() == me:
            statements.append(statement.split(None, 1)[0].upper())

    event.listen(stack.engine, "before_cursor_execute", seen)
    try:
        result = runtime.reconciler.reconcile(sid)  # event-driven: planned against the event as last written
        verified = runtime.reconciler.reconcile(sid, verify=True)  # the sweep's: the event is read
    finally:
        event.remove(stack.engine, "before_cursor_execute", seen)
    assert (result.outcome, result.writes) == ("success", 0)
    assert (verified.outcome, verified.writes) == ("success", 0)
    assert statements == ["SELECT"] * 2, statements  # the session's row set with its people
    after = stack.binding(sid)
    assert after is not None
    assert (after.fence, after.updated_at, after.last_synced_at) == (before.fence, before.updated_at,
                                                                      before.last_synced_at)
    runtime.reconciler.flush_verified()
    stored = stack.binding(sid)
    assert stored is not None and stored.last_synced_at is not None
    assert before.last_synced_at is not None and stored.last_synced_at > before.last_synced_at
    assert stored.fence == before.fence



def _statements(stack: Stack, run: object) -> list[str]:
    seen: list[str] = []
    me = threading.get_ident()

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if threading.get_ident() == me:
            seen.append(statement.split(None, 1)[0].upper())

    event.listen(stack.engine, "before_cursor_execute", note)
    try:
        run()  # type: ignore[operator]
    finally:
        event.remove(stack.engine, "before_cursor_execute", note)
    return seen


def test_an_answer_given_in_google_is_recorded_by_a_reconcile_with_nothing_else_to_do(stack: Stack) -> None:
    """The plan is all nothing-to-do, but a guest answered: the answer is stored; the next reconcile, with
    nothing new at all, writes nothing."""
    learners = people("ans", 3)
    stack.put_session("s-answer", session_body(hosts=organizers()[:1], enrolled=learners))
    stack.idle()
    sid = stack.session_id("s-answer")
    binding = stack.binding(sid)
    assert binding is not None and binding.calendar_id and binding.event_id
    stack.emu.control("POST", f"calendars/{binding.calendar_id}/events/{binding.event_id}/responses",
                      {"email": learners[1], "responseStatus": "accepted"})
    runtime = build_runtime(stack.settings, engine=stack.engine)
    recorded = _statements(stack, lambda: runtime.reconciler.reconcile(sid, verify=True))  # as the sweep
    assert any(s == "UPDATE" for s in recorded), recorded
    with Session(stack.engine) as db:
        answer = db.exec(
            select(Enrollment.response_status).join(Person, Person.id == Enrollment.person_id)  # type: ignore[arg-type]
            .where(Enrollment.session_id == sid, Person.email == learners[1].lower())
        ).one()
    assert answer == "accepted"
    quiet = _statements(stack, lambda: runtime.reconciler.reconcile(sid, verify=True))
    assert quiet == ["SELECT"], quiet


def test_a_new_learners_invitation_is_stored_without_locking_the_session_row(stack: Stack) -> None:
    """The reconcile that invites a new learner stores their ``needsAction`` (nothing to tell or decide: no
    answer yet) with one conditional update, without taking the session's row lock (``FOR UPDATE``) that an
    answer to act on takes, so the reconcile of an enrollment never waits behind the platform's roster writes.
    The answer is then what ``GET /v1/sessions/{id}/enrollments`` shows, and the next reconcile writes nothing."""
    learners = people("inv", 3)
    stack.put_session("s-invite", session_body(hosts=organizers()[:1], enrolled=learners[:2]))
    stack.idle()
    sid = stack.session_id("s-invite")
    runtime = build_runtime(stack.settings, engine=stack.engine)
    seen: list[str] = []
    me = threading.get_ident()

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        if threading.get_ident() == me:
            seen.append(" ".join(statement.split()))

    # the platform's change, committed and reconciled here under the session's lease (a worker that gets
    # the message meanwhile finds the lease taken and comes back later, to nothing left to do)
    with locks.held(runtime.lock, str(sid), 30.0) as lease:
        assert lease is not None
        with unit_of_work(stack.engine, dispatcher=lambda ids: []) as uow:
            row = uow.db.get(LiveSession, sid)
            assert row is not None
            put_enrollment(db=uow.db, session=row, item=EnrollmentCreate(email=learners[2]), actor="test")
        event.listen(stack.engine, "before_cursor_execute", note)
        try:
            result = runtime.reconciler.reconcile(sid)
        finally:
            event.remove(stack.engine, "before_cursor_execute", note)
    assert (result.outcome, result.writes) == ("success", 1)
    (google,) = stack.emu.events_of(sid)
    assert {a["email"] for a in google.get("attendees") or []} >= set(learners)
    assert not [s for s in seen if "FOR UPDATE" in s.upper()], seen
    assert not [s for s in seen if s.startswith(("SELECT enrollment.", "SELECT session_host."))], seen  # no rows read
    assert len([s for s in seen if s.startswith("UPDATE enrollment ")]) == 1, seen
    # the load found the owner account healthy: no failure mark to clear, its row is not read again
    assert not [s for s in seen if s.startswith("SELECT google_identity_status.")], seen
    answers = {e["email"]: e.get("response") for e in stack.request("GET", "/v1/sessions/s-invite/enrollments").json()}
    assert (answers[learners[2]] or {}).get("status") == "needsAction", answers
    quiet = _statements(stack, lambda: runtime.reconciler.reconcile(sid))
    assert quiet == ["SELECT"], quiet


def test_the_load_builds_the_binding_the_orm_would(stack: Stack) -> None:
    """The reconcile reads its rows with Core statements on a connection of its own: the binding is the one an ORM
    query returns (every column, detached, nothing pending), and a placement resolver's session that it is added
    to finds it by ``db.get`` without a statement."""
    from engine.store.models import CalendarBinding
    from engine.store.unit_of_work import autocommit_connection, network_session
    from engine.sync.load import load

    learners = people("rows", 2)
    stack.put_session("s-rows", session_body(hosts=organizers()[:2], enrolled=learners))
    stack.idle()
    sid = stack.session_id("s-rows")
    with autocommit_connection(stack.engine) as conn:
        state = load(db=conn, session_id=sid)
    assert state is not None and state.binding is not None and state.facts.external_id == "s-rows"
    # the roster, read in the same statement: the hosts in their order, the learners by email
    hosts = [(e.lower(), i) for i, e in enumerate(organizers()[:2])]
    assert [(h.email, h.position) for h in state.facts.hosts] == hosts
    assert [e.email for e in state.facts.enrollments] == sorted(e.lower() for e in learners)
    assert {e.status for e in state.facts.enrollments} == {"enrolled"}
    assert set(state.learner_answers) == {e.lower() for e in learners}
    binding = state.binding
    with Session(stack.engine) as db:
        orm = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).one()
        assert {c: getattr(binding, c) for c in CalendarBinding.model_fields} == orm.model_dump()
    with network_session(stack.engine) as db:
        db.add(binding)
        assert _statements(stack, lambda: db.get(CalendarBinding, binding.id)) == []
        assert db.get(CalendarBinding, binding.id) is binding and not db.dirty and not db.new
