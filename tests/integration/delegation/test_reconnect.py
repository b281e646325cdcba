"""Whose calendar, and tokens that stop working: next host with a working connection, "no connected
organizer", ``invalid_grant`` → reconnect prompt → reconnect drains the backlog."""

from __future__ import annotations

import uuid

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.delegation.oauth import reconnect_prompts
from engine.settings import Settings
from engine.store.models import ConnectionStatus, GoogleConnection, LiveSession, SyncStatus
from tests.integration.delegation.conftest import Google, Platform, connect_via_consent_page, learners, organizers


def _rename(engine: Engine, sid: uuid.UUID, title: str) -> None:
    with Session(engine) as db:
        row = db.get(LiveSession, sid)
        assert row is not None
        row.title = title
        row.revision += 1
        db.add(row)
        db.commit()


def test_next_host_with_a_working_connection_organizes(
    google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform
) -> None:
    organizer, co_host = organizers()[0], organizers()[1]
    sid = platform.session(organizer=organizer, co_hosts=(co_host,), learners=tuple(learners(2)))
    connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, co_host)
    platform.sync(sid)
    binding = platform.binding(sid)
    assert binding.sync_status == SyncStatus.SYNCED.value, binding.last_error
    assert binding.owner_email == co_host
    [event] = google.events(co_host)
    assert organizer in {a["email"] for a in event["attendees"]}  # the organizer is still invited
    assert google.events(organizer) == []


def test_revoked_token_blocks_then_reconnect_drains_backlog(
    google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform
) -> None:
    organizer = organizers()[2]
    sids = [
        platform.session(organizer=organizer, learners=tuple(learners(2)), title=f"S{i}") for i in range(2)
    ]
    connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, organizer)
    for sid in sids:
        platform.sync(sid)
        assert platform.binding(sid).sync_status == SyncStatus.SYNCED.value

    # Google revokes the organizer's tokens (password reset, admin sign-out, 7-day testing tokens...).
    google.control("POST", f"users/{organizer}/revoke-tokens")
    for sid in sids:
        _rename(sqlite_engine, sid, f"{sid} v2")
        results = platform.sync(sid)
        assert len(results) <= 3  # one requeue to look for another host, then it waits: no retry storm
        binding = platform.binding(sid)
        assert binding.sync_status == SyncStatus.BLOCKED.value
        assert "reconnect" in (binding.last_error or "").lower()
        assert binding.owner_email == organizer  # the event stays where it is; no second event elsewhere
    with Session(sqlite_engine) as db:
        conn = db.exec(select(GoogleConnection).where(GoogleConnection.google_email == organizer)).one()
        assert conn.status in (ConnectionStatus.REVOKED.value, ConnectionStatus.EXPIRED.value)
        prompts = reconnect_prompts(db, platform.tenant_id)
    assert [p["email"] for p in prompts] == [organizer]

    # The organizer reconnects: their sessions are enqueued and sync with the pending changes.
    enqueued: list[uuid.UUID] = []
    result = connect_via_consent_page(
        google, settings, sqlite_engine, platform.tenant_id, organizer, enqueued
    )
    assert result.reconnected and sorted(enqueued) == sorted(sids)
    for sid in enqueued:
        platform.sync(sid)
        binding = platform.binding(sid)
        assert binding.sync_status == SyncStatus.SYNCED.value, binding.last_error
    titles = sorted(e["summary"] for e in google.events(organizer))
    assert titles == sorted(f"{sid} v2" for sid in sids)
    assert len(google.events(organizer)) == 2
    with Session(sqlite_engine) as db:
        assert reconnect_prompts(db, platform.tenant_id) == []


def test_dwd_organizer_suspended_in_google_next_host_takes_over(
    google: Google, settings: Settings, sqlite_engine: Engine
) -> None:
    from engine.store.models import ConnectionKind, DelegationMethod

    platform = Platform(sqlite_engine, settings, method=DelegationMethod.DOMAIN_WIDE.value)
    organizer, co_host = organizers()[4], organizers()[5]
    google.control("POST", f"users/{organizer}/suspend")  # Muster has not heard of it yet
    sid = platform.session(organizer=organizer, co_hosts=(co_host,), learners=tuple(learners(2)))
    results = platform.sync(sid)
    # First try as the organizer: Google says notACalendarUser; one requeue, then the co-host organizes.
    assert [r.outcome for r in results][:1] == ["auth_error"] and len(results) <= 3
    binding = platform.binding(sid)
    assert binding.sync_status == SyncStatus.SYNCED.value and binding.owner_email == co_host
    assert len(google.events(co_host)) == 1
    with Session(sqlite_engine) as db:
        mark = db.exec(
            select(GoogleConnection).where(
                GoogleConnection.google_email == organizer,
                GoogleConnection.kind == ConnectionKind.DELEGATION.value,
            )
        ).one()
        assert mark.status == ConnectionStatus.SUSPENDED.value and "cannot use Calendar" in (
            mark.last_error or ""
        )
