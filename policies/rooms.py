"""Room choice as policy-as-data: which Directory rooms fit a session, in what order, and what to do
when enrollment outgrows the booked room.

Where it sits: pure policy, below the engine. :mod:`engine.delegation.rooms` loads the tenant's
``settings["rooms"]`` through :meth:`RoomPolicy.from_mapping` (declared once by :class:`RoomSettings`;
unknown keys or wrong types raise ``ValueError`` naming the key), turns Directory ``resources.calendars`` entries into
:class:`RoomCandidate` and asks :func:`rank_rooms` for the ordered shortlist, and :func:`outgrown_action`
when the head count changes (dates of a series that a room declines are handled by
:mod:`engine.delegation.room_exceptions` with the same ranking). Nothing here does I/O or knows about Google's
wire format beyond field names.

Not done here: free/busy (the engine asks Google and drops busy rooms from the ranked list), and
booking itself.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from policies.schema import SettingsSection


class OutgrownAction(enum.StrEnum):
    """What to do when more people come than the booked room seats."""

    UPSIZE = "upsize"  #: book the best larger room that is free, release the old one
    WARN = "warn"  #: keep the room, show a warning on the binding


class OutgrownVerdict(enum.StrEnum):
    KEEP = "keep"  #: the booked room still fits
    UPSIZE = "upsize"
    WARN = "warn"


@dataclass(frozen=True)
class RoomCandidate:
    """A bookable room as the Directory describes it (only the fields policy looks at)."""

    email: str
    name: str
    capacity: int
    building_id: str | None = None
    floor: str | None = None
    features: frozenset[str] = frozenset()
    category: str = "CONFERENCE_ROOM"

    @classmethod
    def from_directory(cls, item: Mapping[str, Any]) -> RoomCandidate:
        """From a Directory ``CalendarResource`` JSON object."""
        feats: set[str] = set()
        for inst in item.get("featureInstances") or []:
            if isinstance(inst, Mapping):
                feat = inst.get("feature")
                if isinstance(feat, Mapping) and isinstance(feat.get("name"), str):
                    feats.add(feat["name"])
        cap = item.get("capacity")
        return cls(
            email=str(item.get("resourceEmail", "")).lower(),
            name=str(
                item.get("generatedResourceName")
                or item.get("resourceName")
                or item.get("resourceEmail")
                or ""
            ),
            capacity=int(cap) if isinstance(cap, int | str) and str(cap).isdigit() else 0,
            building_id=str(item["buildingId"]) if item.get("buildingId") else None,
            floor=str(item["floorName"]) if item.get("floorName") else None,
            features=frozenset(feats),
            category=str(item.get("resourceCategory") or "CONFERENCE_ROOM"),
        )


@dataclass(frozen=True)
class RoomNeeds:
    """What a session asks of a room."""

    seats: int  #: people who must fit (enrolled learners + hosts, or the organizer's minimum if larger)
    building: str | None = None
    features: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RoomPolicy:
    """A tenant's room rules. Build with :meth:`from_mapping` to validate stored settings."""

    #: Extra seats on top of the head count, as a share (0.1 = 10 % more, rounded up).
    headroom: float = 0.0
    #: What happens when enrollment outgrows the booked room.
    on_outgrown: OutgrownAction = OutgrownAction.UPSIZE
    #: Rooms more than this many times the needed seats are not offered (0 = no limit).
    max_oversize_factor: float = 0.0
    #: Only these Directory categories are rooms (``OTHER`` covers e.g. projectors, cars).
    categories: frozenset[str] = frozenset({"CONFERENCE_ROOM"})
    #: How many free candidates to try before reporting "no room available".
    max_attempts: int = 5
    #: Rooms never offered (resource e-mails).
    excluded: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> RoomPolicy:
        """Build from ``Tenant.settings["rooms"]`` (validated by :class:`RoomSettings`).

        Raise ``ValueError`` naming the key.
        """
        parsed = RoomSettings.parse(data)
        return cls(
            headroom=parsed.headroom,
            on_outgrown=OutgrownAction(parsed.on_outgrown),
            max_oversize_factor=parsed.max_oversize_factor,
            categories=frozenset(parsed.categories),
            max_attempts=parsed.max_attempts,
            excluded=frozenset(e.lower() for e in parsed.excluded),
        )

    def to_mapping(self) -> dict[str, Any]:
        return {
            "headroom": self.headroom,
            "on_outgrown": self.on_outgrown.value,
            "max_oversize_factor": self.max_oversize_factor,
            "categories": sorted(self.categories),
            "max_attempts": self.max_attempts,
            "excluded": sorted(self.excluded),
        }


