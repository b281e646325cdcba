"""A recreated event carries the answers Muster stored on the guests' own rows when the old event's
cannot be read: the observed answer wins, a stored one fills in only where none was observed, and the
room and the organizer are never given an answer. Pure, table-driven."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from connectors.google.mapping import insert_body
from connectors.ports.calendar import Actor, Attendee, EventSpec, RemoteEvent
from engine.domain.desired import (
    EnrollmentFacts,
    HostFacts,
    Placement,
    SessionFacts,
    TenantFacts,
    desired_events,
)
from engine.domain.plan import CreateEvent, ObservedEvent, PatchEvent, plan

T = uuid.UUID("00000000-0000-0000-0000-00000000000a")
S = uuid.UUID("00000000-0000-0000-0000-00000000000b")
OWNER, OLD = "owner-1@vendor.example", "owner-2@vendor.example"
ROOM = "room-1@resource.example"
START = datetime(2027, 2, 1, 9, tzinfo=UTC)


def facts(*, learner: tuple[str | None, str | None], host: tuple[str | None, str | None] = (None, None),
          organizer_answer: str | None = "accepted") -> SessionFacts:
    tenant = TenantFacts(T, "acme", "vendor", (OWNER,))
    return SessionFacts(
        id=S, tenant=tenant, external_id="s-1", title="Intro", description="", start_at=START,
        end_at=START + timedelta(hours=1), time_zone="UTC", status="scheduled", deleted=False, revision=1,
        hosts=(
            HostFacts(OWNER, None, "organizer", 0, response_status=organizer_answer),
            HostFacts("host@x.example", None, "co_host", 1, response_status=host[0], response_comment=host[1]),
        ),
        enrollments=(
            EnrollmentFacts("a@x.example", None, "enrolled", response_status=learner[0], response_comment=learner[1]),
            EnrollmentFacts("new@x.example", None, "enrolled"),
        ),
    )


def placement(room: str | None = None) -> Placement:
    return Placement(Actor("vendor", OWNER, T), OWNER, room_email=room)


def answers(s: EventSpec) -> dict[str, tuple[str | None, str | None]]:
    return {a.email: (a.response_status, a.comment) for a in s.attendees}


def old_event(*attendees: Attendee, status: str = "confirmed", calendar: str = OLD) -> ObservedEvent:
    (d,) = desired_events(facts(learner=(None, None)), placement())
    spec = replace(d.spec, attendees=attendees)
    return ObservedEvent(Actor("vendor", calendar, T), RemoteEvent(calendar, "oldid00001", status, spec))


@pytest.mark.parametrize(
    ("stored", "observed", "expected"),
    [
        # nothing observed (the old copy cannot be read): the stored answer and its comment
        (("accepted", "see you"), None, ("accepted", "see you")),
        (("declined", None), None, ("declined", None)),
        (("tentative", "maybe"), None, ("tentative", "maybe")),
        # needsAction stored is no answer: sent bare
        (("needsAction", None), None, (None, None)),
        ((None, None), None, (None, None)),
        # the observed old event wins over what the row stores
        (("accepted", "see you"), Attendee("a@x.example", response_status="declined"), ("declined", None)),
        (("accepted", None), Attendee("a@x.example", response_status="needsAction"), ("needsAction", None)),
        # the old event read but not listing the learner: the stored answer fills in
        (("accepted", None), Attendee("other@x.example", response_status="declined"), ("accepted", None)),
    ],
)
def test_a_recreated_event_takes_the_observed_answer_else_the_stored_one(
    stored: tuple[str | None, str | None], observed: Attendee | None, expected: tuple[str | None, str | None]
) -> None:
    desired = desired_events(facts(learner=stored), placement())
    seen = [old_event(observed)] if observed is not None else []
    [create] = [op for op in plan(desired, seen) if isinstance(op, CreateEvent)]
    got = answers(create.desired.spec)
    assert got["a@x.example"] == expected
    assert got["new@x.example"] == (None, None)


def test_a_stored_answer_reaches_the_insert_body() -> None:
    desired = desired_events(facts(learner=("accepted", "see you"), host=("tentative", None)), placement())
    [create] = plan(desired, [])
    assert isinstance(create, CreateEvent)
    body = insert_body(create.desired.event_id, create.desired.spec)
    by_email = {a["email"]: a for a in body["attendees"]}
    assert by_email["a@x.example"]["responseStatus"] == "accepted"
    assert by_email["a@x.example"]["comment"] == "see you"
    assert by_email["host@x.example"]["responseStatus"] == "tentative"
    assert "responseStatus" not in by_email["new@x.example"]


def test_the_room_and_the_organizer_get_no_stored_answer() -> None:
    # The organizer's row stores "accepted" but the organizer is not a guest; a room answers for itself.
    desired = desired_events(facts(learner=("accepted", None)), placement(room=ROOM))
    [create] = plan(desired, [])
    assert isinstance(create, CreateEvent)
    got = answers(create.desired.spec)
    assert OWNER not in got
    assert got[ROOM] == (None, None)
    assert {a.email for a in desired[0].stored_answers} == {"a@x.example"}


def test_a_restored_tombstone_without_guests_takes_the_stored_answers() -> None:
    # Deleted in Google (the tenant's policy: recreate): the tombstone lists nobody.
    (d,) = desired_events(facts(learner=("accepted", "see you")), placement())
    tomb = ObservedEvent(d.actor, RemoteEvent(OWNER, d.event_id, "cancelled", replace(d.spec, attendees=())))
    [restore] = plan([d], [tomb])
    assert isinstance(restore, PatchEvent) and restore.restore
    assert answers(restore.desired.spec)["a@x.example"] == ("accepted", "see you")


def test_an_ordinary_patch_never_takes_a_stored_answer() -> None:
    # The live event is read and lists the learner unanswered: Google's word stands, nothing made up.
    (d,) = desired_events(facts(learner=("accepted", None)), placement())
    live = ObservedEvent(d.actor, RemoteEvent(OWNER, d.event_id, "confirmed",
                                              replace(d.spec, attendees=(Attendee("a@x.example"),))))
    ops = plan([d], [live])
    [patch] = [op for op in ops if isinstance(op, PatchEvent)]
    assert answers(patch.desired.spec)["a@x.example"] == (None, None)
