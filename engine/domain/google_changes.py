"""Edits made in Google to a Muster event: recognised against the event as Muster last saw it, and kept or not.

Where it sits: pure, between :mod:`engine.domain.desired` and :func:`engine.domain.plan.plan`. The reconciler
holds three views of a session's event: ``desired`` (what the platform says), ``observed`` (what Google holds
now, read or trusted) and ``base`` (the event as Muster last wrote or read it: ``CalendarBinding.last_written``,
see :mod:`engine.domain.snapshot`). The tenant's :class:`policies.google_changes.GoogleChangeSettings` decides:

* :func:`google_edits` - the field groups someone changed in Google since ``base`` (never Muster's own writes:
  ``base`` is replaced by what Google returned after each of them, so an unchanged etag means no edit);
* :func:`deleted_in_google` - the event Muster left live is a cancelled tombstone now;
* :func:`keep_google_edits` ("report only") - ``desired`` with every field group the platform did not change
  since the last sync taken from ``observed``; the guest list is ``observed`` plus the guests the platform
  added and minus those it removed since then (:func:`platform_state` remembers the platform's side).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from connectors.ports.calendar import EventSpec, RemoteEvent
from engine.domain.desired import DesiredEvent
from engine.domain.plan import diff_fields

#: The field groups an edit in Google can touch (``marker`` is Muster's own; a guest's answer is not an edit).
GROUPS: tuple[str, ...] = (
    "summary",
    "description",
    "location",
    "time",
    "recurrence",
    "attendees",
    "guests",
    "conference",
)


def _norm(text: str | None) -> str:
    return (text or "").strip()


def _values(spec: EventSpec) -> dict[str, object]:
    """Each group's value as :func:`engine.domain.plan.diff_fields` compares it."""
    return {
        "summary": spec.summary,
        "description": _norm(spec.description),
        "location": _norm(spec.location),
        "time": (spec.start.isoformat(), spec.end.isoformat(), spec.time_zone),
        "recurrence": tuple(spec.recurrence),
        "attendees": sorted((a.email.lower(), a.optional, a.resource) for a in spec.attendees),
        "guests": (spec.guests_can_invite_others, spec.guests_can_modify, spec.guests_can_see_other_guests),
        "conference": spec.conference.kind == "meet",
    }


def _hash(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def platform_state(spec: EventSpec) -> dict[str, Any]:
    """The platform's side of a sync, stored on the binding: a hash per group and the guest emails."""
    return {
        "fields": {g: _hash(v) for g, v in _values(spec).items()},
        "attendees": sorted({a.email.lower() for a in spec.attendees}),
    }


def google_edits(base: RemoteEvent | None, observed: RemoteEvent) -> frozenset[str]:
    """Groups changed in Google since ``base`` (empty when there is no base or the etag is the same)."""
    if base is None or observed.is_cancelled or (base.etag is not None and base.etag == observed.etag):
        return frozenset()
    return diff_fields(base.spec, observed.spec) - {"marker"}


def deleted_in_google(base: RemoteEvent | None, observed: RemoteEvent) -> bool:
    """Muster left the event live and it is now a tombstone: someone deleted it in Google."""
    return base is not None and not base.is_cancelled and observed.is_cancelled and base.etag != observed.etag


def keep_google_edits(d: DesiredEvent, observed: RemoteEvent, state: Mapping[str, Any] | None) -> DesiredEvent:
    """"Report only": ``d`` changed only where the platform changed since the last sync (``state``).

    Without a recorded ``state`` (a binding from before it was kept) the platform's values stand."""
    if not isinstance(state, Mapping) or not isinstance(state.get("fields"), Mapping):
        return d
    want, have = d.spec, observed.spec
    before: Mapping[str, Any] = state["fields"]
    now = platform_state(want)["fields"]
    kept = {g for g in GROUPS if before.get(g) == now[g]}
    spec = want
    if "summary" in kept:
        spec = replace(spec, summary=have.summary)
    if "description" in kept:
        spec = replace(spec, description=have.description)
    if "location" in kept:
        spec = replace(spec, location=have.location)
    if "time" in kept:
        spec = replace(spec, start=have.start, end=have.end, time_zone=have.time_zone)
    if "recurrence" in kept:
        spec = replace(spec, recurrence=have.recurrence)
    if "guests" in kept:
        spec = replace(
            spec,
            guests_can_invite_others=have.guests_can_invite_others,
            guests_can_modify=have.guests_can_modify,
            guests_can_see_other_guests=have.guests_can_see_other_guests,
        )
    if "conference" in kept:
        spec = replace(spec, conference=have.conference)
    previous = {str(e).lower() for e in state.get("attendees") or []}
    wanted = {a.email.lower(): a for a in want.attendees}
    added = set(wanted) - previous
    removed = previous - set(wanted)
    guests = [a for a in have.attendees if a.email.lower() not in removed]
    present = {a.email.lower() for a in guests}
    guests += [wanted[e] for e in sorted(added) if e not in present]
    spec = replace(spec, attendees=tuple(sorted(guests, key=lambda a: a.email.lower())))
    return d if spec == want else replace(d, spec=spec)
