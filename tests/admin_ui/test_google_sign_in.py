"""Sign in with Google through the admin UI, against the emulator's real OpenID Connect endpoints.

The web app is the real composition root (TestClient); Google is the emulator over HTTP, so the
discovery document, the consent page, the token endpoint and google-auth's ID token verification all run
for real. Each test walks the browser's path: the sign-in page's Google form, Google's consent page
(Allow as some account), and Google's redirect back to ``/admin/login/google/callback``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from admin_ui.web import create_web_app
from connectors.google_emulator.server import EmulatorServer
from engine.admin.google_sign_in import pkce_challenge
from engine.store.models import AuditEvent, Person, PersonStatus, Tenant
from tests.admin_ui.conftest import CALLBACK, CLIENT_ID, CLIENT_SECRET, settings_for, sign_in
from tests.admin_ui.factories import World


def start(browser: TestClient, tenant: str = "acme", next_url: str = "/admin/") -> str:
    """Click "Sign in with Google" on the sign-in page; returns Google's consent URL."""
    page = browser.get("/admin/login")
    assert 'id="sign-in-with-google"' in page.text
    answer = browser.post(
        "/admin/login/google",
        data={"tenant": tenant, "next": next_url, "csrf_token": page.context["csrf_token"]},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def consent(consent_url: str, account: str, decision: str = "allow") -> str:
    """Google's consent page as a person uses it: choose ``account``, Allow; returns the redirect back."""
    page = httpx.get(consent_url)
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    form.update(user=account, decision=decision)
    answer = httpx.post(consent_url.split("?", 1)[0], data=form)
    assert answer.status_code == 303, answer.text
    back = str(answer.headers["location"])
    assert back.startswith(CALLBACK)
    return back


def finish(browser: TestClient, back: str) -> httpx.Response:
    parts = urlsplit(back)
    return browser.get(parts.path + "?" + parts.query, follow_redirects=False)


def sign_in_with_google(browser: TestClient, account: str, tenant: str = "acme") -> httpx.Response:
    return finish(browser, consent(start(browser, tenant), account))


def _audit(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def _error_code(response: httpx.Response) -> str:
    found = re.search(r'id="google-sign-in-error" data-code="([^"]+)"', response.text)
    assert found, response.text
    return found.group(1)


def test_the_consent_url_asks_for_openid_with_state_nonce_pkce_and_the_tenant_domain(browser: TestClient) -> None:
    query = parse_qs(urlsplit(start(browser)).query)
    assert query["scope"] == ["openid email profile"]
    assert query["hd"] == ["acme.example"]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [CALLBACK] and query["client_id"] == [CLIENT_ID]
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
    assert query["state"] != query["nonce"]


def test_an_admin_of_the_workspace_signs_in_with_google(
    browser: TestClient, world: World, engine_under_test: Engine
) -> None:
    answer = finish(browser, consent(start(browser, next_url="/admin/integration"), "admin@acme.example"))
    assert answer.status_code == 303 and answer.headers["location"] == "/admin/integration"
    page = browser.get("/admin/integration")
    assert page.status_code == 200 and "Signed in with Google as admin@acme.example" in page.text
    with Session(engine_under_test) as db:
        person = db.get(Person, world.acme.people["admin"])
        assert person is not None and person.google_user_id  # the Google account (sub) is kept
    [entry] = _audit(engine_under_test, "auth.google_sign_in")
    assert entry.tenant_id == world.acme.tenant_id and entry.subject == "admin@acme.example"
    # the session is a normal server-side one: signing out ends it
    browser.post("/admin/logout", data={"csrf_token": page.context["csrf_token"]})
    assert browser.get("/admin/sessions", follow_redirects=False).status_code == 303


def test_an_organizer_signs_in_and_gets_the_organizer_role_only(browser: TestClient, world: World) -> None:
    assert sign_in_with_google(browser, "organizer@acme.example").status_code == 303
    assert browser.get("/admin/sessions").status_code == 200
    assert browser.get("/admin/integration").status_code == 403  # the granted role decides, as with passwords


def test_an_account_of_another_domain_is_refused(browser: TestClient, engine_under_test: Engine) -> None:
    answer = sign_in_with_google(browser, "admin@globex.example")
    assert answer.status_code == 403 and _error_code(answer) == "wrong_domain"
    assert "acme.example" in answer.text and "globex.example" in answer.text
    assert browser.get("/admin/sessions", follow_redirects=False).status_code == 303  # not signed in
    [entry] = _audit(engine_under_test, "auth.google_refused")
    assert entry.detail["reason"] == "wrong_domain" and entry.detail["hd"] == "globex.example"


def test_a_personal_google_account_is_refused_even_with_the_same_name(browser: TestClient) -> None:
    answer = sign_in_with_google(browser, "admin.acme@gmail.com")
    assert answer.status_code == 403 and _error_code(answer) == "wrong_domain"
    assert "personal Google account" in answer.text


def test_an_unverified_address_is_refused(browser: TestClient) -> None:
    answer = sign_in_with_google(browser, "unverified@acme.example")
    assert answer.status_code == 403 and _error_code(answer) == "email_unverified"


def test_people_without_a_granted_role_or_deactivated_are_refused(
    browser: TestClient, world: World, engine_under_test: Engine
) -> None:
    for account in ("learner@acme.example", "stranger@acme.example"):  # no admin role / not a person
        answer = sign_in_with_google(browser, account)
        assert answer.status_code == 403 and _error_code(answer) == "no_access", account
    with Session(engine_under_test) as db:
        viewer = db.get(Person, world.acme.people["viewer"])
        assert viewer is not None
        viewer.status = PersonStatus.SUSPENDED.value
        db.add(viewer)
        db.commit()
    answer = sign_in_with_google(browser, "viewer@acme.example")
    assert answer.status_code == 403 and _error_code(answer) == "inactive"


def test_another_google_account_with_a_known_address_is_refused(
    browser: TestClient, world: World, engine_under_test: Engine
) -> None:
    with Session(engine_under_test) as db:
        admin = db.get(Person, world.acme.people["admin"])
        assert admin is not None
        admin.google_user_id = "111111111111111111111"  # signed in before from another Google account
        db.add(admin)
        db.commit()
    answer = sign_in_with_google(browser, "admin@acme.example")
    assert answer.status_code == 403 and _error_code(answer) == "other_account"


def test_an_answer_with_another_state_or_from_another_browser_is_refused(app: FastAPI, browser: TestClient) -> None:
    back = consent(start(browser), "admin@acme.example")
    forged = back.replace("state=", "state=x")
    answer = finish(browser, forged)
    assert answer.status_code == 400 and _error_code(answer) == "state_mismatch"
    with TestClient(app, base_url="http://testserver") as stranger:  # Google's answer replayed elsewhere
        answer = finish(stranger, back)
        assert answer.status_code == 400 and _error_code(answer) == "no_pending"
    # and the started sign-in was spent by the first answer: the real one no longer works either
    answer = finish(browser, back)
    assert answer.status_code == 400 and _error_code(answer) == "no_pending"


def test_an_id_token_issued_for_another_sign_in_fails_the_nonce_check(browser: TestClient) -> None:
    first = start(browser)  # an attacker's sign-in, whose consent URL carries its own nonce ...
    second = start(browser)  # ... while this browser's cookie now holds the second sign-in
    state = parse_qs(urlsplit(second).query)["state"][0]
    parts = urlsplit(first)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["state"] = state  # the attacker's code delivered with the victim's state
    query["code_challenge"] = parse_qs(urlsplit(second).query)["code_challenge"][0]
    answer = finish(browser, consent(urlunsplit(parts._replace(query=urlencode(query))), "admin@acme.example"))
    assert answer.status_code == 400 and _error_code(answer) == "nonce_mismatch"


def test_a_code_issued_for_another_pkce_challenge_is_refused_by_google(browser: TestClient) -> None:
    parts = urlsplit(start(browser))
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["code_challenge"] = pkce_challenge("an-attackers-verifier-" + "x" * 40)
    answer = finish(browser, consent(urlunsplit(parts._replace(query=urlencode(query))), "admin@acme.example"))
    assert answer.status_code == 400 and _error_code(answer) == "invalid_grant"
    assert "Invalid code verifier" in answer.text


def test_cancel_at_google_says_so(browser: TestClient) -> None:
    answer = finish(browser, consent(start(browser), "admin@acme.example", decision="deny"))
    assert answer.status_code == 400 and _error_code(answer) == "access_denied"
    assert "cancelled" in answer.text


def test_a_workspace_without_a_google_domain_or_unknown_is_not_offered(
    browser: TestClient, world: World, engine_under_test: Engine
) -> None:
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.other.tenant_id)
        assert tenant is not None
        tenant.google_domain = None
        db.add(tenant)
        db.commit()
    token = browser.get("/admin/login").context["csrf_token"]
    for slug in ("globex", "no-such-workspace"):
        answer = browser.post("/admin/login/google", data={"tenant": slug, "csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 400 and _error_code(answer) == "not_offered", slug
    empty = browser.post("/admin/login/google", data={"tenant": "", "csrf_token": token}, follow_redirects=False)
    assert empty.status_code == 400 and "Fill in the workspace" in empty.text
    assert browser.post("/admin/login/google", data={"tenant": "acme"}).status_code == 403  # CSRF


def test_without_an_oauth_client_the_button_is_not_offered(engine_under_test: Engine, world: World) -> None:
    app = create_web_app(settings_for(engine_under_test.url.render_as_string(hide_password=False)))
    with TestClient(app, base_url="http://testserver") as client:
        page = client.get("/admin/login")
        assert "Sign in with Google" not in page.text
        answer = client.post(
            "/admin/login/google", data={"tenant": "acme", "csrf_token": page.context["csrf_token"]}
        )
        assert answer.status_code == 503 and _error_code(answer) == "not_configured"


def test_google_unreachable_is_a_clear_page(engine_under_test: Engine, world: World) -> None:
    settings = settings_for(
        engine_under_test.url.render_as_string(hide_password=False),
        google_root_url="http://127.0.0.1:9/",
        google_oauth_client_id=CLIENT_ID,
        google_oauth_client_secret=CLIENT_SECRET,
    )
    with TestClient(create_web_app(settings), base_url="http://testserver") as client:
        token = client.get("/admin/login").context["csrf_token"]
        answer = client.post("/admin/login/google", data={"tenant": "acme", "csrf_token": token})
        assert answer.status_code == 503 and _error_code(answer) == "unavailable"
        assert "try again in a minute" in answer.text


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # Google's certificates answer 503: the ID token cannot be verified, so nobody is signed in
        ({"method": "GET", "path": "/oauth2/v1/certs", "error_rate": 1.0, "error_status": 503}, "unavailable"),
        # the token endpoint's answer is lost: the single-use code is not re-sent blindly
        ({"method": "POST", "path": "/token", "lost_rate": 1.0}, "unavailable"),
        # a proxy's HTML instead of Google's JSON
        ({"method": "POST", "path": "/token", "garbled_rate": 1.0}, "invalid_response"),
    ],
)
def test_google_failing_mid_sign_in_is_a_clear_page_and_signs_nobody_in(
    browser: TestClient, emulator: EmulatorServer, rule: dict[str, object], expected: str
) -> None:
    back = consent(start(browser), "admin@acme.example")
    httpx.put(emulator.url + "_emulator/faults", json={"seed": 1, "rules": [rule]}).raise_for_status()
    try:
        answer = finish(browser, back)
    finally:
        httpx.put(emulator.url + "_emulator/faults", json={"rules": []}).raise_for_status()
    assert _error_code(answer) == expected
    assert answer.status_code == (503 if expected == "unavailable" else 400)
    assert browser.get("/admin/sessions", follow_redirects=False).status_code == 303


def _save_domain(client: TestClient, domain: str) -> httpx.Response:
    """Post the Integration page's set-up form as the browser does, every field as shown, the domain typed in."""
    page = client.get("/admin/integration")
    assert page.status_code == 200 and 'name="domain"' in page.text
    shown = page.context["policies"]
    form = {
        "csrf_token": page.context["csrf_token"],
        "domain": domain,
        "mode": page.context["mode"],
        "delegation_method": shown["delegation_method"],
        "directory_admin_email": shown["directory_admin_email"] or "",
        "vendor_owner_emails": shown["vendor_owner_emails"],
    }
    return client.post("/admin/integration/setup", data=form, follow_redirects=False)


def test_a_domain_set_on_the_integration_page_turns_sign_in_with_google_on(
    app: FastAPI, browser: TestClient, world: World, engine_under_test: Engine
) -> None:
    with Session(engine_under_test) as db:  # a tenant created without a domain
        tenant = db.get(Tenant, world.other.tenant_id)
        assert tenant is not None
        tenant.google_domain = None
        db.add(tenant)
        db.commit()
    token = browser.get("/admin/login").context["csrf_token"]
    refused = browser.post("/admin/login/google", data={"tenant": "globex", "csrf_token": token})
    assert refused.status_code == 400 and _error_code(refused) == "not_offered"
    with TestClient(app, base_url="http://testserver") as admin:
        sign_in(admin, "globex", world.other.emails["admin"])
        bad = _save_domain(admin, "https://globex.example")
        assert bad.status_code == 400 and 'id="err-domain"' in bad.text and "without https://" in bad.text
        saved = _save_domain(admin, "Globex.Example")
        assert saved.status_code == 303, saved.text
        page = admin.get("/admin/integration")
        assert 'name="domain" value="globex.example"' in page.text  # shown back as stored
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.other.tenant_id)
        assert tenant is not None and tenant.google_domain == "globex.example"
    [entry] = _audit(engine_under_test, "tenant.setup")
    assert entry.detail == {"domain": [None, "globex.example"]} and entry.actor == "user:admin@globex.example"
    answer = sign_in_with_google(browser, "admin@globex.example", tenant="globex")
    assert answer.status_code == 303, answer.text
    assert "Signed in with Google as admin@globex.example" in browser.get("/admin/").text


