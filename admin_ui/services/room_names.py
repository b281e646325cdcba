"""Room names for the session pages: a room's resource email (``c_…@resource.calendar.google.com``) → its name.

Where it sits: the sessions list and detail views call :func:`names_for` for the rooms they show. A
binding stores the booked room's name (``CalendarBinding.room_name``, and per date of a series in
``blocked_detail["room_exceptions"]``), which wins; rows booked before names were stored, and the
organizer's pick (``LiveSession.room_email``), fall back to :func:`room_names`: names come from the
tenant's Directory through the delegation hooks' room directory (the same read as the room picker), one
list call per tenant, cached in this process for :data:`TTL_S`. The picker's search results also feed the
cache. When the Directory cannot be read (vendor mode, no Directory admin, Google down) the pages fall
back to the email, and a failure is not retried for :data:`FAILURE_TTL_S`, so a page never waits on it twice.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable

from sqlalchemy.engine import Engine
from sqlmodel import Session

from connectors.ports.calendar import Actor
from engine.runtime.wiring import delegation_hooks
from engine.settings import Settings
from engine.store.models import IntegrationMode, Tenant
from policies.rooms import RoomCandidate

log = logging.getLogger(__name__)

#: How long a tenant's room list is reused before it is read again.
TTL_S = 600.0
#: After a failed read, how long to show emails before trying the Directory again.
FAILURE_TTL_S = 120.0

_lock = threading.Lock()
_cache: dict[uuid.UUID, tuple[float, dict[str, str]]] = {}


def remember(tenant_id: uuid.UUID, names: dict[str, str]) -> None:
    """Add known ``email → name`` pairs (e.g. from the room picker's results) to the tenant's cache."""
    with _lock:
        at, known = _cache.get(tenant_id, (0.0, {}))
        _cache[tenant_id] = (at, {**known, **{e.lower(): n for e, n in names.items() if n}})


def clear() -> None:
    with _lock:
        _cache.clear()


def _read_directory(settings: Settings, engine: Engine, tenant: Tenant) -> dict[str, str] | None:
    if not tenant.directory_admin_email:
        return None
    actor = Actor(kind="delegated", email=tenant.directory_admin_email.lower(), tenant_id=tenant.id)
    try:
        directory = delegation_hooks(settings, engine).directory_for(tenant, actor)
        if directory is None:
            return None
        rooms = [RoomCandidate.from_directory(item) for item in directory.list_rooms()]
    except Exception:  # names are a nicety: never fail a page over them
        log.info("room names: the Directory of tenant %s could not be read", tenant.slug, exc_info=True)
        return None
    return {r.email: r.name for r in rooms if r.email and r.name and r.name.lower() != r.email}


def room_names(
    settings: Settings, engine: Engine, tenant_id: uuid.UUID, emails: Iterable[str | None]
) -> dict[str, str]:
    """Names of the given room emails that are known (lower-case email → name); unknown ones are left out."""
    wanted = {e.lower() for e in emails if e}
    if not wanted:
        return {}
    now = time.monotonic()
    with _lock:
        at, known = _cache.get(tenant_id, (0.0, {}))
    if wanted - known.keys() and now - at > (TTL_S if known else FAILURE_TTL_S):
        with Session(engine) as db:
            tenant = db.get(Tenant, tenant_id)
            if tenant is not None:
                db.expunge(tenant)
        read = None
        if tenant is not None and tenant.integration_mode == IntegrationMode.DELEGATION.value:
            read = _read_directory(settings, engine, tenant)
        with _lock:
            _, known = _cache.get(tenant_id, (0.0, {}))
            known = {**known, **(read or {})}
            _cache[tenant_id] = (now, known)
    return {e: known[e] for e in wanted if e in known}


def names_for(
    settings: Settings, engine: Engine, tenant_id: uuid.UUID, rooms: Iterable[tuple[str | None, str | None]]
) -> dict[str, str]:
    """``(email, stored name)`` pairs → lower-case email → name: stored names first, the Directory only
    for emails without one (older bindings, the organizer's pick)."""
    stored: dict[str, str] = {}
    missing: list[str] = []
    for email, name in rooms:
        if not email:
            continue
        if name:
            stored[email.lower()] = name
        else:
            missing.append(email)
    missing = [e for e in missing if e.lower() not in stored]
    looked_up = room_names(settings, engine, tenant_id, missing) if missing else {}
    return {**looked_up, **stored}
