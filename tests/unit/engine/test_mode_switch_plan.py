"""Table tests of the mode-switch decisions (pure :func:`~engine.delegation.mode_switch.plan_entry` and
:func:`~engine.delegation.mode_switch.judge`): no database, no Google.

Where it sits: unit tests of the "decide" half of a mode switch; the preview/apply flow runs end to end in
tests/integration/delegation/ and tests/admin_ui/.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from connectors.ports.calendar import Actor
from engine.delegation.mode_switch import DONE, PENDING, Unplaceable, judge, plan_entry
from engine.domain.desired import Placement
from engine.store.models import CalendarBinding, LiveSession

TENANT = uuid.uuid4()
VENDOR_CAL = "vendor@muster.example"
ORGANIZER = "ada@acme.example"


def session(**kw: object) -> LiveSession:
    base: dict[str, object] = dict(
        tenant_id=TENANT, external_id="s1", title="Intro", time_zone="UTC",
        start_at=datetime(2026, 12, 7, 10, tzinfo=UTC), end_at=datetime(2026, 12, 7, 11, tzinfo=UTC),
    )
    return LiveSession(**{**base, **kw})


def placed(email: str, kind: str = "delegated") -> Placement:
    return Placement(actor=Actor(kind=kind, email=email), calendar_id=email)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "from_calendar", "placement", "action", "emails"),
    [
        ("delegation", VENDOR_CAL, placed(ORGANIZER), "recreate",
         f"3 learner(s) and the other hosts get one invitation from {ORGANIZER}; "
         "the old event is removed without a cancellation email"),
        ("delegation", None, placed(ORGANIZER), "create",
         f"3 learner(s) and the other hosts get one invitation from {ORGANIZER}"),
        ("delegation", ORGANIZER.upper(), placed(ORGANIZER), "keep", "none"),  # same calendar, any case
        ("vendor", ORGANIZER, placed(VENDOR_CAL, "vendor"), "recreate",
         f"3 learner(s) and the other hosts get one invitation from {VENDOR_CAL}; "
         "the old event is removed without a cancellation email"),
    ],
)
def test_plan_entry_actions(
    target: str, from_calendar: str | None, placement: Placement, action: str, emails: str
) -> None:
    entry = plan_entry(target=target, session=session(), learners=3, from_calendar=from_calendar,
                       booked_room=None, placement=placement)
    assert (entry["action"], entry["to_calendar"], entry["emails"]) == (action, placement.calendar_id, emails)
    assert entry["organizer"] == placement.actor.email and entry["learners"] == 3
    expected_quota = "OAuth client" if placement.actor.kind == "oauth" else "service account"
    assert expected_quota in entry["quota"]


@pytest.mark.parametrize(
    ("target", "video", "room_wanted", "booked_room", "meet", "room"),
    [
        ("delegation", "meet", True, None, "a new, unique Meet link is created",
         "a room is booked (fits 3 learners plus hosts)"),
        ("delegation", "none", False, None, "none", "none"),
        ("vendor", "meet", False, "r@resource", "the Meet link is dropped (vendor mode cannot create Meet links); "
         "choose a manual link to keep one", "r@resource is released"),
        ("vendor", "manual", False, None, "manual", "none"),
    ],
)
def test_plan_entry_meet_and_room(
    target: str, video: str, room_wanted: bool, booked_room: str | None, meet: str, room: str
) -> None:
    entry = plan_entry(target=target, session=session(video=video, room_wanted=room_wanted), learners=3,
                       from_calendar=None, booked_room=booked_room, placement=placed(ORGANIZER))
    assert (entry["meet"], entry["room"]) == (meet, room)


@pytest.mark.parametrize(
    ("unplaceable", "action", "emails"),
    [
        (Unplaceable("wait", "no connected organizer", ("ada@acme.example",)), "wait",
         "none until a host connects; the current event stays"),
        (Unplaceable("blocked", "reconnect Google"), "blocked", "none"),
    ],
)
def test_plan_entry_when_the_target_cannot_place_it(unplaceable: Unplaceable, action: str, emails: str) -> None:
    entry = plan_entry(target="delegation", session=session(), learners=3, from_calendar=VENDOR_CAL,
                       booked_room=None, placement=None, unplaceable=unplaceable)
    assert (entry["action"], entry["to_calendar"], entry["reason"], entry["emails"]) == (
        action, None, unplaceable.reason, emails)
    assert entry.get("could_connect", []) == list(unplaceable.could_connect)


def binding(status: str, kind: str | None = "delegated", error: str | None = None) -> CalendarBinding:
    return CalendarBinding(tenant_id=TENANT, session_id=uuid.uuid4(), sync_status=status, actor_kind=kind,
                           last_error=error)


@pytest.mark.parametrize(
    ("to_mode", "live", "bind", "background", "verdict"),
    [
        ("delegation", False, None, False, DONE),  # cancelled or deleted: nothing to move
        ("delegation", True, binding("synced", "delegated"), False, DONE),
        ("vendor", True, binding("synced", "vendor"), False, DONE),
        ("vendor", True, binding("synced", "delegated"), True, PENDING),  # not reconciled since the flip
        ("vendor", True, binding("synced", "delegated"), False, "error: success"),
        ("delegation", True, None, True, PENDING),
        ("delegation", True, binding("error", error="boom"), True, PENDING),
        ("delegation", True, None, False, "error: no binding after reconcile (success)"),
        ("delegation", True, binding("blocked", error="no connected organizer: ada can connect"), False,
         "waiting: no connected organizer: ada can connect"),
        ("delegation", True, binding("blocked", error="reconnect Google"), False, "error: reconnect Google"),
    ],
)
def test_judge(to_mode: str, live: bool, bind: CalendarBinding | None, background: bool, verdict: str) -> None:
    assert judge(to_mode=to_mode, outcome="success", session_live=live, binding=bind, background=background) \
        == verdict
