"""Switching 50 sessions from vendor mode to delegation mode and back, through the emulator.

The emulator's outbox (every email Google would send) and each learner's calendar prove that every
learner ends with exactly one event per session and got at most one email about each switch.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.admin.mode_switch import apply_switch, switch_status
from engine.delegation import mode_switch
from engine.settings import Settings
from engine.store.models import (
    AuditEvent,
    DelegationMethod,
    IntegrationMode,
    ModeSwitch,
    ModeSwitchStatus,
    Tenant,
)
from tests.integration.delegation.conftest import Google, Platform, learners, organizers

N = 50


def _set_tenant(engine: Engine, tenant_id: uuid.UUID, **fields: str) -> None:
    with Session(engine) as db:
        tenant = db.get(Tenant, tenant_id)
        assert tenant is not None
        for k, v in fields.items():
            setattr(tenant, k, v)
        db.add(tenant)
        db.commit()


def _learner_events(google: Google, people: list[str]) -> Counter[tuple[str, str]]:
    """(learner, session title) → number of live events the learner sees."""
    seen: Counter[tuple[str, str]] = Counter()
    for learner in people:
        data = google.control("GET", f"calendars/{learner}/events", params={"includeDeleted": "false"})
        for view in data["attendeeCopies"] + data["events"]:
            seen[(learner, view["event"]["summary"])] += 1
    return seen


def _emails_since(google: Google, mark: int) -> Counter[tuple[str, str]]:
    return Counter((m["to"], m["summary"]) for m in google.outbox()[mark:])


def _switch(engine: Engine, settings: Settings, platform: Platform, target: str) -> ModeSwitch:
    with Session(engine, expire_on_commit=False) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        preview = mode_switch.preview(db, tenant=tenant, target=target, settings=settings, requested_by="test")
        db.commit()
    assert preview.total == N and all(e["action"] == "recreate" for e in preview.plan), preview.plan[:2]
    assert all("one invitation" in e["emails"] and "without a cancellation" in e["emails"] for e in preview.plan)
    done = mode_switch.apply(engine, switch_id=preview.id, reconcile=platform.reconciler.reconcile)
    assert done.status == ModeSwitchStatus.DONE.value, done.last_error
    assert done.done == N and done.failed == 0
    return done


@pytest.mark.slow
def test_switch_fifty_sessions_each_way(google: Google, settings: Settings, sqlite_engine: Engine) -> None:
    platform = Platform(
        sqlite_engine, settings, mode=IntegrationMode.VENDOR.value, method=DelegationMethod.DOMAIN_WIDE.value
    )
    people = learners(40)
    orgs = organizers()
    sids = []
    for i in range(N):
        pair = (people[i % 40], people[(i * 7 + 3) % 40])
        sids.append(
            platform.session(
                organizer=orgs[i % len(orgs)],
                learners=pair,
                title=f"Session {i:02d}",
                video="meet" if i % 2 else "none",
            )
        )
    for sid in sids:
        platform.sync(sid)
        assert platform.binding(sid).actor_kind == "vendor"
    titles = {f"Session {i:02d}" for i in range(N)}
    before = _learner_events(google, people)
    assert set(before.values()) == {1} and {t for _, t in before} == titles

    # Vendor → delegation: each event is recreated on its organizer's calendar (with a new Meet link
    # where wanted); each learner keeps exactly one event per session and gets at most one email.
    mark = len(google.outbox())
    _switch(sqlite_engine, settings, platform, IntegrationMode.DELEGATION.value)
    after = _learner_events(google, people)
    assert after == before
    emails = _emails_since(google, mark)
    assert max(emails.values()) == 1 and {t for _, t in emails} == titles
    assert not [m for m in google.outbox()[mark:] if m["kind"] == "cancellation"]
    for i, sid in enumerate(sids):
        binding = platform.binding(sid)
        assert binding.actor_kind == "delegated" and binding.owner_email == orgs[i % len(orgs)]
    vendor_owner = platform.binding(sids[0]).owner_email  # now an organizer
    assert vendor_owner in orgs
    for owner in ("calendar-owner-1@muster-vendor.example", "calendar-owner-2@muster-vendor.example"):
        assert google.events(owner) == []
    meet_sids = [sid for i, sid in enumerate(sids) if i % 2]
    for sid in meet_sids[:3]:
        platform.sync(sid)
    links = [platform.binding(sid).meet_link for sid in meet_sids[:3]]
    assert all(links) and len(set(links)) == 3

    # Delegation → vendor: back to the vendor owner accounts, again one event and at most one email.
    mark = len(google.outbox())
    _switch(sqlite_engine, settings, platform, IntegrationMode.VENDOR.value)
    assert _learner_events(google, people) == before
    emails = _emails_since(google, mark)
    assert max(emails.values()) == 1, "\n".join(str(m) for m in google.outbox()[mark:] if m["summary"] == "Session 38")
    assert not [m for m in google.outbox()[mark:] if m["kind"] == "cancellation"]
    for i in range(len(orgs)):
        assert google.events(orgs[i]) == []
    assert all(platform.binding(sid).actor_kind == "vendor" for sid in sids)
    # The bindings describe what Google holds now: the vendor events carry no Meet link, nor do bindings.
    for sid in meet_sids:
        binding = platform.binding(sid)
        assert (binding.meet_link, binding.room_email, binding.room_status) == (None, None, None), sid
        [event] = [e for e in google.events(binding.calendar_id or "") if e["id"] == binding.event_id]
        assert not event.get("hangoutLink") and not event.get("conferenceData")


def test_preview_changes_nothing_and_switch_pauses_then_resumes(
    google: Google, settings: Settings, sqlite_engine: Engine
) -> None:
    platform = Platform(sqlite_engine, settings, mode=IntegrationMode.VENDOR.value)  # OAuth delegation
    orgs = organizers()
    sids = [platform.session(organizer=orgs[i], learners=tuple(learners(2)), title=f"P{i}") for i in range(3)]
    for sid in sids:
        platform.sync(sid)
    mark = len(google.outbox())
    with Session(sqlite_engine, expire_on_commit=False) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        preview = mode_switch.preview(db, tenant=tenant, target="delegation", settings=settings)
        db.commit()
        assert tenant.integration_mode == "vendor"
    # Nobody connected Google yet: every session would wait, and the preview says who could connect.
    assert [e["action"] for e in preview.plan] == ["wait"] * 3
    by_session = {str(sid): orgs[i] for i, sid in enumerate(sids)}
    assert all(e["could_connect"] == [by_session[e["session_id"]]] for e in preview.plan)
    assert len(google.outbox()) == mark
    done = mode_switch.apply(sqlite_engine, switch_id=preview.id, reconcile=platform.reconciler.reconcile)
    # Waiting sessions keep their vendor event (learners still have exactly one) and do not fail the run.
    assert done.status == ModeSwitchStatus.RUNNING.value and done.failed == 0
    assert all(v.startswith("waiting") for v in done.progress.values())
    assert len(google.outbox()) == mark
    assert all(platform.binding(sid).actor_kind == "vendor" for sid in sids)
    with (
        pytest.raises(mode_switch.ModeSwitchError, match="already runs in delegation"),
        Session(sqlite_engine) as db,
    ):
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        mode_switch.preview(db, tenant=tenant, target="delegation", settings=settings)


def test_background_switch_progress_from_bindings(google: Google, settings: Settings, sqlite_engine: Engine) -> None:
    platform = Platform(
        sqlite_engine, settings, mode=IntegrationMode.VENDOR.value, method=DelegationMethod.DOMAIN_WIDE.value
    )
    orgs = organizers()
    sids = [platform.session(organizer=orgs[i], learners=tuple(learners(2)), title=f"B{i}") for i in range(3)]
    for sid in sids:
        platform.sync(sid)
    with Session(sqlite_engine, expire_on_commit=False) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        switch = mode_switch.preview(db, tenant=tenant, target="delegation", settings=settings)
        mode_switch.start(db, switch=switch, actor="admin")
        queued = mode_switch.enqueue_all(db, switch=switch)
        db.commit()
    assert sorted(queued) == sorted(sids)
    half = mode_switch.refresh_progress(sqlite_engine, switch_id=switch.id)
    assert half.status == ModeSwitchStatus.RUNNING.value and set(half.progress.values()) == {"pending"}
    platform.sync(queued[0])  # a worker reconciles one session
    part = mode_switch.refresh_progress(sqlite_engine, switch_id=switch.id)
    assert part.done == 1 and part.progress[str(queued[0])] == "done"
    for sid in queued[1:]:
        platform.sync(sid)
    done = mode_switch.refresh_progress(sqlite_engine, switch_id=switch.id)
    assert done.status == ModeSwitchStatus.DONE.value and done.done == 3
    assert mode_switch.summary(done)["progress"] == {"done": 3}


def test_switch_and_reconnect_on_both_databases(google: Google, db_engine: Engine) -> None:
    """The delegation tables and JSON progress behave the same on SQLite and PostgreSQL."""
    from tests.integration.delegation.conftest import connect_via_consent_page, make_settings

    settings = make_settings(google, db_engine)
    platform = Platform(db_engine, settings, mode=IntegrationMode.VENDOR.value)
    organizer = organizers()[0]
    sid = platform.session(organizer=organizer, learners=tuple(learners(2)), title="Both")
    platform.sync(sid)
    with Session(db_engine, expire_on_commit=False) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        switch = mode_switch.preview(db, tenant=tenant, target="delegation", settings=settings)
        db.commit()
    waiting = mode_switch.apply(db_engine, switch_id=switch.id, reconcile=platform.reconciler.reconcile)
    assert waiting.progress[str(sid)].startswith("waiting")
    enqueued: list[uuid.UUID] = []
    connect_via_consent_page(google, settings, db_engine, platform.tenant_id, organizer, enqueued)
    assert enqueued == [sid]
    done = mode_switch.apply(db_engine, switch_id=switch.id, reconcile=platform.reconciler.reconcile)
    assert done.status == ModeSwitchStatus.DONE.value and done.done == 1
    binding = platform.binding(sid)
    assert binding.owner_email == organizer and binding.actor_kind == "oauth" and binding.meet_status
    assert _learner_events(google, learners(2)) == Counter({(p, "Both"): 1 for p in learners(2)})


def test_a_paused_switch_is_done_once_its_sessions_moved_and_applying_again_changes_nothing(
    google: Google, db_engine: Engine
) -> None:
    from tests.integration.delegation.conftest import make_settings

    settings = make_settings(google, db_engine)
    platform = Platform(
        db_engine, settings, mode=IntegrationMode.VENDOR.value, method=DelegationMethod.DOMAIN_WIDE.value
    )
    orgs = organizers()
    sids = [platform.session(organizer=orgs[i], learners=tuple(learners(2)), title=f"R{i}") for i in range(2)]
    for sid in sids:
        platform.sync(sid)
    with Session(db_engine, expire_on_commit=False) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        switch = mode_switch.preview(db, tenant=tenant, target="delegation", settings=settings)
        db.commit()
        db.expunge(tenant)
    # Given the switch paused: Google applied the first new event but its answer was lost
    google.control("PUT", "faults", json={"seed": 7, "rules": [
        {"method": "POST", "path": "/calendar/v3/**", "lost_rate": 1.0, "times": 1}]})
    try:
        paused = mode_switch.apply(db_engine, switch_id=switch.id, reconcile=platform.reconciler.reconcile)
    finally:
        google.control("DELETE", "faults")
    assert paused.status == ModeSwitchStatus.PAUSED.value and paused.last_error, paused.progress
    # When the sessions are reconciled since (the workers' retries, not the switch)
    for sid in sids:
        platform.sync(sid)
    # Then the record every interface shows is done, with no error left
    shown = switch_status(settings, tenant, engine=db_engine).latest
    assert shown is not None and shown.id == switch.id
    assert (shown.status, shown.done, shown.failed, shown.last_error) == (ModeSwitchStatus.DONE.value, 2, 0, None)
    assert len(platform_audit(db_engine, "mode_switch.done")) == 1
    # And applying it again (a retried request, from any interface) changes nothing and reconciles nothing
    mark = len(google.outbox())
    again = mode_switch.apply(db_engine, switch_id=switch.id, reconcile=_must_not_reconcile)
    assert again.status == ModeSwitchStatus.DONE.value and again.done == 2
    queued: list[uuid.UUID] = []
    outcome = apply_switch(settings, db_engine, platform.tenant_id, "delegation", actor="admin",
                           confirm="delegation", switch_id=str(switch.id), dispatcher=_collect(queued))
    assert outcome.ok and "already done: 2 of 2" in outcome.message, outcome.message
    assert queued == [] and len(google.outbox()) == mark
    assert len(platform_audit(db_engine, "mode_switch.done")) == 1


def _must_not_reconcile(session_id: uuid.UUID) -> None:
    raise AssertionError(f"a finished switch reconciled {session_id} again")


def _collect(into: list[uuid.UUID]) -> Callable[[list[uuid.UUID]], None]:
    return into.extend


def platform_audit(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)).all())