def _non_empty(value: list[str]) -> list[str]:
    if not all(value):
        raise ValueError("must be a list of non-empty strings")
    return value


class RoomSettings(SettingsSection):
    """``Tenant.settings["rooms"]``: how rooms are chosen and what happens when a session outgrows one."""

    section: ClassVar[str] = "rooms"
    not_object: ClassVar[str] = (
        "expected an object with keys headroom, on_outgrown, max_oversize_factor, categories, "
        "max_attempts, excluded"
    )

    headroom: float = Field(
        default=0.0, ge=0.0, le=2.0, description="Extra seats on top of the head count, as a share (0.1 = 10 %)."
    )
    on_outgrown: Literal["upsize", "warn"] = Field(
        default="upsize", description="When enrollment outgrows the booked room: book a larger one, or warn."
    )
    max_oversize_factor: float = Field(
        default=0.0, ge=0.0, le=100.0,
        description="Rooms more than this many times the needed seats are not offered (0 = no limit).",
    )
    categories: list[str] = Field(
        default_factory=lambda: ["CONFERENCE_ROOM"], description="Directory resource categories that are rooms."
    )
    max_attempts: int = Field(
        default=5, ge=1, le=50, description="Free candidates tried before reporting that no room is available."
    )
    excluded: list[str] = Field(default_factory=list, description="Room resource e-mails never offered.")

    @field_validator("headroom", "max_oversize_factor", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        return float(value)

    @field_validator("max_oversize_factor")
    @classmethod
    def _factor(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("must be 0 (no limit) or at least 1")
        return value

    @field_validator("categories", "excluded")
    @classmethod
    def _strings(cls, value: list[str]) -> list[str]:
        return sorted(set(_non_empty(value)))


def seats_needed(*, enrolled: int, hosts: int, minimum: int | None, policy: RoomPolicy) -> int:
    """Head count a room must seat: enrolled learners plus hosts with headroom, or the organizer's minimum."""
    people = max(0, enrolled) + max(0, hosts)
    with_headroom = people + _ceil(people * policy.headroom)
    return max(with_headroom, minimum or 0, 1)


def _ceil(x: float) -> int:
    n = int(x)
    return n + 1 if x > n else n


def fits(room: RoomCandidate, needs: RoomNeeds, policy: RoomPolicy) -> bool:
    """Whether ``room`` satisfies ``needs`` under ``policy`` (ignores availability)."""
    if room.email in policy.excluded or room.category not in policy.categories:
        return False
    if room.capacity < needs.seats:
        return False
    if policy.max_oversize_factor and room.capacity > needs.seats * policy.max_oversize_factor:
        return False
    if needs.building and room.building_id != needs.building:
        return False
    return needs.features <= room.features


def rank_rooms(rooms: Iterable[RoomCandidate], needs: RoomNeeds, policy: RoomPolicy) -> list[RoomCandidate]:
    """Rooms that fit, best first: the smallest that seats everyone (keeps big rooms for big groups),
    then the fewest unrequested features, then by name (deterministic)."""
    fitting = [r for r in rooms if fits(r, needs, policy)]
    return sorted(fitting, key=lambda r: (r.capacity, len(r.features - needs.features), r.name, r.email))


def outgrown_action(*, room_capacity: int, seats: int, policy: RoomPolicy) -> OutgrownVerdict:
    """Whether a booked room still fits ``seats``, and if not, what the policy says to do."""
    if room_capacity >= seats:
        return OutgrownVerdict.KEEP
    return OutgrownVerdict.UPSIZE if policy.on_outgrown is OutgrownAction.UPSIZE else OutgrownVerdict.WARN
