"""End-to-end: a real Chromium signs in to the admin UI with Google, the emulator standing in for Google.

Where it sits: beside ``test_browser.py`` (whose Chromium set-up it reuses). Muster runs under uvicorn
with an OAuth client registered at the emulator (seeded with the sample customer, ../shared/data); the
browser clicks "Sign in with Google", meets the emulator's consent page (Google's discovery document,
PKCE, nonce and ``hd`` behind it), and comes back signed in, or to a page saying why not.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from sqlmodel import Session, SQLModel, select

from engine.settings import Settings
from engine.store.models import AuditEvent, Person, Tenant
from engine.store.unit_of_work import make_engine
from tests.admin_ui.test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _need_browser, shot
from tests.conftest import SHARED_DATA

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN = "it-admin@acme.example"
CLIENT_ID, CLIENT_SECRET = "6160-muster.apps.googleusercontent.com", "emulated-sign-in-secret"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, str]]:
    _need_browser()
    from admin_ui.web import create_web_app
    from connectors.google_emulator.server import EmulatorServer

    tmp = tmp_path_factory.mktemp("google-sign-in")
    workspace = json.loads((SHARED_DATA / "acme-workspace.json").read_text())
    with EmulatorServer(seed=workspace) as emulator:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        emulator.world.add_oauth_client(CLIENT_ID, CLIENT_SECRET, [url + "/admin/login/google/callback"])
        other = workspace["vendor"]["ownerAccounts"][0]  # an account of another Google Workspace
        settings = Settings(
            database_url=f"sqlite:///{tmp / 'muster.db'}",
            redis_url=None,
            google_root_url=emulator.url,
            secret_key="g" * 48,
            base_url=url,
            var_dir=tmp,
            google_oauth_client_id=CLIENT_ID,
            google_oauth_client_secret=CLIENT_SECRET,
        )
        engine = make_engine(settings.database_url)
        SQLModel.metadata.create_all(engine)
        with Session(engine) as db:
            tenant = Tenant(slug="acme", name="Acme Learning", google_domain="acme.example")
            db.add(tenant)
            db.flush()
            # No password: this admin signs in with Google only.
            db.add(Person(tenant_id=tenant.id, email=ADMIN, display_name="Ida Admin", admin_role="admin"))
            db.commit()
        app = create_web_app(settings, start_worker=False)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the web app did not start"
            time.sleep(0.05)
        try:
            yield url, engine, other
        finally:
            server.should_exit = True
            thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser(stack: tuple[str, Any, str]) -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _sign_in_with_google(browser: Any, url: str, account: str) -> Any:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(url + "/admin/sessions")
    assert "/admin/login" in page.url
    page.fill("#google-tenant", "acme")
    page.click("#sign-in-with-google")
    # Google's consent page (the emulator's): the identity scopes in Google's words, then the account
    page.wait_for_selector("text=See your primary Google Account email address")
    first = page.locator("input[name=user]").first.get_attribute("value") or ""
    assert first.endswith("@acme.example")  # hd=acme.example: that domain's accounts are listed first
    shot(page, "google-consent")
    page.check(f"input[value='{account}']")
    page.click("button[value=allow]")
    page.wait_for_load_state()
    return page


def test_an_admin_of_the_workspace_signs_in_with_google(browser: Any, stack: tuple[str, Any, str]) -> None:
    url, engine, _other = stack
    page = _sign_in_with_google(browser, url, ADMIN)
    try:
        page.wait_for_url(re.compile(r".*/admin/sessions$"))
        assert "Signed in with Google as it-admin@acme.example" in page.locator(".flash.ok").inner_text()
        page.goto(url + "/admin/integration")  # an admin's page: the granted role came with the sign-in
        assert page.locator("h1").first.inner_text()
        assert "/admin/integration" in page.url
        with Session(engine) as db:
            assert db.exec(select(AuditEvent).where(AuditEvent.action == "auth.google_sign_in")).first()
            admin = db.exec(select(Person).where(Person.email == ADMIN)).one()
            assert admin.google_user_id == "527929853653246389909"  # the Google account id (sub) of the seed
    finally:
        page.context.close()


def test_an_account_of_another_domain_is_refused(browser: Any, stack: tuple[str, Any, str]) -> None:
    url, _engine, other = stack
    page = _sign_in_with_google(browser, url, other)
    try:
        page.wait_for_url(re.compile(r".*/admin/login/google/callback.*"))
        error = page.locator("#google-sign-in-error")
        assert error.get_attribute("data-code") == "wrong_domain"
        assert "this workspace signs in with acme.example accounts only" in error.inner_text()
        shot(page, "google-refused")
        page.goto(url + "/admin/sessions")
        assert "/admin/login" in page.url  # not signed in
    finally:
        page.context.close()