def test_after_a_domain_change_the_new_domain_signs_in_and_the_old_is_refused_and_signed_out(
    app: FastAPI, browser: TestClient, emulator: EmulatorServer, world: World, engine_under_test: Engine
) -> None:
    emulator.world.add_user("boss@acme.test", name={"fullName": "Boss"})
    with Session(engine_under_test) as db:
        db.add(Person(tenant_id=world.acme.tenant_id, email="boss@acme.test", admin_role="admin"))
        db.commit()
    assert sign_in_with_google(browser, "admin@acme.example").status_code == 303  # signed in under the old domain
    assert browser.get("/admin/sessions", follow_redirects=False).status_code == 200
    with TestClient(app, base_url="http://testserver") as admin, \
            TestClient(app, base_url="http://testserver") as organizer:
        sign_in(organizer, "acme", world.acme.emails["organizer"])  # never signed in with Google
        sign_in(admin, "acme", world.acme.emails["admin"])  # the same person as above, with a password
        assert _save_domain(admin, "acme.test").status_code == 303
        # every session of a person who signed in with Google outside the new domain ends (a session does not
        # record how it was opened); with passwords on, they sign in again with their password
        assert admin.get("/admin/integration", follow_redirects=False).status_code == 303
        sign_in(admin, "acme", world.acme.emails["admin"])
        assert admin.get("/admin/integration", follow_redirects=False).status_code == 200
        assert organizer.get("/admin/sessions", follow_redirects=False).status_code == 200  # kept
    [entry] = _audit(engine_under_test, "tenant.setup")
    assert entry.detail["domain"] == ["acme.example", "acme.test"]
    assert entry.detail["signed_out"] == ["admin@acme.example"]
    # the Google sign-in of the old domain no longer holds: that session is over, and a new one is refused
    assert browser.get("/admin/sessions", follow_redirects=False).status_code == 303
    old = sign_in_with_google(browser, "admin@acme.example")
    assert old.status_code == 403 and _error_code(old) == "wrong_domain" and "acme.test" in old.text
    assert parse_qs(urlsplit(start(browser)).query)["hd"] == ["acme.test"]
    new = sign_in_with_google(browser, "boss@acme.test")
    assert new.status_code == 303, new.text
    assert "Signed in with Google as boss@acme.test" in browser.get("/admin/").text
