"""Rotating MUSTER_SECRET_KEY: a wrong key is a configuration error that heals, and `muster secrets rotate`.

Where it sits: delegation mode with a per-organizer OAuth connection made through the emulator's consent
page, reconciled by the real reconciler (:mod:`engine.delegation.placement` decrypts the stored refresh
token with every configured key). The command is run through the real CLI.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.cli.main import cli
from engine.settings import Settings
from engine.store.models import CalendarBinding, GoogleConnection, GoogleIdentityStatus
from tests.integration.delegation.conftest import Google, Platform, connect_via_consent_page, learners, organizers

OLD = "s" * 40  # the key the delegation fixtures store credentials with
NEW = "n" * 40
WRONG = "w" * 40


def _with_keys(settings: Settings, *keys: str) -> Settings:
    return dataclasses.replace(settings, secret_key=keys[0], secret_keys=tuple(keys))


def _reconcile(settings: Settings, platform: Platform, session_id: uuid.UUID) -> CalendarBinding:
    """Reconcile as a worker configured with ``settings`` would (again while it asks to)."""
    reconciler = platform.build_reconciler(settings)
    for _ in range(10):
        if reconciler.reconcile(session_id).requeue_after is None:
            break
    return platform.binding(session_id)


def _connection(engine: Engine, email: str) -> GoogleConnection:
    with Session(engine, expire_on_commit=False) as db:
        return db.exec(select(GoogleConnection).where(GoogleConnection.google_email == email)).one()


@pytest.fixture
def connected(google: Google, settings: Settings, sqlite_engine: Engine, platform: Platform) -> tuple[str, uuid.UUID]:
    organizer = organizers()[0]
    sid = platform.session(organizer=organizer, learners=tuple(learners(2)), video="none")
    connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, organizer)
    return organizer, sid


def test_a_wrong_key_is_a_configuration_error_that_heals_when_the_key_is_back(
    connected: tuple[str, uuid.UUID], settings: Settings, sqlite_engine: Engine, google: Google, platform: Platform
) -> None:
    organizer, sid = connected
    # Given Muster restarted with a wrong key, when it syncs the organizer's session
    broken = _reconcile(_with_keys(settings, WRONG), platform, sid)
    # Then the session records a configuration error naming the key problem...
    assert broken.sync_status == "error" and broken.error_class == "config"
    assert "MUSTER_SECRET_KEY" in (broken.last_error or "")
    # ...and nobody's Google connection is blamed
    conn = _connection(sqlite_engine, organizer)
    assert conn.status == "connected" and not conn.last_error
    with Session(sqlite_engine) as db:
        flagged = db.exec(select(GoogleIdentityStatus).where(GoogleIdentityStatus.email == organizer)).first()
        assert flagged is None or flagged.status == "ok"
    assert google.events(organizer) == []
    # When the right key is back, the next reconcile (the sweep's) syncs, with no reconnect
    healed = _reconcile(settings, platform, sid)
    assert healed.sync_status == "synced" and healed.error_class is None
    assert len(google.events(organizer)) == 1


def test_secrets_rotate_lets_the_old_key_go(
    connected: tuple[str, uuid.UUID],
    settings: Settings,
    sqlite_engine: Engine,
    google: Google,
    platform: Platform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    organizer, sid = connected
    runner = CliRunner()

    def rotate_with(*keys: str) -> object:
        monkeypatch.setattr("engine.cli.secrets.get_settings", lambda: _with_keys(settings, *keys))
        monkeypatch.setattr("engine.cli.secrets.get_engine", lambda _s: sqlite_engine)
        return runner.invoke(cli, ["secrets", "rotate"])

    # Without the old key the credential is unreadable: the command says which and fails
    refused = rotate_with(NEW)
    assert refused.exit_code == 1 and organizer in refused.output and "MUSTER_SECRET_KEY" in refused.output  # type: ignore[attr-defined]
    # New key first, old key after: rotate re-encrypts under the new key
    before = _connection(sqlite_engine, organizer).refresh_token_encrypted
    done = rotate_with(NEW, OLD)
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    assert "Re-encrypted 1 stored credential(s)" in done.output and "can be removed" in done.output  # type: ignore[attr-defined]
    assert _connection(sqlite_engine, organizer).refresh_token_encrypted != before
    again = rotate_with(NEW, OLD)
    assert "Re-encrypted 0" in again.output and "1 already used it" in again.output  # type: ignore[attr-defined]
    # The old key removed: every connection still works
    synced = _reconcile(_with_keys(settings, NEW), platform, sid)
    assert synced.sync_status == "synced", synced.last_error
    assert len(google.events(organizer)) == 1
    assert _connection(sqlite_engine, organizer).status == "connected"
