"""The pure planner: ``plan(desired, observed) -> list[Op]``.

Where it sits: between :mod:`engine.domain.desired` (what Google should hold) and :mod:`engine.sync.apply` (which
runs the ops through a :class:`~connectors.ports.calendar.CalendarPort`). No I/O; ordering is deterministic; the
same inputs always give the same ops. Only events carrying Muster's marker are ever touched.

Stable interface:

* :class:`ObservedEvent` - a :class:`~connectors.ports.calendar.RemoteEvent` plus the actor that read it (the
  actor that may write it).
* Ops (frozen dataclasses): :class:`CreateEvent`, :class:`PatchEvent` (``fields`` from
  :data:`connectors.ports.calendar.FIELDS`, ``restore`` = bring a cancelled tombstone back), :class:`DeleteEvent`,
  :class:`MoveEvent`, :class:`Noop`. Each carries its ``send_updates``.
* :func:`diff_fields` - the field groups in which two specs differ (the "essence" comparison: never
  etag, updated or htmlLink).

Rules, per desired event ``d``:

* no owned event with ``d``'s id → ``CreateEvent`` (or ``MoveEvent`` + converge when the same id lives
  on a calendar listed in ``d.movable_from``);
* a cancelled tombstone with ``d``'s id → ``PatchEvent(restore=True)`` with every field (the id cannot be
  reused, so the tombstone is brought back);
* otherwise the differing fields, grouped by the notification policy into one or two patches, or
  ``Noop`` when nothing differs.

Every patch carries ``if_match``: the etag of the observed event it was planned against (the executor
sends it as ``If-Match``; a later patch of the same event uses the etag the previous one returned).

Every write that carries the guest list carries each guest's answer (``responseStatus``, comment,
additional guests) as last observed on the session's events: a guest's answer is never reset by Muster.
A recreate (a ``CreateEvent`` or a restore) gives a guest no observed event shows an answer for the answer
stored on their own row (:attr:`DesiredEvent.stored_answers`): an old copy that cannot be read loses nothing.

Every owned, live event with no desired counterpart → ``DeleteEvent`` (Google tells its guests), except
when the session has a desired event elsewhere: then the old one is superseded and deleted silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from connectors.ports.calendar import FIELDS, Actor, EventSpec, RemoteEvent, SendUpdates, with_answers
from engine.domain.desired import DesiredEvent
from engine.domain.event_ids import ESSENCE_KEY, is_owned
from policies.notifications import NotificationPolicy

ALL_FIELDS: frozenset[str] = frozenset(FIELDS) - {"status"}


@dataclass(frozen=True)
class ObservedEvent:
    actor: Actor
    remote: RemoteEvent


@dataclass(frozen=True)
class CreateEvent:
    desired: DesiredEvent
    send_updates: SendUpdates


@dataclass(frozen=True)
class PatchEvent:
    desired: DesiredEvent
    fields: frozenset[str]
    send_updates: SendUpdates
    restore: bool = False
    #: The etag of the event this patch was planned against: the write is conditional on it
    #: (``If-Match``), so an event changed in Google meanwhile is refused (412) instead of overwritten.
    if_match: str | None = None


@dataclass(frozen=True)
class DeleteEvent:
    actor: Actor
    calendar_id: str
    event_id: str
    send_updates: SendUpdates


@dataclass(frozen=True)
class MoveEvent:
    actor: Actor
    calendar_id: str
    event_id: str
    destination: str
    send_updates: SendUpdates


@dataclass(frozen=True)
class Noop:
    calendar_id: str
    event_id: str


Op = CreateEvent | PatchEvent | DeleteEvent | MoveEvent | Noop


def _norm(text: str | None) -> str:
    return (text or "").strip()


def diff_fields(want: EventSpec, have: EventSpec) -> frozenset[str]:
    """Field groups in which ``have`` differs from ``want`` (attendee response status is ignored)."""
    out: set[str] = set()
    if want.summary != have.summary:
        out.add("summary")
    if _norm(want.description) != _norm(have.description):
        out.add("description")
    if _norm(want.location) != _norm(have.location):
        out.add("location")
    if (want.start, want.end, want.time_zone) != (have.start, have.end, have.time_zone):
        out.add("time")
    if tuple(want.recurrence) != tuple(have.recurrence):
        out.add("recurrence")
    if {(a.email.lower(), a.optional, a.resource) for a in want.attendees} != {
        (a.email.lower(), a.optional, a.resource) for a in have.attendees
    }:
        out.add("attendees")
    if (want.guests_can_invite_others, want.guests_can_modify, want.guests_can_see_other_guests) != (
        have.guests_can_invite_others,
        have.guests_can_modify,
        have.guests_can_see_other_guests,
    ):
        out.add("guests")
    if (want.conference.kind == "meet") != (have.conference.kind == "meet"):
        out.add("conference")
    elif (
        want.conference.kind == "meet"
        and not have.conference.link
        and want.conference.request_id
        and have.conference.request_id
        and want.conference.request_id != have.conference.request_id
    ):
        out.add("conference")  # a new Meet attempt (new requestId) after Google answered ``failure``
    have_private = have.private_map
    if any(have_private.get(k) != v for k, v in want.private):
        out.add("marker")
    return frozenset(out)


def _answered(d: DesiredEvent, sources: Sequence[RemoteEvent], *, recreate: bool = False) -> DesiredEvent:
    """``d`` whose guests carry their answers as last observed (``sources``: the event being written
    first, then the session's other events: a superseded or moved-from copy).

    ``recreate`` (a new event, or a tombstone brought back): a guest no observed event shows an answer
    for gets the answer Muster stored for them (``d.stored_answers``: hosts' and learners' rows, never
    the organizer or a room), so an event whose old copy cannot be read keeps its guests' answers."""
    spec = with_answers(d.spec, [s.spec for s in sources])
    if recreate and d.stored_answers:
        spec = with_answers(spec, [replace(d.spec, attendees=d.stored_answers)])
    return d if spec is d.spec else replace(d, spec=spec)


def _converge(
    d: DesiredEvent, have: RemoteEvent, policy: NotificationPolicy, others: Sequence[RemoteEvent] = ()
) -> list[Op]:
    d = _answered(d, [have, *others], recreate=have.is_cancelled)
    etag = have.etag
    if have.is_cancelled:
        return [PatchEvent(d, ALL_FIELDS, policy.on_restore(), restore=True, if_match=etag)]
    changed = diff_fields(d.spec, have.spec)
    if not changed:
        return [Noop(d.calendar_id, d.event_id)]
    if changed == {"marker"} and have.private.get(ESSENCE_KEY) != d.essence_hash:
        return [PatchEvent(d, changed, "none", if_match=etag)]
    return [PatchEvent(d, fields, send, if_match=etag) for fields, send in policy.split(changed)]


def plan(
    desired: Sequence[DesiredEvent],
    observed: Sequence[ObservedEvent],
    policy: NotificationPolicy | None = None,
) -> list[Op]:
    """Return the ops that make ``observed`` equal ``desired``. Pure; ordering is deterministic."""
    policy = policy or NotificationPolicy()
    owned = sorted(
        (o for o in observed if is_owned(o.remote.private)),
        key=lambda o: (o.remote.calendar_id, o.remote.event_id),
    )
    used: set[tuple[str, str]] = set()
    ops: list[Op] = []
    for d in sorted(desired, key=lambda x: (x.calendar_id, x.event_id)):
        here = next(
            (o for o in owned if (o.remote.calendar_id, o.remote.event_id) == (d.calendar_id, d.event_id)),
            None,
        )
        others = [o.remote for o in owned if o is not here]
        if here is not None:
            used.add((d.calendar_id, d.event_id))
            ops.extend(_converge(d, here.remote, policy, others))
            continue
        movable = next(
            (
                o
                for o in owned
                if o.remote.event_id == d.event_id
                and o.remote.calendar_id in d.movable_from
                and not o.remote.is_cancelled
            ),
            None,
        )
        if movable is not None:
            used.add((movable.remote.calendar_id, movable.remote.event_id))
            ops.append(
                MoveEvent(movable.actor, movable.remote.calendar_id, d.event_id, d.calendar_id, "none")
            )
            moved = replace(movable.remote, calendar_id=d.calendar_id)
            ops.extend(op for op in _converge(d, moved, policy, others) if not isinstance(op, Noop))
            continue
        # A recreate (mode switch, organizer gone) invites the same guests again: their answers come along,
        # as observed on the old event, else as stored on the guests' own rows.
        ops.append(CreateEvent(_answered(d, others, recreate=True), policy.on_create()))
    # An event superseded by the session's event elsewhere (organizer change, mode switch; created,
    # restored or kept) goes quietly: the guests are on the other event (and got its invitation), so a
    # cancellation would be a second, misleading email.
    replaced = bool(desired)
    for o in owned:
        key = (o.remote.calendar_id, o.remote.event_id)
        if key in used or o.remote.is_cancelled:
            continue
        ops.append(
            DeleteEvent(
                o.actor, o.remote.calendar_id, o.remote.event_id, "none" if replaced else policy.on_delete()
            )
        )
    return ops


def writes(ops: Sequence[Op]) -> list[Op]:
    """The ops that would write to Google (everything but :class:`Noop`)."""
    return [op for op in ops if not isinstance(op, Noop)]
