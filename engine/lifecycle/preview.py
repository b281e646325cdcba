"""Transfer preview: who would inherit which session if a person left now.

Where it sits: read side of :mod:`engine.lifecycle`; backs ``GET /v1/people/{email}/transfer-preview``
and the admin UI. It runs the same :func:`policies.successor.choose_successor` over the same facts the
transfer uses (:mod:`engine.lifecycle.facts`), and names the path the transfer would take for the
person's current state. Writes nothing, calls no Google API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from engine.lifecycle.departure import transfer_due
from engine.lifecycle.facts import (
    candidate_session_ids,
    fallback_facts,
    find_person,
    session_contexts,
    successor_rules,
)
from engine.store.models import PersonStatus, Tenant
from policies.successor import Decision, Outcome, affected, choose_successor

#: Transfer paths, in order of preference (see docs/organizer-lifecycle.md).
PATH_MOVE = "move"  #: organizer still active: events.move keeps id, attendees, Meet link and room
PATH_DATA_TRANSFER = "data_transfer"  #: organizer suspended: admin Data Transfer, then adoption
PATH_RECREATE = "recreate"  #: neither possible: new event under the successor, old one cancelled
PATH_NONE = "none"  #: nobody can inherit yet


def transfer_paths(person_status: str) -> tuple[str, ...]:
    """Pure: the paths a transfer tries for a person in ``person_status``, in order; what one path cannot
    serve falls through to the next, and ``recreate`` (which always works) comes last.

    A leaving organizer can still act: move, then Data Transfer, then recreate. A suspended one cannot
    (Calendar answers ``notACalendarUser``): Data Transfer, then recreate. A deleted account (or anyone
    else): recreate."""
    if person_status == PersonStatus.LEAVING.value:
        return (PATH_MOVE, PATH_DATA_TRANSFER, PATH_RECREATE)
    if person_status == PersonStatus.SUSPENDED.value:
        return (PATH_DATA_TRANSFER, PATH_RECREATE)
    return (PATH_RECREATE,)


def planned_path(person_status: str, outcome: Outcome) -> str:
    """The path a transfer would take for a person in ``person_status`` (an active person as if they
    announced their departure now)."""
    if outcome in (Outcome.BLOCKED, Outcome.NOT_AFFECTED):
        return PATH_NONE
    status = PersonStatus.LEAVING.value if person_status == PersonStatus.ACTIVE.value else person_status
    return transfer_paths(status)[0]


@dataclass(frozen=True)
class PreviewItem:
    session_id: uuid.UUID
    external_id: str
    title: str
    start_at: datetime
    decision: Decision
    path: str


@dataclass(frozen=True)
class TransferPreview:
    email: str
    status: str
    leaving_on: date | None
    transfer_due: bool
    items: tuple[PreviewItem, ...]

    @property
    def blocked(self) -> tuple[PreviewItem, ...]:
        return tuple(i for i in self.items if i.decision.outcome is Outcome.BLOCKED)


def transfer_preview(*, db: Session, tenant: Tenant, email: str, now: datetime) -> TransferPreview | None:
    """Every upcoming session ``email`` acts for, with its successor and path. ``None``: unknown person."""
    person = find_person(db, tenant.id, email)
    if person is None:
        return None
    fallback = fallback_facts(db, tenant)
    rules = successor_rules(tenant)
    items = []
    for ctx in session_contexts(db, candidate_session_ids(db, tenant.id, [person.email], now)):
        if not affected(ctx.facts, person.email):
            continue
        decision = choose_successor(ctx.facts, person.email, fallback, rules)
        status = person.status if person.status != PersonStatus.ACTIVE.value else PersonStatus.LEAVING.value
        items.append(PreviewItem(ctx.session.id, ctx.session.external_id, ctx.session.title,
                                 ctx.session.start_at, decision, planned_path(status, decision.outcome)))
    return TransferPreview(person.email, person.status, person.leaving_on,
                           transfer_due(person, now.date()), tuple(items))
