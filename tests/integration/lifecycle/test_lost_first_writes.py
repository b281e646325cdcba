"""A first write whose answer is lost, then a change of acting organizer: one event, never two.

Where it sits: ``tests/integration/lifecycle`` (organizer delegation over OAuth, SQLite and PostgreSQL, the
real reconciler against the emulator). The emulator's ``lost_rate`` fault applies a request and drops the
connection before any answer byte: the client cannot know the write happened.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlmodel import Session, select

from connectors.errors import RetriableError
from engine.runtime import locks
from engine.store.models import CalendarBinding
from engine.sync.record import clear_intent
from engine.sync.strays import sweep_strays
from tests.integration.lifecycle.conftest import LEARNERS, Life

RADIA, GRACE = "radia.backus10@acme.example", "grace.lamport2@acme.example"
INSERT = {"method": "POST", "path": "/calendar/v3/calendars/*/events", "lost_rate": 1.0, "times": 1}


def _live(life: Life, sid: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for cal in (RADIA, GRACE):
        for e in life.emu.events(cal):
            if (e.get("extendedProperties") or {}).get("private", {}).get("musterSession") == str(sid):
                out.append((cal, e))
    return out


def _lost_first_insert(life: Life) -> uuid.UUID:
    for who in (RADIA, GRACE):
        life.connect(who)
    life.emu.faults([INSERT])
    sid = life.put_session("s-lost", hosts=[RADIA, GRACE], room=False, video="none")
    with pytest.raises(RetriableError):
        life.reconciler.reconcile(sid)
    life.emu.clear_faults()
    [(cal, _event)] = _live(life, sid)  # the insert was applied; its answer never arrived
    assert cal == RADIA
    return sid


def _forget_intent(life: Life, sid: uuid.UUID) -> None:
    """What a binding looked like before write-ahead intents existed (or after the intent slot was reused)."""
    with Session(life.engine) as db:
        b = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).one()
        clear_intent(b)
        db.add(b)
        db.commit()


def test_the_intent_recorded_before_the_insert_finds_it_after_the_organizer_changes(life: Life) -> None:
    sid = _lost_first_insert(life)
    b = life.binding(sid)
    assert (b.intent_calendar_id, b.intent_owner_email, b.event_id) == (RADIA, RADIA, None)
    mark = len(life.emu.outbox())
    # The acting organizer changes before any reconcile saw the first event
    life.put_session("s-lost", hosts=[GRACE, RADIA], room=False, video="none")
    assert life.settle(sid).outcome == "success"
    # One live event, on the new organizer's calendar; the first one was read and removed silently
    [(cal, event)] = _live(life, sid)
    assert cal == GRACE and {a["email"] for a in event["attendees"]} >= set(LEARNERS)
    b = life.binding(sid)
    assert (b.calendar_id, b.event_id, b.intent_event_id) == (GRACE, event["id"], None)
    assert not [m for m in life.emu.outbox()[mark:] if m["kind"] == "cancellation"]
    assert life.reconciler.reconcile(sid).writes == 0


def test_the_stray_sweep_removes_an_event_no_binding_names(life: Life) -> None:
    sid = _lost_first_insert(life)
    _forget_intent(life, sid)
    life.put_session("s-lost", hosts=[GRACE, RADIA], room=False, video="none")
    assert life.settle(sid).outcome == "success"
    assert sorted(cal for cal, _ in _live(life, sid)) == [GRACE, RADIA]  # without an intent: two events
    report = sweep_strays(life.engine, life.reconciler.calendars, locks.MemoryLock(), lock_ttl_s=5,
                          reconcile=life.reconciler.reconcile, tenant_id=life.tenant_id)
    assert len(report.removed) == 1 and report.removed[0].startswith(f"{RADIA}/") and not report.errors
    [(cal, _event)] = _live(life, sid)
    assert cal == GRACE and life.binding(sid).calendar_id == GRACE
    again = sweep_strays(life.engine, life.reconciler.calendars, locks.MemoryLock(), lock_ttl_s=5,
                         reconcile=life.reconciler.reconcile, tenant_id=life.tenant_id)
    assert again.removed == [] and again.adopted == []


def test_the_stray_sweep_adopts_an_event_whose_binding_names_none(life: Life) -> None:
    sid = _lost_first_insert(life)
    _forget_intent(life, sid)
    mark = len(life.emu.outbox())
    report = sweep_strays(life.engine, life.reconciler.calendars, locks.MemoryLock(), lock_ttl_s=5,
                          reconcile=life.reconciler.reconcile, tenant_id=life.tenant_id)
    assert report.adopted == [str(sid)] and report.removed == []
    [(cal, event)] = _live(life, sid)
    b = life.binding(sid)
    assert (cal, b.calendar_id, b.event_id, b.sync_status) == (RADIA, RADIA, event["id"], "synced")
    assert life.emu.outbox()[mark:] == []  # adopted as it was: nobody is e-mailed again


def test_a_move_whose_answer_is_lost_is_found_at_the_destination(life: Life) -> None:
    for who in (RADIA, GRACE):
        life.connect(who)
    sid = life.put_session("s-move-lost", hosts=[RADIA, GRACE], room=False, video="none")
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    mark = len(life.emu.outbox())
    life.emu.faults([{"method": "POST", "path": "/calendar/v3/calendars/*/events/*/move", "lost_rate": 1.0,
                      "times": 1}])
    assert life.request("PUT", f"/v1/people/{RADIA}/departure", {}).status_code == 200
    report = life.sweep()
    life.emu.clear_faults()
    assert [(s.outcome, s.path) for p in report.transfers for s in p.sessions] == [("transferred", "move")]
    # Same id on the successor's calendar, nothing recreated, nobody e-mailed
    [(cal, event)] = _live(life, sid)
    assert (cal, event["id"]) == (GRACE, before.event_id)
    after = life.binding(sid)
    assert (after.calendar_id, after.event_id) == (GRACE, before.event_id)
    assert life.emu.outbox()[mark:] == []
