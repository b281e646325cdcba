"""Table-driven tests of the pure planner: desired + observed → ops. No fixtures, no mocks."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from connectors.ports.calendar import Actor, Attendee, EventSpec, RemoteEvent
from engine.domain.desired import DesiredEvent
from engine.domain.event_ids import essence_hash, event_id, marker
from engine.domain.plan import (
    CreateEvent,
    DeleteEvent,
    MoveEvent,
    Noop,
    ObservedEvent,
    PatchEvent,
    diff_fields,
    plan,
)
from policies.notifications import NotificationPolicy

T = uuid.UUID("00000000-0000-0000-0000-00000000000a")
S = uuid.UUID("00000000-0000-0000-0000-00000000000b")
OWNER = "owner-1@vendor.example"
OTHER = "owner-2@vendor.example"
ACTOR = Actor("vendor", OWNER, T)
START = datetime(2027, 2, 1, 9, tzinfo=UTC)


def spec(**kw: object) -> EventSpec:
    base = EventSpec(
        summary="Intro",
        description="d",
        location="Room 1",
        start=START,
        end=START + timedelta(hours=1),
        time_zone="Europe/Berlin",
        attendees=(Attendee("a@x.example"), Attendee("b@x.example")),
    )
    s = replace(base, **kw)  # type: ignore[arg-type]
    return replace(s, private=marker(T, S, essence_hash(s)))


def desired(s: EventSpec, calendar: str = OWNER, movable: frozenset[str] = frozenset()) -> DesiredEvent:
    return DesiredEvent(
        T,
        S,
        Actor("vendor", calendar, T),
        calendar,
        event_id(T, S, OWNER),
        s,
        s.private_map["musterEssence"],
        movable,
    )


def observed(s: EventSpec, *, status: str = "confirmed", calendar: str = OWNER) -> ObservedEvent:
    return ObservedEvent(
        Actor("vendor", calendar, T), RemoteEvent(calendar, event_id(T, S, OWNER), status, s)
    )


def kinds(ops: list) -> list[tuple]:  # type: ignore[type-arg]
    out = []
    for op in ops:
        if isinstance(op, PatchEvent):
            out.append(("patch", tuple(sorted(op.fields)), op.send_updates, op.restore))
        elif isinstance(op, CreateEvent):
            out.append(("create", op.send_updates))
        elif isinstance(op, DeleteEvent):
            out.append(("delete", op.calendar_id, op.send_updates))
        elif isinstance(op, MoveEvent):
            out.append(("move", op.calendar_id, op.destination))
        elif isinstance(op, Noop):
            out.append(("noop",))
    return out


BASE = spec()
CASES = [
    ("nothing exists -> create, invite all", [desired(BASE)], [], [("create", "all")]),
    ("equal -> noop", [desired(BASE)], [observed(BASE)], [("noop",)]),
    (
        "title typo -> silent patch",
        [desired(spec(summary="Intro!"))],
        [observed(BASE)],
        [("patch", ("marker", "summary"), "none", False)],
    ),
    (
        "description -> silent",
        [desired(spec(description="new"))],
        [observed(BASE)],
        [("patch", ("description", "marker"), "none", False)],
    ),
    (
        "reschedule -> one loud patch",
        [desired(spec(start=START + timedelta(hours=2), end=START + timedelta(hours=3)))],
        [observed(BASE)],
        [("patch", ("marker", "time"), "all", False)],
    ),
    (
        "reschedule + typo -> one loud patch with both",
        [desired(spec(summary="X", start=START + timedelta(hours=2), end=START + timedelta(hours=3)))],
        [observed(BASE)],
        [("patch", ("marker", "summary", "time"), "all", False)],
    ),
    (
        "attendee added -> one silent patch (nobody else is e-mailed)",
        [desired(spec(attendees=(*BASE.attendees, Attendee("c@x.example"))))],
        [observed(BASE)],
        [("patch", ("attendees", "marker"), "none", False)],
    ),
    (
        "attendee added + typo -> one silent patch",
        [desired(spec(summary="Y", attendees=(*BASE.attendees, Attendee("c@x.example"))))],
        [observed(BASE)],
        [("patch", ("attendees", "marker", "summary"), "none", False)],
    ),
    (
        "attendee added + reschedule -> one loud patch",
        [
            desired(
                spec(
                    start=START + timedelta(hours=2),
                    end=START + timedelta(hours=3),
                    attendees=(*BASE.attendees, Attendee("c@x.example")),
                )
            )
        ],
        [observed(BASE)],
        [("patch", ("attendees", "marker", "time"), "all", False)],
    ),
    (
        "place changed -> loud",
        [desired(spec(location="Room 2"))],
        [observed(BASE)],
        [("patch", ("location", "marker"), "all", False)],
    ),
    (
        "tombstone -> restore all fields, loud",
        [desired(BASE)],
        [observed(BASE, status="cancelled")],
        [
            (
                "patch",
                (
                    "attendees",
                    "conference",
                    "description",
                    "guests",
                    "location",
                    "marker",
                    "recurrence",
                    "summary",
                    "time",
                ),
                "all",
                True,
            )
        ],
    ),
    ("no desired, live event -> delete, tell guests", [], [observed(BASE)], [("delete", OWNER, "all")]),
    ("no desired, tombstone -> nothing", [], [observed(BASE, status="cancelled")], []),
    (
        "drift: attendee removed in Google -> re-add",
        [desired(BASE)],
        [observed(replace(BASE, attendees=BASE.attendees[:1]))],
        [("patch", ("attendees",), "none", False)],
    ),
    (
        "attendee response status ignored",
        [desired(BASE)],
        [
            observed(
                replace(BASE, attendees=(Attendee("a@x.example", display_name="A"), Attendee("b@x.example")))
            )
        ],
        [("noop",)],
    ),
    (
        "event on another calendar -> create here, delete there quietly (one email per guest)",
        [desired(BASE, calendar=OTHER)],
        [observed(BASE)],
        [("create", "all"), ("delete", OWNER, "none")],
    ),
    ("foreign event (no marker) never touched", [], [observed(replace(BASE, private=()))], []),
]


@pytest.mark.parametrize(("name", "want", "have", "expected"), CASES, ids=[c[0] for c in CASES])
def test_plan(name: str, want: list, have: list, expected: list) -> None:  # type: ignore[type-arg]
    assert kinds(plan(want, have)) == expected


def test_membership_emails_policy_splits_typo_from_attendees() -> None:
    loud = NotificationPolicy.from_settings({"membership_emails": True})
    want = [desired(spec(summary="Y", attendees=(*BASE.attendees, Attendee("c@x.example"))))]
    assert kinds(plan(want, [observed(BASE)], loud)) == [
        ("patch", ("summary",), "none", False),
        ("patch", ("attendees", "marker"), "all", False),
    ]


def test_move_when_allowed() -> None:
    d = replace(desired(BASE, calendar=OTHER, movable=frozenset({OWNER})))
    ops = plan([d], [observed(BASE)])
    assert kinds(ops)[0] == ("move", OWNER, OTHER)


def test_plan_is_deterministic_and_idempotent_after_apply() -> None:
    want = [desired(spec(summary="Z"))]
    assert plan(want, [observed(BASE)]) == plan(want, [observed(BASE)])
    assert kinds(plan(want, [observed(want[0].spec)])) == [("noop",)]


@pytest.mark.parametrize(
    ("a", "b", "fields"),
    [
        (BASE, BASE, set()),
        (BASE, replace(BASE, time_zone="UTC"), {"time"}),
        (BASE, replace(BASE, recurrence=("RRULE:FREQ=WEEKLY;COUNT=3",)), {"recurrence"}),
        (BASE, replace(BASE, guests_can_see_other_guests=True), {"guests"}),
        (BASE, replace(BASE, location=None), {"location"}),
    ],
)
def test_diff_fields(a: EventSpec, b: EventSpec, fields: set[str]) -> None:
    assert set(diff_fields(a, b)) == fields
