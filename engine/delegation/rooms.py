"""Rooms for delegation-mode sessions: which room to book, when to change it, and the admin UI's picker.

Where it sits: :class:`RoomPlanner` is the ``rooms`` callback of
:class:`engine.delegation.placement.DelegationResolver`
(it runs while the reconciler resolves a session's placement); the room it returns is added to the event
as a resource attendee by :mod:`engine.domain.desired`. :func:`engine.delegation.placement.record_outcome` later reads
the
room's answer from the event. :func:`free_rooms` backs the admin UI's room picker. Choices are policy as
data (:mod:`policies.rooms`); Google is reached only through a
:class:`~connectors.ports.delegation.RoomDirectory` (Directory ``resources.calendars`` + ``freeBusy``).

Per session (rules of the issue, §4):

* no room wanted → none (a booked room is released by the patch that drops it; a cancelled session's
  event is deleted, which releases it too);
* the organizer picked a room (``LiveSession.room_email``) → that room, unless it declined;
* a room already booked and not declined → kept (one room per series: learners see the same place), unless
  enrollment outgrew it: policy says ``upsize`` (book the best larger free room, release the old) or
  ``warn`` (keep it, say so on the binding);
* otherwise the best candidate: Directory rooms that fit (capacity for enrolled learners plus hosts,
  building, features; :func:`policies.rooms.rank_rooms`), free at the session's time (first occurrence of
  a series; Google's room answers the rest), skipping rooms that declined before. None left → the binding
  says "no room available" and why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from connectors.errors import ConnectorError
from connectors.ports.calendar import Actor
from connectors.ports.delegation import RoomDirectory
from engine.delegation import retry
from engine.store.models import CalendarBinding, Enrollment, EnrollmentStatus, LiveSession, SessionHost, Tenant
from policies.rooms import (
    OutgrownVerdict,
    RoomCandidate,
    RoomNeeds,
    RoomPolicy,
    outgrown_action,
    rank_rooms,
    seats_needed,
)

#: ``(tenant, acting organizer) -> RoomDirectory`` (None when no identity can read the room list).
DirectoryFactory = Callable[[Tenant, Actor], RoomDirectory | None]


def policy_for(tenant: Tenant) -> RoomPolicy:
    """The tenant's room policy; a stored policy that no longer validates falls back to the defaults."""
    try:
        return RoomPolicy.from_mapping((tenant.settings or {}).get("rooms"))
    except ValueError:
        return RoomPolicy()


def head_count(db: Session, session_id: uuid.UUID) -> tuple[int, int]:
    """``(enrolled learners, hosts)`` of a session."""
    enrolled = db.exec(
        select(func.count())
        .select_from(Enrollment)
        .where(Enrollment.session_id == session_id, Enrollment.status == EnrollmentStatus.ENROLLED.value)
    ).one()
    hosts = db.exec(select(func.count()).select_from(SessionHost).where(SessionHost.session_id == session_id)).one()
    return int(enrolled), int(hosts)


def needs_for(db: Session, session: LiveSession, policy: RoomPolicy) -> RoomNeeds:
    enrolled, hosts = head_count(db, session.id)
    seats = seats_needed(enrolled=enrolled, hosts=hosts, minimum=session.room_min_capacity, policy=policy)
    return RoomNeeds(
        seats=seats, building=session.room_building or None, features=frozenset(session.room_features or [])
    )


@dataclass(frozen=True)
class RoomOption:
    """A room for the picker: fits the needs; ``free`` says whether it is free at that time."""

    email: str
    name: str
    capacity: int
    building_id: str | None
    features: tuple[str, ...]
    free: bool
    note: str | None = None


def _candidates(directory: RoomDirectory, needs: RoomNeeds, policy: RoomPolicy) -> list[RoomCandidate]:
    items = directory.list_rooms(building_id=needs.building)
    return rank_rooms((RoomCandidate.from_directory(i) for i in items), needs, policy)


def free_rooms(
    directory: RoomDirectory,
    *,
    needs: RoomNeeds,
    start: datetime,
    end: datetime,
    policy: RoomPolicy | None = None,
    include_busy: bool = False,
) -> list[RoomOption]:
    """Rooms that fit ``needs`` and are free in ``[start, end)``, best first (the admin UI's picker)."""
    policy = policy or RoomPolicy()
    ranked = _candidates(directory, needs, policy)
    if not ranked:
        return []
    availability = directory.free_busy([r.email for r in ranked], start, end)
    out: list[RoomOption] = []
    for room in ranked:
        avail = availability.get(room.email)
        free = avail is not None and avail.is_free(start, end)
        if free or include_busy:
            out.append(
                RoomOption(
                    room.email,
                    room.name,
                    room.capacity,
                    room.building_id,
                    tuple(sorted(room.features)),
                    free,
                    None if free else (avail.error if avail and avail.error else "busy"),
                )
            )
    return out


@dataclass
class Choice:
    email: str | None
    capacity: int | None = None
    status: str | None = None  #: chosen | kept | none
    error: str | None = None
    name: str | None = None  #: the Directory's display name of the room


def choose_room(
    directory: RoomDirectory,
    *,
    needs: RoomNeeds,
    start: datetime,
    end: datetime,
    policy: RoomPolicy,
    exclude: Sequence[str] = (),
) -> Choice:
    """The best free fitting room not in ``exclude``, or ``Choice(None, error=…)`` saying why not."""
    ranked = [r for r in _candidates(directory, needs, policy) if r.email not in {e.lower() for e in exclude}]
    if not ranked:
        what = (
            f"{needs.seats} seats"
            + (f" in {needs.building}" if needs.building else "")
            + (f" with {', '.join(sorted(needs.features))}" if needs.features else "")
        )
        tried = f"; declined before: {', '.join(exclude)}" if exclude else ""
        return Choice(None, status="none", error=f"no room available: no room fits {what}{tried}")
    shortlist = ranked[: max(policy.max_attempts, 1) * 4]
    availability = directory.free_busy([r.email for r in shortlist], start, end)
    for room in shortlist:
        avail = availability.get(room.email)
        if avail is not None and avail.is_free(start, end):
            return Choice(room.email, room.capacity, "chosen", name=room.name if room.name != room.email else None)
    return Choice(
        None,
        status="none",
        error=f"no room available: all {len(shortlist)} fitting room(s) are busy at that time",
    )


