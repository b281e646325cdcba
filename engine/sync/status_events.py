"""``session.sync_status_changed``: tell the platform when a session's state in Google changes.

Where it sits: :mod:`engine.sync.reconciler` takes a :func:`snapshot` of the binding at the start of the unit
of work that records an outcome (success, failure, blocked), and calls :func:`do_tell_status` at its end,
after the observers (Meet polling, room answers) updated the binding. A webhook is written only when the
sync status, the Meet link or its status, or the room or its answer differ (:func:`changed_parts`, pure), so
a retry that fails the same way again, or a reconcile that changes nothing, tells nothing.

:func:`do_tell_google_change` tells ``session.changed_in_google`` for each change made in Google that the
tenant's Google-side change policy handled (restored, kept, recreated, flagged), once per change: the
reconcile calls it where it audits the change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError
from sqlmodel import Session

from engine.domain.desired import SessionFacts
from engine.store.models import CalendarBinding, SyncStatus
from engine.webhooks import emit
from engine.webhooks.events import ChangedInGoogle, SyncStatusChanged

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatusSnapshot:
    sync_status: str | None
    last_error: str | None
    meet_status: str | None
    meet_link: str | None
    room_status: str | None
    room_email: str | None
    calendar_id: str | None
    event_id: str | None


def snapshot(binding: CalendarBinding | None) -> StatusSnapshot | None:
    if binding is None:
        return None
    return StatusSnapshot(
        binding.sync_status, binding.last_error, binding.meet_status, binding.meet_link, binding.room_status,
        binding.room_email, binding.calendar_id, binding.event_id,
    )


def changed_parts(before: StatusSnapshot | None, after: StatusSnapshot) -> list[str]:
    """What the platform hears about (``sync_status``, ``meet``, ``room``), in that order. Pure."""
    parts: list[str] = []
    if before is None or before.sync_status != after.sync_status:
        parts.append("sync_status")
    empty = StatusSnapshot(None, None, None, None, None, None, None, None)
    was = before or empty
    if (was.meet_status, was.meet_link) != (after.meet_status, after.meet_link):
        parts.append("meet")
    if (was.room_status, was.room_email) != (after.room_status, after.room_email):
        parts.append("room")
    return parts


def do_tell_status(
    db: Session, *, facts: SessionFacts, before: StatusSnapshot | None, binding: CalendarBinding
) -> bool:
    """Write a ``session.sync_status_changed`` webhook if the binding's state changed; True if one was."""
    after = snapshot(binding) or StatusSnapshot(None, None, None, None, None, None, None, None)
    parts = changed_parts(before, after)
    if not parts:
        return False
    failing = after.sync_status in (SyncStatus.ERROR.value, SyncStatus.BLOCKED.value)
    emit(
        db,
        tenant=facts.tenant,
        event=SyncStatusChanged(
            session_external_id=facts.external_id,
            session_id=facts.id,
            changed=parts,
            sync_status=after.sync_status or SyncStatus.PENDING.value,
            previous_sync_status=before.sync_status if before else None,
            last_error=after.last_error if failing else None,
            meet_status=after.meet_status,
            meet_link=after.meet_link,
            room_status=after.room_status,
            room_email=after.room_email,
            calendar_id=after.calendar_id,
            event_id=after.event_id,
        ),
    )
    return True


def do_tell_google_change(
    db: Session, *, facts: SessionFacts, report: Mapping[str, object], calendar_id: str | None, event_id: str | None
) -> bool:
    """Write a ``session.changed_in_google`` webhook for a change the Google-side change policy handled
    (``report``: the detail the reconcile audits: ``fields`` or ``deleted``, ``policy``, ``outcome``)."""
    if not calendar_id or not event_id:
        return False
    fields = report.get("fields")
    try:
        event = ChangedInGoogle.model_validate({
            "session_external_id": facts.external_id,
            "session_id": facts.id,
            "calendar_id": calendar_id,
            "event_id": event_id,
            "fields": [str(f) for f in fields] if isinstance(fields, list | tuple) else [],
            "deleted": bool(report.get("deleted")),
            "policy": report.get("policy"),
            "action": report.get("outcome"),
        })
    except ValidationError as exc:  # a report this schema does not know: the sync goes on, the log says why
        log.warning("session %s: no session.changed_in_google webhook for %s: %s", facts.id, dict(report), exc)
        return False
    emit(db, tenant=facts.tenant, event=event)
    return True
