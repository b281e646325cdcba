"""``muster demo --exit-after-seed``: the sample customer is seeded through the REST API, then it exits.

The credentials the demo prints must work: the admin and the organizer sign in through the admin UI
(the real web app on the demo's own database) and land on the sessions page with their role.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from admin_ui.auth import CurrentUser
from admin_ui.web import create_web_app
from engine.demo import main as demo
from engine.demo.delegation import wants_delegation
from engine.settings import load_settings
from tests.conftest import SHARED_DATA


def test_demo_seeds_and_exits(tmp_path: Path) -> None:
    catalog = SHARED_DATA / "acme-catalog.json"
    assert catalog.is_file(), f"sample data missing at {SHARED_DATA}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    args = [
        sys.executable,
        "-c",
        "from engine.cli.main import main; main()",
        "demo",
        "--exit-after-seed",
        "--emulator-port",
        "0",
        "--var-dir",
        str(tmp_path / "demo"),
    ]
    sessions = json.loads(catalog.read_text())["sessions"]
    delegated_ids = {s["externalId"] for s in sessions if wants_delegation(s)}
    vendor_count = len(sessions) - len(delegated_ids)
    assert 0 < vendor_count < len(sessions)
    first = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert first.returncode == 0, first.stderr
    assert f"Tenant 'acme': {vendor_count} sessions ingested through the REST API" in first.stdout
    assert f"Tenant 'acme-delegated' (delegation mode, domain-wide delegation): {len(delegated_ids)} sessions" in (
        first.stdout)
    assert re.search(r"/_emulator/calendar/ada\.torvalds0@acme\.example\?week=2026-11-30", first.stdout)
    assert "http://127.0.0.1:8000/docs" in first.stdout
    key = re.search(r"API key:\s+(mk_\S+)", first.stdout)
    assert key is not None

    db_file = tmp_path / "demo" / "muster.db"
    first_counts = table_counts(db_file)

    # Running it again is idempotent: same tenants, same sessions, a fresh key (the old one revoked).
    second = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert second.returncode == 0, second.stderr
    second_counts = table_counts(db_file)
    # Each run's emulator starts empty: the second run reconciles every session before printing, so the
    # events it reports are in its own emulator, as many as the first run's.
    events = [re.search(r"Sync \(vendor mode\): (\d+) events", run.stdout) for run in (first, second)]
    assert events[0] is not None and events[1] is not None, second.stdout
    assert int(events[0][1]) > 0 and events[1][1] == events[0][1]
    # The deliberately suspended organizer's expected warning is one readable line, not the Google client's too
    assert "googleapiclient" not in second.stderr + second.stdout
    # ... and finding this run's empty emulator without the events the database recorded is no warning either
    assert "calendar.events.get" not in second.stderr, second.stderr
    # The Workspace's deliberately suspended organizer is one readable line, once per session it organizes
    suspended = [u["primaryEmail"] for u in json.loads((SHARED_DATA / "acme-workspace.json").read_text())["users"]
                 if u.get("suspended")]
    organized = {s["externalId"] for s in sessions if s["organizer"].lower() in suspended}
    lines = [line for line in (second.stderr + second.stdout).splitlines() if any(e in line for e in suspended)]
    assert suspended and 0 < len(lines) <= len(organized), lines
    assert all("cannot act in Google Calendar" in line for line in lines), lines
    for table in ("tenant", "live_session", "person", "session_host", "enrollment"):
        assert second_counts[table] == first_counts[table], table
    engine = sa.create_engine(f"sqlite:///{db_file}")
    with engine.connect() as conn:
        acme = conn.execute(sa.text("SELECT id FROM tenant WHERE slug = 'acme'")).scalars().all()
        assert len(acme) == 1
        where = {"t": acme[0]}
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM live_session WHERE tenant_id = :t"), where
            ).scalar_one()
            == vendor_count
        )
        # identical PUTs change nothing: every acme session is still at its first revision
        assert (
            conn.execute(
                sa.text("SELECT max(revision) FROM live_session WHERE tenant_id = :t"), where
            ).scalar_one()
            == 1
        )
        live_keys = (
            "SELECT count(*) FROM api_key WHERE tenant_id = :t AND name = 'demo' AND revoked_at IS NULL"
        )
        assert conn.execute(sa.text(live_keys), where).scalar_one() == 1
        waitlisted = conn.execute(sa.text(
            "SELECT count(*) FROM enrollment e JOIN live_session s ON s.id = e.session_id "
            "WHERE e.status = 'waitlisted'"
        )).scalar_one()
        assert waitlisted == sum(1 for s in sessions for e in s.get("enrollments", []) if e["status"] == "waitlisted")
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
        # The two demo tenants share one Workspace and hold distinct sessions: nobody (learner or host) sees a
        # session twice; the delegated tenant's sessions keep their learners
        by_tenant = conn.execute(sa.text(
            "SELECT t.slug, s.external_id FROM live_session s JOIN tenant t ON t.id = s.tenant_id"
        )).all()
        delegated = {external for slug, external in by_tenant if slug == "acme-delegated"}
        vendor = {external for slug, external in by_tenant if slug == "acme"}
        assert delegated == delegated_ids and not delegated & vendor
        learners = conn.execute(sa.text(
            "SELECT count(*) FROM enrollment e JOIN live_session s ON s.id = e.session_id "
            "JOIN tenant t ON t.id = s.tenant_id WHERE t.slug = 'acme-delegated'"
        )).scalar_one()
        assert learners > 0
        # Set up through the CLI: each change is audited as `cli`, and each tenant has exactly one live demo key
        for slug in ("acme", "acme-delegated"):
            keys = conn.execute(sa.text(
                "SELECT count(*) FROM api_key k JOIN tenant t ON t.id = k.tenant_id "
                "WHERE t.slug = :s AND k.name = 'demo' AND k.revoked_at IS NULL"), {"s": slug}).scalar_one()
            assert keys == 1, slug
        actors = set(conn.execute(sa.text(
            "SELECT DISTINCT actor FROM audit_event WHERE action IN ('tenant.setup', 'tenant.api_key', "
            "'person.role_granted', 'person.password_set')")).scalars())
        assert actors == {"cli"}, actors
    engine.dispose()

    # The second run printed fresh credentials (the first run's password no longer works).
    first_creds, creds = printed_credentials(first.stdout), printed_credentials(second.stdout)
    assert creds.tenants == ["acme", "acme-delegated"]
    assert (creds.admin, creds.organizer) == ("it-admin@acme.example", "ada.torvalds0@acme.example")
    assert first_creds.password != creds.password
    var_dir = tmp_path / "demo"
    settings = load_settings({"MUSTER_VAR_DIR": str(var_dir), "MUSTER_DATABASE_URL": f"sqlite:///{db_file}"})
    app = create_web_app(settings, start_worker=False)
    with TestClient(app, base_url="http://testserver") as client:
        for tenant in creds.tenants:
            admin = sign_in_through_ui(client, tenant, creds.admin, creds.password)
            assert admin.email == creds.admin and admin.tenant_slug == tenant and admin.is_admin
            organizer = sign_in_through_ui(client, tenant, creds.organizer, creds.password)
            assert organizer.email == creds.organizer and organizer.tenant_slug == tenant
            assert organizer.roles == ("organizer",) and not organizer.is_admin
        stale = attempt_sign_in(client, "acme", creds.admin, first_creds.password)
        assert stale.status_code == 400 and "not right" in stale.text


@dataclass(frozen=True)
class Credentials:
    tenants: list[str]
    password: str
    admin: str
    organizer: str


def printed_credentials(stdout: str) -> Credentials:
    """The admin UI sign-in block of the demo's summary."""
    head = re.search(r"^Admin UI sign-in \(tenants: ([^;]+); password for both: (\S+)\):$", stdout, re.M)
    admin = re.search(r"^\s+admin:\s+(\S+)$", stdout, re.M)
    organizer = re.search(r"^\s+organizer:\s+(\S+)$", stdout, re.M)
    assert head and admin and organizer, stdout
    tenants = [t.strip() for t in head.group(1).split(",")]
    return Credentials(tenants, head.group(2), admin.group(1), organizer.group(1))


