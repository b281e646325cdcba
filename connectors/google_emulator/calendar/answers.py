"""Guests answering an invitation in the emulated Calendar: a PATCH/PUT of their own copy.

Where it sits: called by ``events.modify`` when the event id names an attendee copy (``CopyRef``) on
the caller's calendar, and by the control route ``POST /_emulator/calendars/{id}/events/{eid}/responses``
(answer as any guest, with or without a calendar in the world). Google stores the event once, on the
organizer's calendar; a guest's answer is the ``responseStatus`` (and ``comment``, ``additionalGuests``)
of their own entry in ``attendees``. After the answer the organizer's event shows it, the event's
change number moves (so it appears in incremental sync on the organizer's and every guest's calendar)
and ``World.fire_change`` notifies the push channels of all those calendars.

Stricter choices (reference §2.5 "Shared properties can only be changed by the organizer"): in a body
written to a copy, only the guest's own attendee entry may differ, and only in ``responseStatus``,
``comment`` and ``additionalGuests``; other attendees in the body are ignored (a guest cannot remove
anyone), a new attendee or any other field that differs from the organizer's event → 403
``forbiddenForNonOrganizer``. An answer to a single instance of a copied series is refused the same way.
``sequence`` does not move (an answer is not a significant change).
"""

from __future__ import annotations

from typing import Any

from connectors.google_emulator.calendar import eventmodel
from connectors.google_emulator.errors import bad_request, forbidden_for_non_organizer, not_found
from connectors.google_emulator.state import Calendar, StoredEvent, World

RESPONSES = ("needsAction", "declined", "tentative", "accepted")
ANSWER_FIELDS = ("responseStatus", "comment", "additionalGuests")
IGNORED = ("kind", "etag", "id", "created", "updated", "creator", "organizer", "htmlLink", "iCalUID",
           "sequence", "hangoutLink", "conferenceData", "reminders", "colorId", "transparency")


def _email(att: Any) -> str:
    return str(att.get("email", "")).lower() if isinstance(att, dict) else ""


def own_answer(src: StoredEvent, guest: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a guest's write to their copy changes: ``{responseStatus, comment?, additionalGuests?}``.

    Raises 403 ``forbiddenForNonOrganizer`` for anything beyond the guest's own answer."""
    data = src.data
    current = {_email(a): a for a in data.get("attendees") or []}
    if guest not in current:
        raise forbidden_for_non_organizer()
    for key, value in body.items():
        if key in IGNORED or key == "attendees" or value is None:
            continue
        if key == "extendedProperties" and isinstance(value, dict) and set(value) <= {"private"}:
            continue  # a guest's private properties live on their copy; the emulator keeps none
        if data.get(key) != value:
            raise forbidden_for_non_organizer()
    sent = body.get("attendees")
    if sent is None:
        return {}
    if not isinstance(sent, list):
        raise bad_request("Invalid attendees value.", location="attendees")
    mine: dict[str, Any] | None = None
    for att in sent:
        email = _email(att)
        if email not in current:
            raise forbidden_for_non_organizer()
        if email == guest:
            mine = att
    if mine is None:
        return {}
    answer = {k: mine[k] for k in ANSWER_FIELDS if k in mine}
    status = answer.get("responseStatus", current[guest].get("responseStatus", "needsAction"))
    if status not in RESPONSES:
        raise bad_request(f"Invalid attendee response status: {status}", location="attendees.responseStatus")
    answer["responseStatus"] = status
    return answer


def apply_answer(world: World, src: StoredEvent, guest: str, answer: dict[str, Any]) -> None:
    """Store a guest's answer on the organizer's event (call under ``world.lock``; fire_change after)."""
    changed = False
    for att in src.data.get("attendees") or []:
        if _email(att) != guest:
            continue
        for key in ANSWER_FIELDS:
            if key in answer and att.get(key) != answer[key]:
                att[key] = answer[key]
                changed = True
    if changed:
        world.record_event_write(src)


def answer_from_copy(world: World, cal: Calendar, src: StoredEvent, body: dict[str, Any]) -> dict[str, Any]:
    """A guest's PATCH/PUT of their copy on ``cal``: apply their answer, return the copy as they see it."""
    ref = world.copies.get(cal.id, {}).get(src.id)
    if ref is None or ref.removed or src.deleted:
        raise not_found()
    answer = own_answer(src, cal.id, body)
    apply_answer(world, src, cal.id, answer)
    ref = world.copies.get(cal.id, {}).get(src.id)
    return eventmodel.render(src, cal.id, ref)


def find_for_control(world: World, calendar_id: str, event_id: str) -> StoredEvent | None:
    """The organizer's stored event for ``event_id`` seen from ``calendar_id`` (organizer's or a guest's)."""
    own = world.events.get(calendar_id, {}).get(event_id)
    if own is not None:
        return own
    found = world.copy_source(calendar_id, event_id)
    return found[1] if found is not None else None
