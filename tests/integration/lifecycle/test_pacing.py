"""Directory, free/busy, ACL and Data Transfer requests are paced by the limiter that paces calendar calls.

Where it sits: ``tests/integration/lifecycle``, against the emulator. The emulator is given Google's per-user
quota at 6 requests a minute, and Muster's own pacing the same figure (``MUSTER_QUOTA_USER_PER_MINUTE=6``, a
burst of 5). A client that bypassed the pacing would send the 7th request and be refused by Google
(``rejected`` counts it); a paced one takes 5 slots, then defers the 6th with ``Throttled`` before sending
anything, so Google never refuses a request and counts exactly 5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from connectors.ports.calendar import Actor
from engine.runtime.ratelimit import MemoryRateLimiter, Throttled
from engine.runtime.wiring import build_port_factory, google_kit
from engine.store.models import Tenant
from tests.integration.lifecycle.conftest import ADMIN, FALLBACK, ROOM, Life

ORGANIZER = "ken.allen5@acme.example"
QUOTA = 6


@pytest.fixture
def paced(life: Life) -> Iterator[Life]:
    """``life`` with a per-user quota of 6 a minute, at Google and in Muster's pacing (restored after)."""
    settings = dataclasses.replace(life.settings, quota_user_per_minute=QUOTA)
    build_port_factory(settings, limiter=MemoryRateLimiter())  # installs this process's pacer
    life.emu.control("PUT", "quotas", {"per_user_per_minute": QUOTA})
    life.emu.reset_counters()
    yield life
    life.emu.control("DELETE", "quotas")
    build_port_factory(life.settings, limiter=MemoryRateLimiter())


def _free_busy(life: Life) -> tuple[str, Callable[[], Any]]:
    directory = google_kit().room_directory(
        life.wiring.credentials, root_url=life.settings.google_root_url, directory_actor=None,
        calendar_actor=Actor(kind="delegated", email=ORGANIZER, tenant_id=life.tenant_id),
    )
    start = datetime(2027, 2, 1, 9, tzinfo=UTC)
    return ORGANIZER, lambda: directory.free_busy([ROOM], start, start + timedelta(hours=1))


def _rooms(life: Life) -> tuple[str, Callable[[], Any]]:
    directory = google_kit().room_directory(
        life.wiring.credentials, root_url=life.settings.google_root_url,
        directory_actor=Actor(kind="delegated", email=ADMIN, tenant_id=life.tenant_id),
        calendar_actor=Actor(kind="delegated", email=ORGANIZER, tenant_id=life.tenant_id),
    )
    return ADMIN, directory.list_rooms


def _acl(life: Life) -> tuple[str, Callable[[], Any]]:
    sharing = _services(life).sharing(Actor(kind="delegated", email=ORGANIZER, tenant_id=life.tenant_id))
    return ORGANIZER, lambda: sharing.share(ORGANIZER, FALLBACK)


def _directory_users(life: Life) -> tuple[str, Callable[[], Any]]:
    directory = _services(life).directory
    assert directory is not None
    return ADMIN, directory.suspended


def _data_transfer(life: Life) -> tuple[str, Callable[[], Any]]:
    transfers = _services(life).transfers
    assert transfers is not None
    old, new = life.emu.world.users[ORGANIZER].id, life.emu.world.users[FALLBACK].id
    return ADMIN, lambda: transfers.start(old, new, release_resources=False)


def _services(life: Life):  # type: ignore[no-untyped-def]
    with Session(life.engine) as db:
        tenant = db.get(Tenant, life.tenant_id)
        assert tenant is not None
        return life.wiring.services_for(tenant)


CALLS = {
    "freeBusy": _free_busy,
    "directory resources": _rooms,
    "acl.insert": _acl,
    "directory users": _directory_users,
    "datatransfer transfers.insert": _data_transfer,
}


@pytest.mark.parametrize("kind", list(CALLS))
def test_every_google_client_takes_its_slot_before_sending(paced: Life, kind: str) -> None:
    _identity, make_call = CALLS[kind](paced)
    sent = 0
    with pytest.raises(Throttled):
        for _ in range(QUOTA + 2):
            make_call()
            sent += 1
    counters = paced.emu.counters()
    assert sent == QUOTA - 1  # the burst; the next slot is a minute away, so it is deferred, not slept
    assert sum(counters["by_identity"].values()) == sent  # nothing was sent once the slot was refused
    assert counters["rejected"] == {}
