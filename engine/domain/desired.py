"""Desired state: what Google should hold for one session, computed purely from the platform's rows.

Where it sits: :mod:`engine.sync.reconciler` loads the rows and turns them into :class:`SessionFacts`
(plain values, no ORM), resolves a :class:`Placement` (which identity, which calendar), then calls
:func:`desired_events`. The result feeds :func:`engine.domain.plan.plan`. No I/O, no sqlmodel, no dramatiq.

Stable interface (organizer delegation builds on it):

* :class:`SessionFacts`, :class:`TenantFacts`, :class:`HostFacts`, :class:`EnrollmentFacts` - inputs.
* :class:`Placement` - acting :class:`~connectors.ports.calendar.Actor`, ``calendar_id``, an optional fixed
  ``event_id`` (keep an event's id across a ``move``), ``movable_from`` (calendars an existing event may
  be moved from instead of recreated), the ``conference`` wish and the ``room_email`` to book.
* :data:`PlacementResolver` - ``SessionFacts -> Placement``; :func:`vendor_placement` is vendor mode's.
  Resolvers raise :class:`PlacementError` (a readable message) when a placement is impossible.
* :class:`DesiredEvent` and :func:`desired_events`.

What is *not* done here: Meet link creation, room choice and organizer succession (delegation mode
fills those in through :class:`Placement`); nothing is written anywhere.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from connectors.ports.calendar import Actor, Attendee, Conference, EventSpec
from engine.domain.event_ids import essence_hash, event_id, marker
from policies.privacy import PrivacyPolicy

#: Enrollment status that makes a learner an attendee (never waitlisted or cancelled ones).
ENROLLED = "enrolled"
#: Person states whose Google account is gone: such hosts are not invited (see engine.lifecycle).
GONE_HOST_STATES = frozenset({"suspended", "deleted"})


class PlacementError(Exception):
    """No identity/calendar can hold this session's event; the message says what to configure."""


@dataclass(frozen=True)
class TenantFacts:
    id: uuid.UUID
    slug: str
    integration_mode: str
    vendor_owner_emails: tuple[str, ...] = ()
    google_domain: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class HostFacts:
    email: str
    display_name: str | None
    role: str  #: organizer | co_host | presenter
    position: int
    person_status: str = "active"
    #: The host's answer as Muster last observed it (stored on the host row), for a recreated event.
    response_status: str | None = None
    response_comment: str | None = None


@dataclass(frozen=True)
class EnrollmentFacts:
    email: str
    display_name: str | None
    status: str  #: enrolled | waitlisted | cancelled
    person_status: str = "active"
    #: The learner's answer as Muster last observed it (stored on the enrollment), for a recreated event.
    response_status: str | None = None
    response_comment: str | None = None


@dataclass(frozen=True)
class SessionFacts:
    id: uuid.UUID
    tenant: TenantFacts
    external_id: str
    title: str
    description: str
    start_at: datetime
    end_at: datetime
    time_zone: str
    status: str  #: scheduled | cancelled
    deleted: bool
    revision: int
    recurrence: str | None = None
    location: str | None = None
    video: str = "none"  #: meet | manual | none
    manual_join_link: str | None = None
    room_email: str | None = None
    #: The session asks for a room (delegation books one; vendor mode says it cannot).
    room_wanted: bool = False
    #: The platform's own page for this session (the optional ``url`` of the session PUT).
    url: str | None = None
    hosts: tuple[HostFacts, ...] = ()
    enrollments: tuple[EnrollmentFacts, ...] = ()

    @property
    def wants_event(self) -> bool:
        """A removed or cancelled session has no live event."""
        return not self.deleted and self.status != "cancelled"


@dataclass(frozen=True)
class Placement:
    """Where a session's event lives and as whom Muster writes it."""

    actor: Actor
    calendar_id: str
    event_id: str | None = None  #: None → the deterministic id for (tenant, session, calendar)
    movable_from: frozenset[str] = frozenset()
    conference: Conference = field(default_factory=Conference)
    room_email: str | None = None


#: Chooses the placement of a session (one resolver per integration mode).
PlacementResolver = Callable[[SessionFacts], Placement]


@dataclass(frozen=True)
class DesiredEvent:
    """One event Google should hold, exactly as Muster would write it."""

    tenant_id: uuid.UUID
    session_id: uuid.UUID
    actor: Actor
    calendar_id: str
    event_id: str
    spec: EventSpec
    essence_hash: str
    movable_from: frozenset[str] = frozenset()
    #: The guests' answers as Muster stored them (hosts' and learners' rows; never the organizer's or a
    #: room's): what a recreated event carries when the old event cannot be read. Not part of the spec.
    stored_answers: tuple[Attendee, ...] = ()


def pick_owner(pool: tuple[str, ...], session_id: uuid.UUID) -> str:
    """Stable choice of an owner account by rendezvous hashing: adding one moves only its share."""

    def weight(owner: str) -> bytes:
        return hashlib.sha256(owner.lower().encode() + b"\x00" + session_id.bytes).digest()

    return max(pool, key=weight).lower()


