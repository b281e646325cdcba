"""Directory, free/busy, ACL, Data Transfer and the connection check's requests are paced by the limiter that
paces calendar calls.

Where it sits: ``tests/integration/lifecycle``, against the emulator. The emulator is given Google's per-user
quota at 6 requests a minute, and Muster's own pacing the same figure (``MUSTER_QUOTA_USER_PER_MINUTE=6``, a
burst of 5). A client that bypassed the pacing would send the 7th request and be refused by Google
(``rejected`` counts it); a paced one takes 5 slots, then defers the 6th with ``Throttled`` before sending
anything, so Google never refuses a request and counts exactly 5. The connection check ("Test connection",
``muster check``) is held to the same: its probes take their slots in the same buckets, and a refused slot
is a ``throttled`` step that sent nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

import connectors.google.pacing as google_pacing
from connectors.ports.calendar import Actor
from connectors.ports.delegation import OAuthUnavailable
from engine.admin.connection_check import THROTTLED_FIX, Outcome
from engine.runtime.ratelimit import MemoryRateLimiter, Throttled
from engine.runtime.wiring import build_port_factory, check_tenant, google_kit
from engine.store.models import Tenant
from engine.store.unit_of_work import network_session
from tests.conftest import REPO_ROOT
from tests.integration.lifecycle.conftest import ADMIN, CAL, FALLBACK, OAUTH_ID, OAUTH_SECRET, ROOM, Life
from tests.integration.sync.conftest import _env

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


@contextmanager
def _check_quota(life: Life) -> Iterator[None]:
    """Google's per-user quota at 6 a minute and no pacer installed yet, as in a web process that runs no
    worker or a fresh ``muster check``: the check installs it itself. The previous pacer is restored after."""
    previous = google_pacing.installed()
    google_pacing.install(None)
    life.emu.control("PUT", "quotas", {"per_user_per_minute": QUOTA})
    life.emu.reset_counters()
    try:
        yield
    finally:
        life.emu.control("DELETE", "quotas")
        google_pacing.install(previous)


def test_test_connection_takes_its_slots_before_sending(life: Life) -> None:
    """The admin UI's "Test connection" reads the organizer's calendar twice per run (``calendars.get``,
    ``events.list``): the third run takes the 5th slot and finds no 6th, the fourth sends nothing."""
    life.connect(ORGANIZER)
    settings = dataclasses.replace(life.settings, quota_user_per_minute=QUOTA)
    steps = []
    with _check_quota(life):
        for _ in range(4):
            with network_session(life.engine) as db:  # as the Integration page opens it
                steps += check_tenant(db, life.tenant_id, settings).steps
                db.commit()
        counters = life.emu.counters()
    calendar = [s for s in steps if s.name == "calendar access" and s.identity == ORGANIZER]
    assert [s.outcome for s in calendar] == [Outcome.OK, Outcome.OK, Outcome.FAIL, Outcome.FAIL]
    assert all(s.message.startswith("throttled: ") and s.fix == THROTTLED_FIX for s in calendar[2:])
    assert counters["by_identity"][ORGANIZER] == QUOTA - 1  # the burst; nothing sent once a slot was refused
    assert counters["rejected"] == {}


def test_muster_check_processes_share_the_limiter(life: Life, redis_url: str, tmp_path: Path) -> None:
    """``muster check`` in separate processes takes its slots in Redis, the buckets the workers use: the
    fourth run's calendar step is deferred by Muster, not refused by Google."""
    life.connect(ORGANIZER)
    namespace = f"check-pacing-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **_env(life.settings.database_url, life.emu, tmp_path, redis_url,
                                MUSTER_GOOGLE_OAUTH_CLIENT_ID=OAUTH_ID, MUSTER_GOOGLE_OAUTH_CLIENT_SECRET=OAUTH_SECRET,
                                MUSTER_QUOTA_USER_PER_MINUTE=str(QUOTA), MUSTER_REDIS_NAMESPACE=namespace)}
    muster = str(REPO_ROOT / ".venv" / "bin" / "muster")
    runs = []
    with _check_quota(life):
        for _ in range(4):
            done = subprocess.run([muster, "check", "--tenant", "acme", "--json"], env=env, capture_output=True,
                                  text=True, timeout=120)
            assert "Traceback" not in done.stderr, done.stderr
            runs.append(json.loads(done.stdout))
        counters = life.emu.counters()
    calendar = [s for run in runs for s in run["steps"] if s["name"] == "calendar access"
                and s["identity"] == ORGANIZER]
    assert [s["outcome"] for s in calendar] == ["ok", "ok", "fail", "fail"]
    assert calendar[3]["message"].startswith("throttled: ") and calendar[3]["fix"] == THROTTLED_FIX
    assert runs[3]["ok"] is False
    assert counters["by_identity"][ORGANIZER] == QUOTA - 1
    assert counters["rejected"] == {}


def test_the_consent_callback_s_account_read_takes_a_project_slot(life: Life) -> None:
    """After a consent, Muster reads the new token's primary calendar to learn whose account it is. It cannot
    know the identity before the answer, so the read takes a slot in the project's bucket (a burst of 20 here,
    then 6 a minute); once none is free the callback says Google is busy and sends nothing."""
    token = life.emu.world.issue_access_token(
        email=ORGANIZER, sub="pacing-consent", scopes=[CAL], kind="user", client_id=OAUTH_ID
    ).token
    settings = dataclasses.replace(life.settings, quota_project_per_minute=QUOTA)
    previous = google_pacing.installed()
    build_port_factory(settings, limiter=MemoryRateLimiter())  # installs this process's pacer
    life.emu.reset_counters()
    answered = 0
    try:
        with pytest.raises(OAuthUnavailable, match="nothing was sent"):
            for _ in range(25):
                assert google_kit().primary_calendar_email(
                    root_url=life.settings.google_root_url, access_token=token
                ) == ORGANIZER
                answered += 1
    finally:
        google_pacing.install(previous)
    assert answered == 20
    counters = life.emu.counters()
    assert sum(counters["by_identity"].values()) == answered
    assert counters["rejected"] == {}
