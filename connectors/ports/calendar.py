"""The calendar port: the small surface the engine needs from any calendar provider, plus its value types.

Where it sits: ``connectors`` (bottom layer). The engine builds :class:`EventSpec` values (what an event
should say) and reads :class:`RemoteEvent` values (what the provider holds); a connector such as
:class:`connectors.google.calendar.GoogleCalendar` maps them to and from the provider's wire format.
Value types live here, not in the engine, so connectors can map them without importing the engine
(layers: engine → connectors).

Stable interface (other modules build on it; extend only by adding optional fields):

* :class:`Actor` - the Google identity a call acts as (vendor owner, delegated user, OAuth user).
* :class:`Attendee`, :class:`Conference`, :class:`EventSpec` - the fields Muster owns on an event (plus
  each guest's answer, carried unchanged: :func:`with_answers`).
* :class:`RemoteEvent` - an event as read back (spec parsed from the wire, status, marker, etag ...).
* :data:`FIELDS` - names of patchable field groups; ``PatchEvent.fields`` and ``CalendarPort.patch``
  use them.
* :class:`CalendarPort` - ``get``, ``list_owned``, ``insert``, ``patch``, ``delete``, ``move``, ``check``.
* :data:`CalendarPortFactory` - ``Actor -> CalendarPort`` (one port per acting identity).

Every datetime is aware UTC; ``EventSpec.time_zone`` is applied only by the connector's mapping.
Errors are the classes of :mod:`connectors.errors`.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, Protocol

#: Google's ``sendUpdates`` values.
SendUpdates = Literal["all", "externalOnly", "none"]

#: How an identity is obtained. ``vendor``: Muster's service account delegated to a vendor-owned calendar
#: user. ``delegated``: the service account delegated (domain-wide) to a customer user. ``oauth``: the
#: user's own consent (refresh token on a :class:`~engine.store.models.GoogleConnection`).
ActorKind = Literal["vendor", "delegated", "oauth"]

#: Field groups a patch can carry. ``time`` = start + end + time zone; ``guests`` = the guest
#: permission flags; ``marker`` = the private extended properties; ``status`` = confirmed/cancelled.
FIELDS: tuple[str, ...] = (
    "summary",
    "description",
    "location",
    "time",
    "recurrence",
    "attendees",
    "guests",
    "conference",
    "marker",
    "status",
)


@dataclass(frozen=True)
class Actor:
    """Who Google sees acting. ``email`` is the calendar user (the ``sub`` of a delegated token)."""

    kind: ActorKind
    email: str
    tenant_id: uuid.UUID | None = None
    #: The :class:`~engine.store.models.GoogleConnection` behind an ``oauth`` / ``delegated`` actor.
    connection_id: uuid.UUID | None = None

    @property
    def key(self) -> str:
        """Stable identity key for quotas, metrics and health (lower-cased email)."""
        return self.email.lower()

    @property
    def quota_user(self) -> str:
        """The ``quotaUser`` Google charges this identity's per-user quota to: see :func:`quota_user_for`."""
        return quota_user_for(self.email)


#: Google's limit on the ``quotaUser`` parameter (discovery documents: "up to 40 characters").
QUOTA_USER_MAX = 40


def quota_user_for(email: str) -> str:
    """A stable ``quotaUser`` of at most :data:`QUOTA_USER_MAX` characters for the identity ``email``.

    The lower-cased email when it fits (readable in Google's and the emulator's per-user figures);
    otherwise ``u-`` and the first 38 hex digits of its SHA-256 (still one bucket per identity: Google
    would refuse the longer value with 400, and a shared fallback would put every long address in one
    bucket).
    """
    key = email.lower()
    if len(key) <= QUOTA_USER_MAX:
        return key
    return "u-" + hashlib.sha256(key.encode()).hexdigest()[: QUOTA_USER_MAX - 2]


@dataclass(frozen=True)
class Attendee:
    """A guest. The answer fields belong to the guest, not to Muster: they are read back from Google and
    sent again unchanged on every write that carries the guest list (Google reads an absent
    ``responseStatus`` as ``needsAction``), and they take no part in equality, the essence or the plan."""

    email: str  #: lower-cased
    display_name: str | None = None
    optional: bool = False
    resource: bool = False  #: a room (delegation mode)
    #: ``needsAction`` / ``accepted`` / ``tentative`` / ``declined`` as last observed; None = never seen.
    response_status: str | None = field(default=None, compare=False)
    comment: str | None = field(default=None, compare=False)
    additional_guests: int = field(default=0, compare=False)

    @property
    def answered(self) -> bool:
        """Has Google shown an answer (or a comment / extra guests) for this guest?"""
        return self.response_status is not None or bool(self.comment) or self.additional_guests > 0


#: The guest-owned attendee fields (excluded from the essence hash).
ANSWER_FIELDS: tuple[str, ...] = ("response_status", "comment", "additional_guests")


