"""Ending admin sessions when what they were granted on changes: a rule of the data, not of each writer.

Where it sits: the store layer, registered on import of :mod:`engine.store.unit_of_work` (every database
writer goes through it). Before each ORM flush, a :class:`~engine.store.models.Person` whose password hash,
admin role or status changed (or who is deleted) loses every :class:`~engine.store.models.AdminSession`, in
the same transaction. So a password change, a role change and a deactivation end every session of that
person at once, whichever code path made them (CLI, admin UI, REST-driven lifecycle).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, event, inspect
from sqlalchemy.orm import Session as OrmSession

from engine.store.models import AdminSession, Person

#: Person fields whose change ends the person's sessions.
GUARDED = ("password_hash", "admin_role", "status")


def _changed_people(session: OrmSession) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for obj in session.dirty:
        if isinstance(obj, Person):
            state: Any = inspect(obj)
            if any(state.attrs[name].history.has_changes() for name in GUARDED):
                ids.add(obj.id)
    ids |= {obj.id for obj in session.deleted if isinstance(obj, Person)}
    return ids


@event.listens_for(OrmSession, "before_flush")
def _end_sessions_of_changed_people(session: OrmSession, _ctx: Any, _instances: Any) -> None:
    ids = _changed_people(session)
    if ids:
        session.execute(delete(AdminSession).where(AdminSession.person_id.in_(ids)))  # type: ignore[attr-defined]
