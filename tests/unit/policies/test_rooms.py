"""Room policy: validation of stored settings and the pure choice functions (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest

from policies.rooms import (
    OutgrownAction,
    OutgrownVerdict,
    RoomCandidate,
    RoomNeeds,
    RoomPolicy,
    outgrown_action,
    rank_rooms,
    seats_needed,
)

A = RoomCandidate("a@r", "A", 4, "BER", "1", frozenset({"Projector"}))
B = RoomCandidate("b@r", "B", 10, "BER", "2", frozenset({"Whiteboard", "Projector"}))
C = RoomCandidate("c@r", "C", 10, "BER", "2", frozenset({"Whiteboard"}))
D = RoomCandidate("d@r", "D", 40, "NYC", "9", frozenset({"Whiteboard", "Projector"}))
E = RoomCandidate("e@r", "E", 60, "BER", "3", frozenset(), category="OTHER")
ALL = [D, C, B, A, E]


@pytest.mark.parametrize(
    ("needs", "policy", "expected"),
    [
        (RoomNeeds(3), RoomPolicy(), ["a@r", "c@r", "b@r", "d@r"]),
        (RoomNeeds(5), RoomPolicy(), ["c@r", "b@r", "d@r"]),
        (RoomNeeds(5, building="BER"), RoomPolicy(), ["c@r", "b@r"]),
        (RoomNeeds(5, features=frozenset({"Projector"})), RoomPolicy(), ["b@r", "d@r"]),
        (RoomNeeds(5, features=frozenset({"Projector"})), RoomPolicy(max_oversize_factor=2), ["b@r"]),
        (RoomNeeds(50), RoomPolicy(), []),
        (RoomNeeds(50), RoomPolicy(categories=frozenset({"CONFERENCE_ROOM", "OTHER"})), ["e@r"]),
        (RoomNeeds(3), RoomPolicy(excluded=frozenset({"a@r"})), ["c@r", "b@r", "d@r"]),
        (RoomNeeds(3, building="LON"), RoomPolicy(), []),
    ],
)
def test_rank_rooms(needs: RoomNeeds, policy: RoomPolicy, expected: list[str]) -> None:
    assert [r.email for r in rank_rooms(ALL, needs, policy)] == expected


@pytest.mark.parametrize(
    ("enrolled", "hosts", "minimum", "headroom", "expected"),
    [
        (8, 2, None, 0.0, 10),
        (8, 2, 12, 0.0, 12),
        (8, 2, None, 0.1, 11),
        (0, 0, None, 0.0, 1),
        (9, 1, 4, 0.25, 13),
    ],
)
def test_seats_needed(enrolled: int, hosts: int, minimum: int | None, headroom: float, expected: int) -> None:
    policy = RoomPolicy(headroom=headroom)
    assert seats_needed(enrolled=enrolled, hosts=hosts, minimum=minimum, policy=policy) == expected


@pytest.mark.parametrize(
    ("capacity", "seats", "action", "expected"),
    [
        (10, 10, OutgrownAction.UPSIZE, OutgrownVerdict.KEEP),
        (10, 11, OutgrownAction.UPSIZE, OutgrownVerdict.UPSIZE),
        (10, 11, OutgrownAction.WARN, OutgrownVerdict.WARN),
        (10, 3, OutgrownAction.WARN, OutgrownVerdict.KEEP),
    ],
)
def test_outgrown(capacity: int, seats: int, action: OutgrownAction, expected: OutgrownVerdict) -> None:
    policy = RoomPolicy(on_outgrown=action)
    assert outgrown_action(room_capacity=capacity, seats=seats, policy=policy) == expected


def test_policy_round_trips() -> None:
    policy = RoomPolicy.from_mapping(
        {"headroom": 0.2, "on_outgrown": "warn", "excluded": ["X@R"], "max_attempts": 3}
    )
    assert policy.on_outgrown is OutgrownAction.WARN and policy.excluded == frozenset({"x@r"})
    assert RoomPolicy.from_mapping(policy.to_mapping()) == policy
    assert RoomPolicy.from_mapping(None) == RoomPolicy()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"headroom": "lots"}, "rooms.headroom"),
        ({"headroom": 5}, "rooms.headroom"),
        ({"on_outgrown": "panic"}, "rooms.on_outgrown: must be one of upsize, warn"),
        ({"max_attempts": 0}, "rooms.max_attempts"),
        ({"max_attempts": True}, "rooms.max_attempts"),
        ({"max_oversize_factor": 0.5}, "rooms.max_oversize_factor"),
        ({"categories": "CONFERENCE_ROOM"}, "rooms.categories"),
        ({"colour": "blue"}, "rooms.colour: unknown setting"),
        (["headroom"], "rooms: expected an object"),
    ],
)
def test_policy_rejects_bad_data(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        RoomPolicy.from_mapping(data)


def test_candidate_from_directory_json() -> None:
    item = {
        "resourceEmail": "C_1@resource.calendar.google.com",
        "generatedResourceName": "BER-HQ-1-Ampere (4)",
        "capacity": 4,
        "buildingId": "BER-HQ",
        "floorName": "1",
        "resourceCategory": "CONFERENCE_ROOM",
        "featureInstances": [{"feature": {"name": "Projector"}}, {"feature": {"name": "Whiteboard"}}],
    }
    room = RoomCandidate.from_directory(item)
    assert room == RoomCandidate(
        "c_1@resource.calendar.google.com",
        "BER-HQ-1-Ampere (4)",
        4,
        "BER-HQ",
        "1",
        frozenset({"Projector", "Whiteboard"}),
    )
