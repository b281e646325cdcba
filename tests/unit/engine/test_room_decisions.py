"""Table tests of the room decisions (pure functions of :mod:`engine.delegation.rooms`): no database, no Google.

Where it sits: unit tests of the "decide" half of room booking; the "do" half (Directory reads, free/busy, the
binding's notes) is covered end to end by tests/integration/delegation/test_rooms_e2e.py against the emulator.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.ports.delegation import Availability
from engine.delegation.rooms import Choice, RoomStep, decide_booked, decide_pick, no_fit_error, pick_free, shortlist
from policies.rooms import OutgrownAction, RoomCandidate, RoomNeeds, RoomPolicy

START = datetime(2026, 12, 7, 10, tzinfo=UTC)
END = datetime(2026, 12, 7, 11, tzinfo=UTC)


def room(email: str, capacity: int = 10, name: str | None = None) -> RoomCandidate:
    return RoomCandidate(email=email, name=name or email.split("@")[0], capacity=capacity)


@pytest.mark.parametrize(
    ("wanted", "picked", "declined", "expected"),
    [
        (False, "", [], RoomStep("none")),
        (False, "a@r", [], RoomStep("none")),  # never wanted: a stale pick is ignored
        (True, "", [], None),  # nothing picked: go on to the booked room / a choice
        (True, "a@r", [], RoomStep("picked", room="a@r")),
        (True, "a@r", ["b@r"], RoomStep("picked", room="a@r")),
        (
            True,
            "a@r",
            ["a@r"],
            RoomStep("picked_declined", message="the room you picked (a@r) declined; pick another room"),
        ),
    ],
)
def test_decide_pick(wanted: bool, picked: str, declined: list[str], expected: RoomStep | None) -> None:
    assert decide_pick(wanted=wanted, picked=picked, declined=declined) == expected


WARN = RoomPolicy(on_outgrown=OutgrownAction.WARN)
UPSIZE = RoomPolicy(on_outgrown=OutgrownAction.UPSIZE)


@pytest.mark.parametrize(
    ("current", "declined", "capacity", "seats", "nothing_fitted", "policy", "action"),
    [
        ("a@r", [], 10, 8, False, UPSIZE, "keep"),  # fits
        ("a@r", [], None, 80, False, UPSIZE, "keep"),  # capacity unknown: keep
        ("a@r", [], 10, 30, False, WARN, "warn"),  # outgrown, policy warns
        ("a@r", [], 10, 30, False, UPSIZE, "choose"),  # outgrown, policy upsizes
        ("a@r", ["a@r"], 10, 8, False, UPSIZE, "choose"),  # the booked room declined
        ("a@r", ["a@r"], 10, 8, True, UPSIZE, "choose"),  # quiet only applies with no booked room
        ("", [], None, 8, True, UPSIZE, "quiet_none"),  # nothing fitted at this revision
        ("", [], None, 8, False, UPSIZE, "choose"),
    ],
)
def test_decide_booked(
    current: str, declined: list[str], capacity: int | None, seats: int, nothing_fitted: bool, policy: RoomPolicy,
    action: str,
) -> None:
    step = decide_booked(
        current=current, declined=declined, capacity=capacity, seats=seats, nothing_fitted=nothing_fitted,
        policy=policy,
    )
    assert step.action == action
    assert step.room == (current if action in ("keep", "warn") else None)
    if action == "warn":
        assert step.message == f"enrollment outgrew the room: {seats} seats needed, {current} seats {capacity}; " \
            "policy is to warn, not to move"


@pytest.mark.parametrize(
    ("ranked", "exclude", "max_attempts", "expected"),
    [
        (["a@r", "b@r", "c@r"], [], 5, ["a@r", "b@r", "c@r"]),
        (["a@r", "b@r", "c@r"], ["B@R"], 5, ["a@r", "c@r"]),  # excluded case-insensitively, order kept
        ([f"{i}@r" for i in range(10)], [], 1, ["0@r", "1@r", "2@r", "3@r"]),  # at most 4 x max_attempts
        ([f"{i}@r" for i in range(10)], [], 0, ["0@r", "1@r", "2@r", "3@r"]),  # at least one attempt
        (["a@r"], ["a@r"], 5, []),
    ],
)
def test_shortlist(ranked: list[str], exclude: list[str], max_attempts: int, expected: list[str]) -> None:
    got = shortlist([room(e) for e in ranked], exclude=exclude, policy=RoomPolicy(max_attempts=max_attempts))
    assert [r.email for r in got] == expected


BUSY = Availability(busy=((START, END),))
EDGE = Availability(busy=((END, END.replace(hour=12)),))  # starts when the session ends: free
UNKNOWN = Availability(error="notFound")


@pytest.mark.parametrize(
    ("availability", "expected"),
    [
        ({"a@r": Availability(), "b@r": Availability()}, Choice("a@r", 10, "chosen", name="a")),
        ({"a@r": BUSY, "b@r": Availability()}, Choice("b@r", 12, "chosen", name="b")),
        ({"a@r": UNKNOWN, "b@r": EDGE}, Choice("b@r", 12, "chosen", name="b")),
        ({"b@r": Availability()}, Choice("b@r", 12, "chosen", name="b")),  # no answer for a: busy
        (
            {"a@r": BUSY, "b@r": UNKNOWN},
            Choice(None, status="none", error="no room available: all 2 fitting room(s) are busy at that time"),
        ),
    ],
)
def test_pick_free(availability: dict[str, Availability], expected: Choice) -> None:
    assert pick_free([room("a@r", 10), room("b@r", 12)], availability, START, END) == expected


def test_pick_free_leaves_out_a_name_that_is_only_the_email() -> None:
    assert pick_free([room("a@r", name="a@r")], {"a@r": Availability()}, START, END).name is None


@pytest.mark.parametrize(
    ("needs", "exclude", "expected"),
    [
        (RoomNeeds(seats=8), [], "no room available: no room fits 8 seats"),
        (
            RoomNeeds(seats=8, building="hq", features=frozenset({"video", "board"})),
            ["x@r"],
            "no room available: no room fits 8 seats in hq with board, video; declined before: x@r",
        ),
    ],
)
def test_no_fit_error(needs: RoomNeeds, exclude: list[str], expected: str) -> None:
    assert no_fit_error(needs, exclude) == expected