def attempt_sign_in(client: TestClient, tenant: str, email: str, password: str) -> httpx.Response:
    client.cookies.clear()
    token = client.get("/admin/login").context["csrf_token"]  # type: ignore[attr-defined]
    form = {"tenant": tenant, "email": email, "password": password, "csrf_token": token, "next": "/admin/"}
    return client.post("/admin/login", data=form, follow_redirects=True)


def sign_in_through_ui(client: TestClient, tenant: str, email: str, password: str) -> CurrentUser:
    """Sign in through the real form; the browser ends on the sessions page as ``email``."""
    page = attempt_sign_in(client, tenant, email, password)
    assert page.status_code == 200, page.text
    assert page.url.path == "/admin/sessions", page.url
    assert page.template.name == "admin/sessions/list.html"  # type: ignore[attr-defined]
    assert f"Signed in as {email}." in page.text
    user = page.context["user"]  # type: ignore[attr-defined]
    assert isinstance(user, CurrentUser)
    return user


def table_counts(db_file: Path) -> dict[str, int]:
    engine = sa.create_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}
    finally:
        engine.dispose()


def test_demo_without_sample_data_says_where_it_looked(tmp_path: Path) -> None:
    ctx = demo.DemoContext(var_dir=tmp_path / "demo", data_dir=tmp_path / "nowhere", echo=lambda _line: None)
    quieted = [logging.getLogger(name) for name in ("engine.runtime.wiring", "googleapiclient.http")]
    before = [lg.level for lg in quieted]
    with pytest.raises(demo.DemoError, match=r"nowhere/acme-workspace\.json is missing"):
        demo.run(ctx, exit_after_seed=True)
    # the demo quiets the per-call lines only while it runs: an in-process run leaves the process's logging as it was
    assert [lg.level for lg in quieted] == before


def test_the_demo_allows_webhooks_to_a_receiver_on_its_own_machine(tmp_path: Path) -> None:
    """The demo runs on one machine, so it turns MUSTER_WEBHOOKS_ALLOW_LOOPBACK on, explicitly, for itself and
    for the `muster` commands its set-up runs (production leaves it off)."""
    ctx = demo.DemoContext(var_dir=tmp_path / "demo", echo=lambda _line: None)
    demo.configure(ctx)
    assert ctx.settings is not None and ctx.settings.webhooks_allow_loopback is True
    assert ctx.cli_env["MUSTER_WEBHOOKS_ALLOW_LOOPBACK"] == "1"
