"""The connection check against the emulator: a good domain-wide delegation setup, a missing scope, and a
service account without delegation (check and sessions both say so; no retry storm)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.admin.connection_check import Outcome, run_check_for_slug
from engine.runtime.wiring import google_kit
from engine.settings import Settings
from engine.store.models import DelegationMethod, IntegrationMode, SyncStatus, Tenant
from engine.store.unit_of_work import network_session
from tests.conftest import REPO_ROOT
from tests.integration.delegation.conftest import DOMAIN, Google, Platform, learners, organizers

CAL = "https://www.googleapis.com/auth/calendar"
ROOMS = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
USERS = "https://www.googleapis.com/auth/admin.directory.user.readonly"
TRANSFER = "https://www.googleapis.com/auth/admin.datatransfer"
CLIENT_ID = "104857600000000000001"


def _dwd_platform(engine: Engine, settings: Settings) -> Platform:
    return Platform(engine, settings, method=DelegationMethod.DOMAIN_WIDE.value)


def _check(engine: Engine, settings: Settings, platform: Platform) -> dict[str, tuple[Outcome, str, str | None]]:
    with network_session(engine) as db:  # as `muster check` and the admin UI open it
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        report = run_check_for_slug(db, slug=tenant.slug, settings=settings, kit=google_kit())
    assert report.as_text()  # renders for the CLI
    return {s.name: (s.outcome, s.message, s.fix) for s in report.steps}


def test_good_domain_wide_delegation(google: Google, settings: Settings, sqlite_engine: Engine) -> None:
    platform = _dwd_platform(sqlite_engine, settings)
    platform.session(organizer=organizers()[0])
    steps = _check(sqlite_engine, settings, platform)
    # The sample customer granted the sync's scopes but not Data Transfer: a warning with the fix.
    assert [name for name, (outcome, _, _) in steps.items() if outcome is not Outcome.OK] == ["organizer lifecycle"]
    outcome, message, fix = steps["organizer lifecycle"]
    assert outcome is Outcome.WARN
    assert f"client id {CLIENT_ID} is not authorized for scope {TRANSFER} in Google Admin" in message
    assert "recreated under the successor" in message and USERS not in message
    assert fix and "Domain-wide delegation" in fix and TRANSFER in fix and USERS not in fix
    assert set(steps) == {
        "service account key",
        "token as organizer",
        "calendar access",
        "Meet allowed",
        "rooms readable",
        "organizer lifecycle",
    }
    assert "20 room" in steps["rooms readable"][1]

    google.world.add_delegation_grant(CLIENT_ID, DOMAIN, [CAL, ROOMS, USERS, TRANSFER])  # every scope
    steps = _check(sqlite_engine, settings, platform)
    assert [name for name, (outcome, _, _) in steps.items() if outcome is not Outcome.OK] == []
    assert "Data Transfer are authorized" in steps["organizer lifecycle"][1]


def test_lifecycle_scopes_checked_for_oauth_tenants_too(
    google: Google, settings: Settings, sqlite_engine: Engine
) -> None:
    platform = Platform(sqlite_engine, settings)  # per-organizer OAuth; the lifecycle still acts as the admin
    google.world.add_delegation_grant(CLIENT_ID, DOMAIN, [CAL, ROOMS])
    steps = _check(sqlite_engine, settings, platform)
    outcome, message, fix = steps["organizer lifecycle"]
    assert outcome is Outcome.WARN and USERS in message and TRANSFER in message
    assert "periodic Directory scan" in message and fix and USERS in fix and TRANSFER in fix


def test_missing_scope_names_the_scope_and_the_fix(google: Google, settings: Settings, sqlite_engine: Engine) -> None:
    google.world.add_delegation_grant(CLIENT_ID, DOMAIN, [CAL, USERS])  # rooms scope not granted
    platform = _dwd_platform(sqlite_engine, settings)
    platform.session(organizer=organizers()[0])
    steps = _check(sqlite_engine, settings, platform)
    assert steps["token as organizer"][0] is Outcome.OK
    outcome, message, fix = steps["rooms readable"]
    assert outcome is Outcome.FAIL
    assert f"client id {CLIENT_ID} is not authorized for scope {ROOMS} in Google Admin" in message
    assert fix and "Domain-wide delegation" in fix and ROOMS in fix


def test_service_account_without_delegation(google: Google, settings: Settings, sqlite_engine: Engine) -> None:
    google.world.delegation_grants.clear()  # the admin never authorized the client id
    platform = _dwd_platform(sqlite_engine, settings)
    organizer = organizers()[0]
    sid = platform.session(organizer=organizer, learners=tuple(learners(2)))
    steps = _check(sqlite_engine, settings, platform)
    outcome, message, fix = steps["token as organizer"]
    assert outcome is Outcome.FAIL
    assert "service account without delegation" in message and "refuse attendees and Meet links" in message
    assert fix and CLIENT_ID in fix

    # The affected session says so too, and is not retried in a loop.
    results = platform.sync(sid)
    assert len(results) == 1 and results[0].requeue_after is None
    binding = platform.binding(sid)
    assert binding.sync_status == SyncStatus.BLOCKED.value and binding.error_class == "auth"
    assert "unauthorized_client" in (binding.last_error or "")  # Google's words, for support
    assert "service account without delegation" in (binding.last_error or "")
    assert "Domain-wide delegation" in (binding.last_error or "")
    assert google.events(organizer) == []


def test_vendor_tenant_without_owner_accounts_is_reported(
    google: Google, settings: Settings, sqlite_engine: Engine
) -> None:
    platform = Platform(sqlite_engine, settings, mode=IntegrationMode.VENDOR.value)
    with Session(sqlite_engine) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        tenant.vendor_owner_emails = []
        db.add(tenant)
        db.commit()
    steps = _check(sqlite_engine, settings, platform)
    outcome, message, _ = steps["vendor owner accounts"]
    assert outcome is Outcome.FAIL and "service account without delegation" in message


def test_cli_check_prints_steps_and_exit_code(
    google: Google, settings: Settings, sqlite_engine: Engine, tmp_path: Path
) -> None:
    platform = _dwd_platform(sqlite_engine, settings)
    platform.session(organizer=organizers()[0])
    with Session(sqlite_engine) as db:
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        slug = tenant.slug
    env = {
        **os.environ,
        "MUSTER_DATABASE_URL": str(sqlite_engine.url),
        "MUSTER_SECRET_KEY": "s" * 40,
        "MUSTER_GOOGLE_ROOT_URL": google.url,
        "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE": str(google.key_file),
        "MUSTER_VAR_DIR": str(tmp_path),
    }
    muster = str(REPO_ROOT / ".venv" / "bin" / "muster")
    ok = subprocess.run([muster, "check", "--tenant", slug], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok   Meet allowed" in ok.stdout and "Result: all steps passed" in ok.stdout

    google.world.delegation_grants.clear()
    bad = subprocess.run(
        [muster, "check", "--tenant", slug, "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    [step] = [s for s in report["steps"] if s["name"] == "token as organizer"]
    assert step["outcome"] == "fail" and "without delegation" in step["message"]

    unknown = subprocess.run(
        [muster, "check", "--tenant", "nope"], env=env, capture_output=True, text=True, timeout=120
    )
    assert unknown.returncode == 2 and "--tenant" in unknown.stderr and "Traceback" not in unknown.stderr


def test_oauth_check_reports_and_marks_a_revoked_token(
    google: Google, settings: Settings, sqlite_engine: Engine
) -> None:
    from sqlmodel import select

    from engine.delegation.oauth import reconnect_prompts
    from engine.store.models import ConnectionStatus, GoogleConnection
    from tests.integration.delegation.conftest import connect_via_consent_page

    platform = Platform(sqlite_engine, settings)  # delegation with per-organizer OAuth
    ok_org, gone_org, never = organizers()[0], organizers()[1], organizers()[2]
    for email in (ok_org, gone_org, never):
        platform.session(organizer=email)
    for email in (ok_org, gone_org):
        connect_via_consent_page(google, settings, sqlite_engine, platform.tenant_id, email)
    google.control("POST", f"users/{gone_org}/revoke-tokens")
    with network_session(sqlite_engine) as db:  # as `muster check` and the admin UI open it
        tenant = db.get(Tenant, platform.tenant_id)
        assert tenant is not None
        report = run_check_for_slug(db, slug=tenant.slug, settings=settings, kit=google_kit())
        db.commit()
    by = {(s.name, s.identity): s for s in report.steps}
    assert by[("token as organizer", ok_org)].outcome is Outcome.OK
    assert by[("Meet allowed", ok_org)].outcome is Outcome.OK
    bad = by[("token as organizer", gone_org)]
    assert bad.outcome is Outcome.FAIL and "invalid_grant" in bad.message and "reconnect" in (bad.fix or "")
    [waiting] = [s for s in report.steps if s.name == "connected organizers" and s.outcome is Outcome.WARN]
    assert never in waiting.message and gone_org in waiting.message
    with Session(sqlite_engine) as db:
        conn = db.exec(select(GoogleConnection).where(GoogleConnection.google_email == gone_org)).one()
        assert conn.status == ConnectionStatus.REVOKED.value
        assert [p["email"] for p in reconnect_prompts(db, platform.tenant_id)] == [gone_org]
