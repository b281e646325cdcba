"""A mode switch recreates each event on another calendar: the guests' answers come along, both ways.

Where it sits: ``tests/integration/delegation``; the platform's rows → mode switch → reconciler → emulator.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.delegation import mode_switch
from engine.settings import Settings
from engine.store.models import DelegationMethod, IntegrationMode, ModeSwitchStatus, Tenant
from tests.integration.delegation.conftest import Google, Platform, learners, make_settings, organizers


def _answers(google: Google, calendar_id: str) -> dict[str, tuple[str, str | None]]:
    [event] = google.events(calendar_id)
    return {a["email"]: (a.get("responseStatus"), a.get("comment")) for a in event.get("attendees") or []}


def _switch(engine: Engine, settings: Settings, platform: Platform, target: str) -> None:
    with Session(engine, expire_on_commit=False) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        preview = mode_switch.preview(db, tenant=tenant, target=target, settings=settings, requested_by="test")
        db.commit()
    done = mode_switch.apply(engine, switch_id=preview.id, reconcile=platform.reconciler.reconcile)
    assert done.status == ModeSwitchStatus.DONE.value, done.last_error


def test_answers_survive_a_mode_switch_each_way(google: Google, db_engine: Engine) -> None:
    settings = make_settings(google, db_engine)  # SQLite, then PostgreSQL
    platform = Platform(
        db_engine, settings, mode=IntegrationMode.VENDOR.value, method=DelegationMethod.DOMAIN_WIDE.value
    )
    people = learners(3)
    organizer = organizers()[0]
    sid = platform.session(organizer=organizer, learners=tuple(people), video="none")
    platform.sync(sid)
    vendor = platform.binding(sid)
    assert vendor.actor_kind == "vendor" and vendor.calendar_id and vendor.event_id
    # Given a learner accepted with a comment and another declined on the vendor-owned event
    assert google.world.set_attendee_response(vendor.calendar_id, vendor.event_id, people[0], "accepted", "yes")
    assert google.world.set_attendee_response(vendor.calendar_id, vendor.event_id, people[1], "declined")
    # When the tenant switches to organizer delegation, the event is recreated on the organizer's calendar
    _switch(db_engine, settings, platform, IntegrationMode.DELEGATION.value)
    delegated = platform.binding(sid)
    assert delegated.actor_kind == "delegated" and delegated.calendar_id == organizer
    answers = _answers(google, organizer)
    # Then the answers are on the new event
    assert answers[people[0]] == ("accepted", "yes")
    assert answers[people[1]] == ("declined", None)
    assert answers[people[2]] == ("needsAction", None)
    # And back to vendor mode: still the guests' answers
    _switch(db_engine, settings, platform, IntegrationMode.VENDOR.value)
    back = platform.binding(sid)
    assert back.actor_kind == "vendor" and back.calendar_id
    answers = _answers(google, back.calendar_id)
    assert answers[people[0]] == ("accepted", "yes")
    assert answers[people[1]] == ("declined", None)