def vendor_placement(facts: SessionFacts) -> Placement:
    """Vendor mode: a vendor-owned calendar user (chosen from the tenant's pool) owns the event.

    Meet and rooms need the organizer's own identity (delegation mode), so a ``meet`` wish degrades to
    no conference here and no room is booked; a manual link travels in location and description.
    """
    pool = tuple(e.strip().lower() for e in facts.tenant.vendor_owner_emails if e and e.strip())
    if not pool:
        raise PlacementError(
            f"tenant {facts.tenant.slug!r} has no vendor owner account: set vendor_owner_emails "
            "(the vendor calendar user(s) that own its events)"
        )
    owner = pick_owner(pool, facts.id)
    conference = _manual_conference(facts)
    return Placement(
        actor=Actor(kind="vendor", email=owner, tenant_id=facts.tenant.id),
        calendar_id=owner,
        conference=conference,
    )


def _manual_conference(facts: SessionFacts) -> Conference:
    if facts.video == "manual" and facts.manual_join_link:
        return Conference(kind="manual", link=facts.manual_join_link)
    return Conference()


def attendees_for(
    facts: SessionFacts, *, organizer_email: str, room_email: str | None = None
) -> tuple[Attendee, ...]:
    """Hosts (in order) and enrolled learners, once each, sorted by email; the organizer is implicit."""
    seen: dict[str, Attendee] = {}
    for host in sorted(facts.hosts, key=lambda h: h.position):
        if host.person_status in GONE_HOST_STATES:
            continue  # a suspended or deleted account cannot attend (organizer lifecycle)
        email = host.email.strip().lower()
        if email and email != organizer_email and email not in seen:
            seen[email] = Attendee(email=email, display_name=host.display_name)
    for enr in facts.enrollments:
        email = enr.email.strip().lower()
        if enr.status == ENROLLED and email and email != organizer_email and email not in seen:
            seen[email] = Attendee(email=email, display_name=enr.display_name)
    if room_email:
        room = room_email.strip().lower()
        seen[room] = Attendee(email=room, resource=True)
    return tuple(sorted(seen.values(), key=lambda a: a.email))


#: Answers a stored row may hand to a recreated event (``needsAction`` is what no answer means anyway).
_GIVEN_ANSWERS = frozenset({"accepted", "declined", "tentative"})


def stored_answers(facts: SessionFacts, spec: EventSpec) -> tuple[Attendee, ...]:
    """The spec's guests (never a room; the organizer is not a guest) with the answer their own row
    stores, for those whose row stores one. Pure."""
    rows: dict[str, tuple[str | None, str | None]] = {}
    for enr in facts.enrollments:
        rows.setdefault(enr.email.strip().lower(), (enr.response_status, enr.response_comment))
    for host in facts.hosts:
        rows.setdefault(host.email.strip().lower(), (host.response_status, host.response_comment))
    out = []
    for a in spec.attendees:
        status, comment = rows.get(a.email.lower(), (None, None))
        if a.resource or status not in _GIVEN_ANSWERS:
            continue
        out.append(replace(a, response_status=status, comment=comment or None))
    return tuple(out)


def _description(facts: SessionFacts, conference: Conference) -> str:
    """The platform's text, the pasted join link, and the platform's session page when it sent one.

    Muster has no public page per session, so without the platform's ``url`` the event links nowhere.
    """
    parts = [facts.description.strip()] if facts.description.strip() else []
    if conference.kind == "manual" and conference.link:
        parts.append(f"Join: {conference.link}")
    if facts.url:
        parts.append(f"Session page: {facts.url}")
    return "\n\n".join(parts)


def _location(facts: SessionFacts, conference: Conference) -> str | None:
    if facts.location and facts.location.strip():
        return facts.location.strip()
    if conference.kind == "manual" and conference.link:
        return conference.link
    return None


def build_spec(facts: SessionFacts, placement: Placement) -> EventSpec:
    """The event's owned fields (marker not yet stamped)."""
    privacy = PrivacyPolicy.from_settings(facts.tenant.settings.get("privacy"))
    recurrence = tuple(line.strip() for line in (facts.recurrence or "").splitlines() if line.strip())
    return EventSpec(
        summary=facts.title,
        description=_description(facts, placement.conference),
        location=_location(facts, placement.conference),
        start=facts.start_at,
        end=facts.end_at,
        time_zone=facts.time_zone,
        recurrence=recurrence,
        attendees=attendees_for(
            facts, organizer_email=placement.calendar_id.lower(), room_email=placement.room_email
        ),
        guests_can_invite_others=privacy.guests_can_invite_others,
        guests_can_modify=privacy.guests_can_modify,
        guests_can_see_other_guests=privacy.guest_list_visible,
        conference=placement.conference,
    )


def desired_events(facts: SessionFacts, placement: Placement | None) -> list[DesiredEvent]:
    """The events the session should have: one, or none when it is cancelled or removed."""
    if not facts.wants_event or placement is None:
        return []
    spec = build_spec(facts, placement)
    digest = essence_hash(spec)
    spec = replace(spec, private=marker(facts.tenant.id, facts.id, digest))
    eid = placement.event_id or event_id(facts.tenant.id, facts.id, placement.calendar_id)
    return [
        DesiredEvent(
            tenant_id=facts.tenant.id,
            session_id=facts.id,
            actor=placement.actor,
            calendar_id=placement.calendar_id,
            event_id=eid,
            spec=spec,
            essence_hash=digest,
            movable_from=placement.movable_from,
            stored_answers=stored_answers(facts, spec),
        )
    ]
