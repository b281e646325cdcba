"""The session form's room picker: rooms that fit the requirements and are free at the session's time.

Where it sits: :mod:`admin_ui.views.session_form` calls :func:`room_options` when the organizer asks for
free rooms ("Show free rooms" re-renders the form without saving). It reads the room list and free/busy
through the delegation hooks' room directory (:meth:`engine.delegation.hooks.DelegationHooks.directory_for`)
and ranks with :func:`engine.delegation.rooms.free_rooms`. Vendor mode has no rooms; a directory that cannot be read
is explained, never a 500.
"""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from admin_ui.services.room_names import remember
from connectors.ports.calendar import Actor
from engine.admin.queries import connections_by_person
from engine.delegation.rooms import free_rooms, policy_for
from engine.runtime.wiring import delegation_hooks
from engine.settings import Settings
from engine.store.models import ConnectionKind, DelegationMethod, IntegrationMode, Person, Tenant
from policies.rooms import RoomNeeds


@dataclass
class RoomOptions:
    available: bool
    rooms: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    searched: bool = False


def _window(values: dict[str, str]) -> tuple[datetime, datetime] | None:
    try:
        zone = zoneinfo.ZoneInfo(values.get("time_zone", ""))
        day = date.fromisoformat(values.get("start_date", ""))
        end_day = date.fromisoformat(values.get("end_date") or values.get("start_date", ""))
        start = datetime.combine(day, time.fromisoformat(values.get("start_time", "")), tzinfo=zone)
        end = datetime.combine(end_day, time.fromisoformat(values.get("end_time", "")), tzinfo=zone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None
    if end <= start:
        return None
    return start.astimezone(UTC), end.astimezone(UTC)


def room_options(
    settings: Settings,
    engine: Engine,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID,
    values: dict[str, str],
    *,
    search: bool,
) -> RoomOptions:
    with Session(engine) as db:
        tenant = db.get(Tenant, tenant_id)
        person = db.get(Person, person_id)
        assert tenant is not None and person is not None
        db.expunge_all()
    if tenant.integration_mode != IntegrationMode.DELEGATION.value:
        return RoomOptions(available=False, message="Rooms are booked only in delegation mode (see Integration).")
    if not search:
        return RoomOptions(available=True, message="Fill in the time and requirements, then show free rooms.")
    window = _window(values)
    if window is None:
        return RoomOptions(available=True, searched=True, message="Give a valid date, start and end time first.")
    organizer = (values.get("organizer") or person.email).lower()
    if tenant.delegation_method == DelegationMethod.DOMAIN_WIDE.value:
        actor = Actor(kind="delegated", email=organizer, tenant_id=tenant.id)
    else:
        with Session(engine) as db:
            conn = connections_by_person(db=db, tenant_id=tenant.id, person_ids=[person.id]).get(person.id)
        actor = Actor(
            kind=ConnectionKind.OAUTH.value,
            email=person.email,
            tenant_id=tenant.id,
            connection_id=conn.id if conn else None,
        )
    directory = delegation_hooks(settings, engine).directory_for(tenant, actor)
    if directory is None:
        return RoomOptions(
            available=True,
            searched=True,
            message="The room list cannot be read: set the "
            "tenant's Directory admin and authorize Muster (Integration → Test connection).",
        )
    seats = int(values["room_min_capacity"]) if values.get("room_min_capacity", "").isdigit() else 1
    features = frozenset(f.strip() for f in values.get("room_features", "").split(",") if f.strip())
    needs = RoomNeeds(seats=seats, building=values.get("room_building") or None, features=features)
    try:
        found = free_rooms(directory, needs=needs, start=window[0], end=window[1], policy=policy_for(tenant))
    except Exception as exc:
        return RoomOptions(available=True, searched=True, message=f"Google did not answer the room search: {exc}")
    remember(tenant.id, {r.email: r.name for r in found})
    return RoomOptions(
        available=True,
        searched=True,
        rooms=[
            {
                "email": r.email,
                "name": r.name,
                "capacity": r.capacity,
                "building": r.building_id or "",
                "features": list(r.features),
            }
            for r in found
        ],
        message="" if found else "No room fits these requirements and is free at that time.",
    )
