"""End-to-end: a real Chromium drives the admin UI served by uvicorn, with the Google emulator behind it.

Where it sits: the top of the admin UI tests. The web app is the real composition root with its embedded
sync worker; Google is the Workspace emulator seeded with the sample customer (../shared/data), acting
through a service-account key with domain-wide delegation. Screenshots of the main pages are written to
``docs/screenshots/`` when ``MUSTER_SCREENSHOTS=1`` (to refresh the README's pictures), else to a
temporary folder, so a test run never changes tracked files. Skipped with a reason when Chromium or
Playwright is missing (failing instead when ``MUSTER_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlmodel import Session, SQLModel, select

from engine.admin.accounts import hash_password
from engine.settings import Settings
from engine.store.models import (
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    GoogleConnection,
    LiveSession,
    Person,
    SessionHost,
    Tenant,
)
from engine.store.unit_of_work import make_engine
from tests.conftest import REPO_ROOT, SHARED_DATA
from tests.services import services_required

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("MUSTER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = (
    REPO_ROOT / "docs" / "screenshots"
    if os.environ.get("MUSTER_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "muster-screenshots"
)
ADMIN, ORGANIZER, REVOKED = (
    "it-admin@acme.example",
    "ada.torvalds0@acme.example",
    "alan.perlman1@acme.example",
)
PASSWORD = "browser-test-password"
OAUTH_CLIENT, OAUTH_SECRET = "5150-muster.apps.googleusercontent.com", "emulated-oauth-secret"
VENDOR_OWNERS = json.loads((SHARED_DATA / "acme-workspace.json").read_text())["vendor"]["ownerAccounts"]


def _need_browser() -> Any:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright (python) is not installed"
        sync_playwright = None
    if reason is None and not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM}; install it with `apt-get install -y chromium`"
    if reason is not None:
        if services_required():
            pytest.fail(f"MUSTER_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    url: str
    settings: Settings
    engine: Any
    session_ids: dict[str, Any]
    emulator: Any = None


def _seed(settings: Settings) -> dict[str, Any]:
    engine = make_engine(settings.database_url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as db:
        tenant = Tenant(
            slug="acme",
            name="Acme Learning",
            google_domain="acme.example",
            integration_mode="delegation",
            delegation_method="domain_wide",
            directory_admin_email=ADMIN,
            fallback_owner_email=ORGANIZER,
            vendor_owner_emails=list(VENDOR_OWNERS),
        )
        db.add(tenant)
        db.flush()
        admin = Person(
            tenant_id=tenant.id,
            email=ADMIN,
            display_name="Ida Admin",
            roles=["admin"],
            admin_role="admin",
            password_hash=hash_password(PASSWORD),
        )
        ada = Person(
            tenant_id=tenant.id,
            email=ORGANIZER,
            display_name="Ada Torvalds",
            roles=["organizer"],
            admin_role="organizer",
            password_hash=hash_password(PASSWORD),
        )
        alan = Person(tenant_id=tenant.id, email=REVOKED, display_name="Alan Perlman", roles=["organizer"])
        db.add_all([admin, ada, alan])
        db.flush()
        db.add(
            GoogleConnection(
                tenant_id=tenant.id,
                person_id=alan.id,
                google_email=REVOKED,
                kind=ConnectionKind.OAUTH.value,
                status=ConnectionStatus.REVOKED.value,
                last_error="Google refused the stored access (invalid_grant). Reconnect Google.",
            )
        )
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=5)
        old = LiveSession(
            tenant_id=tenant.id,
            external_id="sess-alan",
            title="Kubernetes basics",
            start_at=start,
            end_at=start + timedelta(hours=1),
            time_zone="America/New_York",
        )
        db.add(old)
        db.flush()
        db.add(SessionHost(session_id=old.id, person_id=alan.id, role="organizer", position=0))
        db.add(
            CalendarBinding(
                tenant_id=tenant.id,
                session_id=old.id,
                sync_status="blocked",
                error_class="auth",
                last_error="alan.perlman1@acme.example revoked access; no other host can act",
            )
        )
        db.commit()
        return {"old": old.id}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    _need_browser()
    from admin_ui.web import create_web_app
    from connectors.google_emulator.seed import service_account_key
    from connectors.google_emulator.server import EmulatorServer
    from connectors.google_emulator.state import EmulatorOptions

    tmp = tmp_path_factory.mktemp("browser")
    workspace = json.loads((SHARED_DATA / "acme-workspace.json").read_text())
    options = EmulatorOptions(conference_delay_s=0.2, room_response_delay_s=0.1)
    with EmulatorServer(seed=workspace, options=options) as emulator:
        sa_email = workspace["vendor"]["serviceAccount"]["client_email"]
        key = service_account_key(emulator.world, sa_email, emulator.url)
        assert key is not None
        # Muster's own Workspace authorizes its service account for its owner accounts (vendor mode).
        vendor = workspace["vendor"]
        emulator.world.add_delegation_grant(
            vendor["serviceAccount"]["client_id"],
            vendor["domain"],
            ["https://www.googleapis.com/auth/calendar"],
        )
        key_file = tmp / "sa.json"
        key_file.write_text(json.dumps(key))
        settings = Settings(
            database_url=f"sqlite:///{tmp / 'muster.db'}",
            redis_url=None,
            google_root_url=emulator.url,
            secret_key="b" * 48,
            base_url="http://127.0.0.1",
            debounce_ms=50,
            var_dir=tmp,
            google_service_account_file=key_file,
            webhooks_allow_loopback=True,  # test 8's webhook receiver listens on 127.0.0.1
        )
        ids = _seed(settings)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        emulator.world.add_oauth_client(OAUTH_CLIENT, OAUTH_SECRET, [base_url + "/oauth/google/callback"])
        settings = Settings(
            **{
                **settings.__dict__,
                "base_url": base_url,
                "google_oauth_client_id": OAUTH_CLIENT,
                "google_oauth_client_secret": OAUTH_SECRET,
            }
        )
        app = create_web_app(settings, start_worker=True)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
            time.sleep(0.05)
        try:
            yield Stack(
                url=f"http://127.0.0.1:{port}",
                settings=settings,
                engine=make_engine(settings.database_url),
                session_ids=ids,
                emulator=emulator,
            )
        finally:
            server.should_exit = True
            thread.join(timeout=15)


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(15_000)
        yield pg
        context.close()
        browser.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_1_sign_in(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/admin/sessions")
    assert "/admin/login" in page.url
    shot(page, "sign-in")
    page.fill("input[name=tenant]", "acme")
    page.fill("input[name=email]", ADMIN)
    page.fill("input[name=password]", "wrong password!")
    page.click("button[type=submit]")
    assert page.locator(".flash.bad").inner_text().startswith("Tenant, email or password is not right")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/sessions$"))
    assert "Signed in as it-admin@acme.example" in page.locator(".flash.ok").inner_text()


def test_2_test_connection(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/admin/integration")
    assert page.locator("#dwd-client-id").inner_text() == "104857600000000000001"
    page.click("#test-connection")
    rows = page.locator("#check-results tbody tr")
    assert rows.count() >= 3, page.locator("main").inner_text()
    outcomes = [rows.nth(i).get_attribute("class") for i in range(rows.count())]
    assert "step-ok" in outcomes, outcomes
    shot(page, "integration")


def test_2b_organizer_connects_google(stack: Stack, page: Any) -> None:
    context = page.context.browser.new_context(viewport={"width": 1366, "height": 900})
    ada = context.new_page()
    try:
        ada.goto(stack.url + "/admin/sessions/new")
        ada.fill("input[name=tenant]", "acme")
        ada.fill("input[name=email]", ORGANIZER)
        ada.fill("input[name=password]", PASSWORD)
        ada.click("button[type=submit]")
        # In delegation mode, an organizer without a Google connection is asked to connect first
        ada.wait_for_url(re.compile(r".*/admin/sessions/new$"))
        assert ada.locator("#connect-first").count() == 1
        ada.click("#connect-first a")
        ada.click("#connect-google")
        # Google's consent page (the emulator's): choose Ada and allow
        ada.check(f"input:not([type=hidden])[value='{ORGANIZER}']")
        ada.click("button[value=allow]")
        ada.wait_for_url(re.compile(r".*/admin/account$"))
        assert "Google connected as ada.torvalds0@acme.example" in ada.locator(".flash.ok").inner_text()
        assert "connected" in ada.locator("main .badge").first.inner_text()
        shot(ada, "my-google")
        ada.goto(stack.url + "/admin/sessions/new")
        assert ada.locator("#connect-first").count() == 0
    finally:
        context.close()


def test_3_create_session_with_meet_and_room_and_see_it_synced(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/admin/sessions/new")
    day = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    page.fill("input[name=title]", "Data modelling workshop")
    page.fill("input[name=start_date]", day)
    page.fill("input[name=start_time]", "10:00")
    page.fill("input[name=end_time]", "11:30")
    page.select_option("select[name=time_zone]", "Europe/Berlin")
    page.fill("input[name=organizer]", ORGANIZER)
    page.check("input[name=video][value=meet]")
    page.check("input[name=room_wanted]")
    page.fill("input[name=room_min_capacity]", "8")
    page.click("#find-rooms")
    rooms = page.locator("input[name=room_email]:not([value=''])")
    assert rooms.count() >= 1, page.locator("#rooms-message").inner_text()
    rooms.first.check()
    picked = rooms.first.get_attribute("value")
    shot(page, "session-form")
    page.click("form.form-grid button.primary")
    page.wait_for_url(re.compile(r".*/admin/sessions/[0-9a-f-]{36}$"))
    assert "Session created" in page.locator(".flash.ok").inner_text()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        page.reload()
        if page.locator("#meet-link").count():
            break
        time.sleep(1)
    shot(page, "session-detail")
    page.goto(stack.url + "/admin/sessions")
    assert page.locator("text=Data modelling workshop").count() == 1
    # rooms show by their Directory name, not their resource email
    assert "@resource.calendar.google.com" not in page.locator("table.data").inner_text()
    shot(page, "sessions")
    with Session(stack.engine) as db:  # the local time was stored as the right UTC instant, room as picked
        created = db.exec(select(LiveSession).where(LiveSession.title == "Data modelling workshop")).one()
        assert created.start_at == datetime.fromisoformat(f"{day}T10:00:00+01:00").astimezone(UTC)
        assert created.room_email == picked and created.video == "meet"
    page.go_back()
    assert page.locator("#meet-link").count() == 1, page.locator("main").inner_text()
    room_cell = page.locator("section.card").nth(1).inner_text()
    assert picked is not None and picked not in room_cell and "accepted" in room_cell, room_cell
    assert page.locator("#meet-link").inner_text().startswith("https://meet.google.com/")
    with Session(stack.engine) as db:
        s = db.exec(select(LiveSession).where(LiveSession.title == "Data modelling workshop")).one()
        assert s.start_at == datetime.fromisoformat(f"{day}T10:00:00+01:00").astimezone(UTC)
        binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == s.id)).one()
        assert binding.room_email == picked


def test_4_revoked_organizer_is_flagged(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/admin/organizers")
    row = page.locator(f"tr[data-email='{REVOKED}']")
    assert "revoked" in row.inner_text()
    assert "invalid_grant" in row.inner_text()
    assert "/admin/account" in row.inner_text()
    shot(page, "organizers")


def test_5_health_and_audit(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/admin/health")
    assert page.locator("text=Kubernetes basics").count() == 1
    # live figures from the sync engine: the reconciles and Google calls of the session created above
    tiles = {
        page.locator(".tile .label").nth(i).inner_text().lower(): page.locator(".tile .value").nth(i).inner_text()
        for i in range(page.locator(".tile").count())
    }
    assert tiles["queue depth"].isdigit(), tiles
    assert int(tiles["reconciles (total)"]) >= 1, tiles
    assert tiles["last sync"] != "—", tiles
    quota = page.locator("#quota").inner_text()
    assert ORGANIZER in quota and "calls" in quota, quota
    shot(page, "health")
    page.goto(stack.url + "/admin/audit?action=session.")
    assert page.locator("table.data tbody tr").count() >= 1
    shot(page, "audit")


def test_6_switch_mode_through_the_preview(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/admin/integration")
    page.select_option("select[name=target_mode]", "vendor")
    page.click("#preview-switch")
    plan = page.locator("#switch-plan tbody tr")
    assert plan.count() == 2, page.locator("#switch").inner_text()  # the created session and Alan's
    page.locator("#switch").scroll_into_view_if_needed()
    shot(page, "mode-switch-preview")
    page.fill("#switch-preview input[name=confirm]", "vendor")
    page.click("#apply-switch")
    page.wait_for_url(re.compile(r".*/admin/integration(#switch)?$"))
    assert "Switch to vendor mode started" in page.locator(".flash.ok").inner_text()
    assert "vendor mode" in page.locator(".page-head").first.inner_text()
    progress = page.locator("#switch-progress")
    assert "delegation → vendor" in progress.inner_text()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "done" not in progress.inner_text():
        time.sleep(1)
        page.reload()
        progress = page.locator("#switch-progress")
    shot(page, "mode-switch-progress")
    assert "2 of 2 sessions moved" in progress.inner_text(), progress.inner_text()
    page.goto(stack.url + "/admin/sessions")
    assert page.locator("table.data tbody tr .badge.ok", has_text="synced").count() == 2
    shot(page, "sessions-synced")


def test_7_people_page_adds_changes_and_removes_a_person(stack: Stack, page: Any) -> None:
    newcomer = "grace.newcomer@acme.example"
    page.goto(stack.url + "/admin/people")
    assert page.locator(f"#people tr[data-email='{ADMIN}'] .role").inner_text() == "admin"
    # Add someone who hosts nothing, as a viewer
    page.fill("#add-person input[name=email]", newcomer)
    page.fill("#add-person input[name=display_name]", "Grace Newcomer")
    page.select_option("#add-person select[name=role]", "viewer")
    page.click("#add-person-submit")
    page.wait_for_url(re.compile(r".*/admin/people$"))
    assert f"{newcomer} added as viewer." in page.locator(".flash.ok").inner_text()
    row = page.locator(f"#people tr[data-email='{newcomer}']")
    assert row.locator(".role").inner_text() == "viewer"
    shot(page, "people")
    # Change the role in place
    row.locator("select[name=role]").select_option("organizer")
    row.locator("button.change-role").click()
    page.wait_for_url(re.compile(r".*/admin/people$"))
    assert page.locator(f"#people tr[data-email='{newcomer}'] .role").inner_text() == "organizer"
    # A one-time sign-in link: shown once; it opens the welcome page where they choose a password
    page.locator(f"#people tr[data-email='{newcomer}'] button.sign-in-link").click()
    link = page.locator("#sign-in-link code").inner_text().strip()
    assert "/admin/welcome?token=" in link
    context = page.context.browser.new_context()
    try:
        grace = context.new_page()
        grace.goto(link)
        grace.fill("input[name=password]", "graces-own-password")
        grace.fill("input[name=password_again]", "graces-own-password")
        grace.click("button[type=submit]")
        grace.wait_for_url(re.compile(r".*/admin/sessions$"))
    finally:
        context.close()
    # The last admin cannot be removed; the newcomer can, and loses the role and the password
    page.goto(stack.url + "/admin/people")
    page.locator(f"#people tr[data-email='{ADMIN}'] button.remove").click()
    assert "last admin" in page.locator(f"#people tr[data-email='{ADMIN}']").inner_text()
    page.locator(f"#people tr[data-email='{newcomer}'] button.remove").click()
    page.wait_for_url(re.compile(r".*/admin/people$"))
    assert f"{newcomer} removed" in page.locator(".flash.ok").inner_text()
    assert page.locator(f"#people tr[data-email='{newcomer}']").count() == 0
    with Session(stack.engine) as db:
        gone = db.exec(select(Person).where(Person.email == newcomer)).one()
        assert gone.admin_role is None and gone.password_hash is None
def test_8_webhooks_and_the_decline_policy_set_in_the_ui_drive_the_engine(stack: Stack, page: Any) -> None:
    from engine.store.models import Enrollment, WebhookDelivery
    from engine.store.unit_of_work import unit_of_work
    from tests.webhook_receiver import Receiver

    hook_secret = "browser-hook-secret-" + "9" * 20
    receiver = Receiver(hook_secret).start()
    try:
        # Given webhooks and "cancel and promote" saved on the Integration page
        page.goto(stack.url + "/admin/integration#webhooks")
        page.fill("input[name='webhooks.url']", receiver.url)
        page.fill("input[name=webhook_secret]", hook_secret)
        page.select_option("select[name='answers.on_decline']", "cancel_and_promote")
        page.click("#save-policies")
        assert "Policies saved" in page.locator(".flash.ok").inner_text()
        # and a learner enrolled and one waitlisted on the synced session
        with Session(stack.engine) as db:
            session = db.exec(select(LiveSession).where(LiveSession.title == "Data modelling workshop")).one()
            tenant_id = session.tenant_id
        declining, waiting = "grace.learner@acme.example", "linus.learner@acme.example"
        with unit_of_work(stack.engine) as uow:
            for email, status in ((declining, "enrolled"), (waiting, "waitlisted")):
                person = Person(tenant_id=tenant_id, email=email, roles=["learner"])
                uow.db.add(person)
                uow.db.flush()
                uow.db.add(Enrollment(session_id=session.id, person_id=person.id, status=status))
            row = uow.db.get(LiveSession, session.id)
            assert row is not None
            row.revision += 1
            uow.enqueue_session(session.id)
        revision = row.revision
        binding = _wait_binding(stack, session.id, lambda b: b.event_id is not None and b.synced_revision == revision)
        # When the learner declines in Google and the session is reconciled (as the change feed does)
        assert stack.emulator.world.set_attendee_response(binding.calendar_id, binding.event_id, declining,
                                                          "declined", "clash with another course")
        with unit_of_work(stack.engine) as uow:  # what the change feed does: mark it changed in Google, reconcile
            marked = uow.db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session.id)).one()
            marked.remote_changed_at = datetime.now(UTC)
            uow.db.add(marked)
            uow.enqueue_session(session.id)
        receiver.wait_for(lambda: receiver.events("enrollment.promoted"), timeout_s=30)
        # Then the session page shows the answer, the cancellation and the promotion
        page.goto(stack.url + f"/admin/sessions/{session.id}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            cells = page.locator("table.data tbody tr").all()
            rows = {r.locator("td").first.inner_text(): r.inner_text() for r in cells}
            if declining in rows and "cancelled" in rows[declining]:
                break
            time.sleep(0.5)
            page.reload()
        assert "declined" in rows[declining] and "clash with another course" in rows[declining], rows
        assert "enrolled" in rows[waiting], rows
        [event] = [e for e in stack.emulator.world.events.get(binding.calendar_id, {}).values()
                   if e.id == binding.event_id]
        guests = {a["email"] for a in event.data.get("attendees") or []}
        assert waiting in guests and declining not in guests, guests
        # and the Webhooks page lists what was told; a replay sends the same id again, which the receiver drops
        page.goto(stack.url + "/admin/webhooks")
        promoted = page.locator("tr", has_text="enrollment.promoted")
        assert promoted.count() == 1 and "delivered" in promoted.inner_text()
        shot(page, "webhooks")
        promoted.locator("button", has_text="Replay").click()
        assert "will be sent again" in page.locator(".flash.ok").inner_text()
        receiver.wait_for(lambda: receiver.duplicates >= 1, timeout_s=15)
        assert receiver.bad_signatures == 0
        with Session(stack.engine) as db:
            kinds = {d.event_type for d in db.exec(select(WebhookDelivery)).all()}
        assert {"enrollment.cancelled_by_decline", "enrollment.promoted", "enrollment.response_changed"} <= kinds
    finally:
        receiver.stop()


def _wait_binding(stack: Stack, session_id: Any, ready: Any, timeout_s: float = 30) -> CalendarBinding:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with Session(stack.engine) as db:
            binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session_id)).first()
        if binding is not None and ready(binding):
            return binding
        time.sleep(0.2)
    raise AssertionError(f"session {session_id} did not sync in {timeout_s} s")
