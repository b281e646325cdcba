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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from connectors.errors import ConnectorError
from connectors.ports.calendar import Actor
from connectors.ports.delegation import Availability, RoomDirectory
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


def no_fit_error(needs: RoomNeeds, exclude: Sequence[str]) -> str:
    """Pure: the binding's text when no Directory room fits ``needs`` (declined rooms named)."""
    what = (
        f"{needs.seats} seats"
        + (f" in {needs.building}" if needs.building else "")
        + (f" with {', '.join(sorted(needs.features))}" if needs.features else "")
    )
    tried = f"; declined before: {', '.join(exclude)}" if exclude else ""
    return f"no room available: no room fits {what}{tried}"


def shortlist(ranked: Sequence[RoomCandidate], *, exclude: Sequence[str], policy: RoomPolicy) -> list[RoomCandidate]:
    """Pure: the ranked rooms whose free/busy is asked, best first: not excluded, at most
    ``4 * policy.max_attempts`` (one free/busy call covers them all)."""
    skip = {e.lower() for e in exclude}
    return [r for r in ranked if r.email not in skip][: max(policy.max_attempts, 1) * 4]


def pick_free(
    candidates: Sequence[RoomCandidate], availability: Mapping[str, Availability], start: datetime, end: datetime
) -> Choice:
    """Pure: the first of ``candidates`` (best first) that is free in ``[start, end)``; unknown counts as busy."""
    for room in candidates:
        avail = availability.get(room.email)
        if avail is not None and avail.is_free(start, end):
            return Choice(room.email, room.capacity, "chosen", name=room.name if room.name != room.email else None)
    return Choice(
        None,
        status="none",
        error=f"no room available: all {len(candidates)} fitting room(s) are busy at that time",
    )


def choose_room(
    directory: RoomDirectory,
    *,
    needs: RoomNeeds,
    start: datetime,
    end: datetime,
    policy: RoomPolicy,
    exclude: Sequence[str] = (),
) -> Choice:
    """The best free fitting room not in ``exclude``, or ``Choice(None, error=…)`` saying why not.

    Fetches the fitting rooms and their free/busy; :func:`shortlist` and :func:`pick_free` decide."""
    candidates = shortlist(_candidates(directory, needs, policy), exclude=exclude, policy=policy)
    if not candidates:
        return Choice(None, status="none", error=no_fit_error(needs, exclude))
    availability = directory.free_busy([r.email for r in candidates], start, end)
    return pick_free(candidates, availability, start, end)


@dataclass(frozen=True)
class RoomStep:
    """What to do about one session's room (a pure decision; :class:`RoomPlanner` carries it out).

    ``action``: ``none`` (no room wanted), ``picked`` / ``picked_declined`` (the organizer's pick),
    ``keep`` / ``warn`` (the booked room stays; ``warn``: enrollment outgrew it), ``quiet_none`` (nothing
    fitted at this revision: do not ask the Directory again), ``choose`` (look for the best free room).
    """

    action: str
    room: str | None = None
    message: str | None = None


def decide_pick(*, wanted: bool, picked: str, declined: Sequence[str]) -> RoomStep | None:
    """Pure: the room step decided before any booking is looked at, or None to go on to
    :func:`decide_booked`. ``picked`` and ``declined`` are lower-case emails."""
    if not wanted:
        return RoomStep("none")
    if not picked:
        return None
    if picked in declined:
        return RoomStep("picked_declined", message=f"the room you picked ({picked}) declined; pick another room")
    return RoomStep("picked", room=picked)


def decide_booked(
    *,
    current: str,
    declined: Sequence[str],
    capacity: int | None,
    seats: int,
    nothing_fitted: bool,
    policy: RoomPolicy,
) -> RoomStep:
    """Pure: keep the booked room ``current`` (or warn that enrollment outgrew it), stay quiet after
    "nothing fitted" at this revision, or choose a room. ``nothing_fitted``: the last look at this revision
    found no room, no new decline since, and the retry clock is not due."""
    if current and current not in declined:
        verdict = (
            outgrown_action(room_capacity=capacity, seats=seats, policy=policy)
            if capacity is not None
            else OutgrownVerdict.KEEP
        )
        if verdict is OutgrownVerdict.KEEP:
            return RoomStep("keep", room=current)
        if verdict is OutgrownVerdict.WARN:
            return RoomStep(
                "warn",
                room=current,
                message=f"enrollment outgrew the room: {seats} seats needed, {current} seats "
                f"{capacity}; policy is to warn, not to move",
            )
    if not current and nothing_fitted:
        return RoomStep("quiet_none")
    return RoomStep("choose")


class RoomPlanner:
    """The ``rooms`` callback of :class:`engine.delegation.placement.DelegationResolver` (see module docstring).

    Fetches the session's room facts, asks :func:`decide_pick` / :func:`decide_booked`, then does what
    they say (a Directory read only for ``choose`` and a picked room without a stored name)."""

    def __init__(self, db: Session, directories: DirectoryFactory) -> None:
        self.db = db
        self.directories = directories

    def __call__(self, session: LiveSession, binding: CalendarBinding | None, actor: Actor, notes: Any) -> str | None:
        declined = [d.lower() for d in (binding.rooms_declined if binding else []) or []]
        wanted = bool(session.room_wanted or session.room_email)
        step = decide_pick(wanted=wanted, picked=(session.room_email or "").lower(), declined=declined)
        if step is not None and step.action == "none":
            notes.room_email = None
            return None
        tenant = self.db.get(Tenant, session.tenant_id)
        if tenant is None:
            return None
        if step is not None and step.action == "picked_declined":
            notes.room_email = None
            notes.room_status = "declined"
            notes.room_error = step.message
            return None
        if step is not None:  # picked
            picked = step.room or ""
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
        detail = (binding.blocked_detail if binding else None) or {}
        nothing_fitted = (
            detail.get("room_none_revision") == session.revision
            and detail.get("rooms_declined_count") == len(declined)
            and not retry.room_due(binding, session.revision)
        )
        step = decide_booked(
            current=current,
            declined=declined,
            capacity=capacity,
            seats=needs.seats,
            nothing_fitted=nothing_fitted,
            policy=policy,
        )
        if step.action in ("keep", "warn"):
            notes.room_email, notes.room_capacity = current, capacity
            notes.room_name = binding.room_name if binding else None
            if step.action == "warn":
                notes.room_error = step.message
            return current
        if step.action == "quiet_none":
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