class RoomPlanner:
    """The ``rooms`` callback of :class:`engine.delegation.placement.DelegationResolver` (see module docstring)."""

    def __init__(self, db: Session, directories: DirectoryFactory) -> None:
        self.db = db
        self.directories = directories

    def __call__(self, session: LiveSession, binding: CalendarBinding | None, actor: Actor, notes: Any) -> str | None:
        if not session.room_wanted and not session.room_email:
            notes.room_email = None
            return None
        tenant = self.db.get(Tenant, session.tenant_id)
        if tenant is None:
            return None
        declined = [d.lower() for d in (binding.rooms_declined if binding else []) or []]
        if session.room_email:
            picked = session.room_email.lower()
            if picked in declined:
                notes.room_email = None
                notes.room_status = "declined"
                notes.room_error = f"the room you picked ({picked}) declined; pick another room"
                return None
            notes.room_email = picked
            notes.room_name = binding.room_name if binding and (binding.room_email or "").lower() == picked else None
            if notes.room_name is None:
                notes.room_name = self._name_of(tenant, actor, picked, notes)
            return picked
        policy = policy_for(tenant)
        needs = needs_for(self.db, session, policy)
        current = (binding.room_email or "").lower() if binding else ""
        capacity = None
        if binding and binding.blocked_detail:
            raw = binding.blocked_detail.get("room_capacity")
            capacity = int(raw) if isinstance(raw, int) else None
        if current and current not in declined:
            verdict = (
                outgrown_action(room_capacity=capacity, seats=needs.seats, policy=policy)
                if capacity is not None
                else OutgrownVerdict.KEEP
            )
            if verdict is OutgrownVerdict.KEEP:
                notes.room_email, notes.room_capacity = current, capacity
                notes.room_name = binding.room_name if binding else None
                return current
            if verdict is OutgrownVerdict.WARN:
                notes.room_email, notes.room_capacity = current, capacity
                notes.room_name = binding.room_name if binding else None
                notes.room_error = (
                    f"enrollment outgrew the room: {needs.seats} seats needed, {current} seats "
                    f"{capacity}; policy is to warn, not to move"
                )
                return current
        detail = (binding.blocked_detail if binding else None) or {}
        if (
            not current
            and detail.get("room_none_revision") == session.revision
            and detail.get("rooms_declined_count") == len(declined)
            and not retry.room_due(binding, session.revision)
        ):
            # Nothing fitted at this revision: do not ask the Directory again on every poll; the retry
            # clock (engine.delegation.retry), the next save (new revision) or a new decline looks again.
            notes.room_email = None
            notes.room_status = "none"
            notes.room_error = binding.room_error if binding else None
            return None
        notes.room_name = binding.room_name if binding and current else None  # kept unless a new room is chosen
        return self._choose(tenant, session, actor, needs, policy, declined, notes, current)

    def _choose(
        self,
        tenant: Tenant,
        session: LiveSession,
        actor: Actor,
        needs: RoomNeeds,
        policy: RoomPolicy,
        declined: list[str],
        notes: Any,
        current: str,
    ) -> str | None:
        directory = self.directories(tenant, actor)
        if directory is None:
            notes.room_email = current or None
            notes.room_error = "no room available: no identity can read the room list (set the Directory admin)"
            return current or None
        exclude = [*declined, current] if current else declined
        try:
            choice = choose_room(
                directory,
                needs=needs,
                start=session.start_at,
                end=session.end_at,
                policy=policy,
                exclude=exclude,
            )
        except ConnectorError as exc:
            notes.room_email = current or None
            notes.room_error = f"no room available: the room list could not be read ({exc})"
            return current or None
        finally:
            notes.directory_calls = getattr(notes, "directory_calls", 0) + int(getattr(directory, "calls", 0))
        if choice.email is None:
            if current:  # outgrown, nothing larger free: keep the room we have and say so
                notes.room_email = current
                notes.room_error = f"enrollment outgrew {current} and {choice.error}"
                return current
            notes.room_email = None
            notes.room_status = "none"
            notes.room_error = choice.error
            return None
        notes.room_email = choice.email
        notes.room_capacity = choice.capacity
        notes.room_name = choice.name
        notes.room_error = None
        return choice.email

    def _name_of(self, tenant: Tenant, actor: Actor, email: str, notes: Any) -> str | None:
        """The Directory name of a room the organizer picked (one list call; None when unreadable)."""
        directory = self.directories(tenant, actor)
        if directory is None:
            return None
        try:
            items = directory.list_rooms()
        except ConnectorError:
            return None
        finally:
            notes.directory_calls = getattr(notes, "directory_calls", 0) + int(getattr(directory, "calls", 0))
        for item in items:
            room = RoomCandidate.from_directory(item)
            if room.email == email and room.name and room.name.lower() != email:
                return room.name
        return None


def tenant_rooms_query(db: Session, tenant_id: uuid.UUID) -> list[CalendarBinding]:
    """Bindings of a tenant that hold a room (admin overview)."""
    return list(
        db.exec(
            select(CalendarBinding).where(
                CalendarBinding.tenant_id == tenant_id, col(CalendarBinding.room_email).is_not(None)
            )
        ).all()
    )