@dataclass(frozen=True)
class Conference:
    """The video wish. ``manual`` links travel in location/description; ``meet`` asks Google for a link."""

    kind: Literal["none", "manual", "meet"] = "none"
    link: str | None = None  #: the manual join link, or the Meet link once Google made one
    request_id: str | None = None  #: Meet ``createRequest.requestId`` (deterministic per event)


@dataclass(frozen=True)
class EventSpec:
    """The fields Muster owns on an event. Two equal specs mean "no write needed".

    ``attendees`` is sorted by email; ``recurrence`` holds RRULE/EXDATE lines; ``start``/``end`` are
    aware UTC instants and ``time_zone`` the IANA zone the event is held in (a recurring event keeps its
    local wall time in that zone across clock changes because Google expands it in that zone).
    ``private`` is the ownership marker (extended properties, private to the organizer's copy).
    """

    summary: str
    description: str
    location: str | None
    start: datetime
    end: datetime
    time_zone: str
    recurrence: tuple[str, ...] = ()
    attendees: tuple[Attendee, ...] = ()
    guests_can_invite_others: bool = False
    guests_can_modify: bool = False
    guests_can_see_other_guests: bool = False
    conference: Conference = field(default_factory=Conference)
    private: tuple[tuple[str, str], ...] = ()

    @property
    def private_map(self) -> dict[str, str]:
        return dict(self.private)


def with_answers(spec: EventSpec, sources: Iterable[EventSpec]) -> EventSpec:
    """``spec`` with each attendee's answer (response, comment, extra guests) taken from the first of
    ``sources`` that lists that guest with an answer. Pure. A guest no source knows stays unanswered
    (Google then shows ``needsAction``, which is right for a new guest)."""
    known: dict[str, Attendee] = {}
    for src in sources:
        for a in src.attendees:
            if a.answered:
                known.setdefault(a.email.lower(), a)
    if not known:
        return spec
    out = []
    for a in spec.attendees:
        prev = known.get(a.email.lower())
        if prev is None or a.answered:
            out.append(a)
        else:
            out.append(
                replace(
                    a,
                    response_status=prev.response_status,
                    comment=prev.comment,
                    additional_guests=prev.additional_guests,
                )
            )
    return replace(spec, attendees=tuple(out))


@dataclass(frozen=True)
class RemoteEvent:
    """An event as the provider holds it. ``spec`` is parsed back into Muster's terms.

    ``status`` is ``confirmed``/``tentative``/``cancelled`` (a cancelled tombstone keeps its id and,
    on the organizer's calendar, its details). ``responses`` maps attendee email → responseStatus.
    """

    calendar_id: str
    event_id: str
    status: str
    spec: EventSpec
    etag: str | None = None
    organizer_email: str | None = None
    html_link: str | None = None
    conference_status: str | None = None  #: Meet createRequest status: pending | success | failure
    responses: Mapping[str, str] = field(default_factory=dict)

    @property
    def private(self) -> dict[str, str]:
        return self.spec.private_map

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"


@dataclass(frozen=True)
class CheckResult:
    """Answer of the admin "Test connection" button."""

    ok: bool
    message: str


class CalendarPort(Protocol):
    """A calendar provider acting as one :class:`Actor`. Implementations raise :mod:`connectors.errors`."""

    actor: Actor

    def get(self, calendar_id: str, event_id: str) -> RemoteEvent | None:
        """The event (cancelled tombstones included), or ``None`` when it never existed here."""
        ...

    def list_owned(self, calendar_id: str, marker: Mapping[str, str]) -> list[RemoteEvent]:
        """All events (deleted included) whose private properties contain every ``marker`` pair."""
        ...

    def insert(
        self, calendar_id: str, event_id: str, spec: EventSpec, *, send_updates: SendUpdates
    ) -> RemoteEvent:
        """Create with the client-chosen id; raises ``AlreadyExistsError`` when the id is taken."""
        ...

    def patch(
        self,
        calendar_id: str,
        event_id: str,
        spec: EventSpec,
        fields: frozenset[str],
        *,
        send_updates: SendUpdates,
        status: str | None = None,
        if_match: str | None = None,
    ) -> RemoteEvent:
        """Write only ``fields`` (names from :data:`FIELDS`) of ``spec``; ``status`` restores a tombstone.

        ``if_match``: the etag the write is conditional on; Google refuses it with 412 when the event changed
        since (``StaleEtagError``)."""
        ...

    def delete(self, calendar_id: str, event_id: str, *, send_updates: SendUpdates) -> None:
        """Delete (Google keeps a cancelled tombstone). Already gone counts as done."""
        ...

    def move(
        self, calendar_id: str, event_id: str, destination: str, *, send_updates: SendUpdates
    ) -> RemoteEvent:
        """Change the organizer by moving the event to ``destination`` (same id)."""
        ...

    def check(self) -> CheckResult:
        """Can this actor read and write its calendar? Never raises."""
        ...


#: Builds the port for an actor (credentials, HTTP client). Engine code receives one by injection.
CalendarPortFactory = Callable[[Actor], CalendarPort]
