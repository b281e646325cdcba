"""Guests' answers belong to the guests: every planned write that carries the guest list carries each
guest's ``responseStatus``, comment and additional guests as last observed. Pure, table-driven."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from connectors.google.mapping import fields_body, insert_body, remote_event
from connectors.ports.calendar import Actor, Attendee, EventSpec, RemoteEvent, with_answers
from engine.domain.desired import DesiredEvent
from engine.domain.event_ids import essence_hash, event_id, marker
from engine.domain.plan import CreateEvent, MoveEvent, ObservedEvent, PatchEvent, plan

T = uuid.UUID("00000000-0000-0000-0000-00000000000a")
S = uuid.UUID("00000000-0000-0000-0000-00000000000b")
OWNER, OTHER = "owner-1@vendor.example", "owner-2@vendor.example"
START = datetime(2027, 2, 1, 9, tzinfo=UTC)
ACCEPTED = Attendee("a@x.example", response_status="accepted", comment="see you", additional_guests=1)


def spec(*attendees: Attendee) -> EventSpec:
    s = EventSpec("Intro", "d", None, START, START + timedelta(hours=1), "Europe/Berlin", attendees=attendees)
    return replace(s, private=marker(T, S, essence_hash(s)))


def desired(s: EventSpec, calendar: str = OWNER, movable: frozenset[str] = frozenset()) -> DesiredEvent:
    eid = event_id(T, S, OWNER)
    return DesiredEvent(T, S, Actor("vendor", calendar, T), calendar, eid, s, s.private_map["musterEssence"],
                        movable)


def seen(s: EventSpec, calendar: str = OWNER, eid: str | None = None, status: str = "confirmed") -> ObservedEvent:
    return ObservedEvent(Actor("vendor", calendar, T),
                         RemoteEvent(calendar, eid or event_id(T, S, OWNER), status, s))


def _answers(s: EventSpec) -> dict[str, tuple[str | None, str | None, int]]:
    return {a.email: (a.response_status, a.comment, a.additional_guests) for a in s.attendees}


def test_answers_take_no_part_in_equality_or_the_essence() -> None:
    bare = spec(Attendee("a@x.example"))
    answered = spec(ACCEPTED)
    assert bare == answered
    assert essence_hash(bare) == essence_hash(answered)


@pytest.mark.parametrize("status", ["confirmed", "cancelled"])
def test_patching_the_guest_list_keeps_every_answer(status: str) -> None:
    # Given a guest who accepted with a comment and a plus-one, and a second guest who declined
    have = spec(ACCEPTED, Attendee("b@x.example", response_status="declined"))
    # When ten other learners enroll
    newcomers = tuple(Attendee(f"n{i}@x.example") for i in range(10))
    want = spec(Attendee("a@x.example"), Attendee("b@x.example"), *newcomers)
    ops = plan([desired(want)], [seen(have, status=status)])
    # Then the write that carries the attendees carries the answers as observed; newcomers have none
    [patch] = [op for op in ops if isinstance(op, PatchEvent) and "attendees" in op.fields]
    answers = _answers(patch.desired.spec)
    assert answers["a@x.example"] == ("accepted", "see you", 1)
    assert answers["b@x.example"] == ("declined", None, 0)
    assert all(answers[a.email] == (None, None, 0) for a in newcomers)


def test_a_recreate_elsewhere_carries_the_answers_of_the_superseded_event() -> None:
    # A mode switch / organizer change: the event is created on another calendar, the old one deleted.
    old = seen(spec(ACCEPTED), calendar=OTHER, eid="oldid00001")
    ops = plan([desired(spec(Attendee("a@x.example")))], [old])
    [create] = [op for op in ops if isinstance(op, CreateEvent)]
    assert _answers(create.desired.spec)["a@x.example"] == ("accepted", "see you", 1)
    body = insert_body(create.desired.event_id, create.desired.spec)
    assert body["attendees"] == [{"email": "a@x.example", "responseStatus": "accepted", "comment": "see you",
                                  "additionalGuests": 1}]


def test_a_move_then_patch_carries_the_answers() -> None:
    have = seen(spec(ACCEPTED), calendar=OTHER)
    want = desired(spec(Attendee("a@x.example"), Attendee("c@x.example")), movable=frozenset({OTHER}))
    ops = plan([want], [have])
    assert isinstance(ops[0], MoveEvent)
    [patch] = [op for op in ops if isinstance(op, PatchEvent)]
    assert _answers(patch.desired.spec)["a@x.example"] == ("accepted", "see you", 1)


def test_the_event_being_written_wins_over_an_older_copy() -> None:
    here = spec(Attendee("a@x.example", response_status="declined"))
    older = spec(ACCEPTED)
    out = with_answers(spec(Attendee("a@x.example")), [here, older])
    assert _answers(out)["a@x.example"] == ("declined", None, 0)


def test_mapping_reads_and_writes_the_answers_back_unchanged() -> None:
    wire = {
        "id": "abc12345", "status": "confirmed", "summary": "Intro",
        "start": {"dateTime": "2027-02-01T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2027-02-01T11:00:00+01:00", "timeZone": "Europe/Berlin"},
        "attendees": [
            {"email": "A@x.example", "responseStatus": "tentative", "comment": "maybe", "additionalGuests": 2},
            {"email": "b@x.example"},
        ],
    }
    remote = remote_event(OWNER, wire)
    assert _answers(remote.spec) == {"a@x.example": ("tentative", "maybe", 2), "b@x.example": ("needsAction", None, 0)}
    body = fields_body(remote.spec, ["attendees"])
    assert body["attendees"] == [
        {"email": "a@x.example", "responseStatus": "tentative", "comment": "maybe", "additionalGuests": 2},
        {"email": "b@x.example", "responseStatus": "needsAction"},
    ]
