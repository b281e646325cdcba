"""A tenant chooses how its people sign in: passwords, Sign in with Google, or both (never neither).

Round trips through Muster's own interfaces: the Integration page's policies form and the admin REST API
write ``Tenant.settings["sign_in"]`` through the one schema (:class:`policies.sign_in.SignInSettings`),
and the sign-in views read it back through the same schema.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from engine.admin.people import issue_admin_token, sign_in_link
from engine.store.models import Tenant
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.conftest import csrf_of, post_login, sign_in
from tests.admin_ui.factories import World
from tests.admin_ui.test_google_sign_in import _error_code, sign_in_with_google


def _save_sign_in_policy(client: TestClient, **boxes: bool) -> object:
    form = {"csrf_token": csrf_of(client), "section": "sign_in"}
    form.update({f"sign_in.{k}": "1" for k, on in boxes.items() if on})
    return client.post("/admin/integration/policies", data=form, follow_redirects=False)


def test_a_google_only_workspace_refuses_passwords_and_sign_in_links(
    app: FastAPI, browser: TestClient, world: World, engine_under_test: Engine, sent: list[uuid.UUID]
) -> None:
    admin = sign_in(TestClient(app, base_url="http://testserver"), "acme", world.acme.emails["admin"])
    saved = _save_sign_in_policy(admin, google=True)
    assert getattr(saved, "status_code", None) == 303
    assert sent == []  # how people sign in shapes no event: no session is re-synced
    boxes = admin.get("/admin/integration").text.split('id="sign-in-policy"', 1)[1].split("</fieldset>", 1)[0]
    assert 'name="sign_in.google" value="1" checked' in boxes
    assert 'name="sign_in.passwords" value="1" checked' not in boxes
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None and tenant.settings["sign_in"] == {"passwords": False, "google": True}
    # the right password is refused, with the way that works
    refused = post_login(browser, world.acme.emails["viewer"])
    assert refused.status_code == 400 and "signs in with Google" in refused.context["error"]  # type: ignore[attr-defined]
    # a one-time sign-in link cannot set a password either
    with unit_of_work(engine_under_test) as uow:
        acme = uow.db.get(Tenant, world.acme.tenant_id)
        assert acme is not None
        link = sign_in_link(db=uow.db, tenant=acme, email=world.acme.emails["viewer"], base_url="http://testserver",
                            actor="cli")
    token = urlsplit(link).query.split("token=", 1)[1]
    welcome = browser.get(f"/admin/welcome?token={token}")
    assert welcome.status_code == 403 and "signs in with Google" in welcome.text
    posted = browser.post("/admin/welcome", data={"token": token, "password": "a long new password!",
                                                  "password_again": "a long new password!",
                                                  "csrf_token": csrf_of(browser)})
    assert posted.status_code == 403
    # Sign in with Google still works
    assert sign_in_with_google(browser, world.acme.emails["viewer"]).status_code == 303
    # other tenants are not affected
    assert post_login(TestClient(app, base_url="http://testserver"), world.other.emails["viewer"],
                      tenant="globex").status_code == 303


def test_google_off_is_not_offered_and_both_off_is_refused_by_name(
    app: FastAPI, browser: TestClient, world: World
) -> None:
    admin = sign_in(TestClient(app, base_url="http://testserver"), "acme", world.acme.emails["admin"])
    assert getattr(_save_sign_in_policy(admin, passwords=True), "status_code", None) == 303
    token = browser.get("/admin/login").context["csrf_token"]
    answer = browser.post("/admin/login/google", data={"tenant": "acme", "csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 400 and _error_code(answer) == "not_offered"
    both_off = _save_sign_in_policy(admin)
    assert getattr(both_off, "status_code", None) == 400
    assert "cannot both be off" in getattr(both_off, "text", "")
    assert post_login(browser, world.acme.emails["viewer"]).status_code == 303  # passwords still on


def test_the_admin_rest_api_writes_the_same_setting_and_refuses_a_tenant_without_a_domain(
    app: FastAPI, world: World, engine_under_test: Engine
) -> None:
    with unit_of_work(engine_under_test) as uow:
        acme = uow.db.get(Tenant, world.acme.tenant_id)
        assert acme is not None
        token = issue_admin_token(db=uow.db, tenant=acme, email=world.acme.emails["admin"], actor="cli")
    api = TestClient(app, base_url="http://testserver")
    headers = {"Authorization": f"Bearer {token}"}
    both = api.patch("/v1/admin/tenant", json={"settings": {"sign_in": {"passwords": False, "google": False}}},
                     headers=headers)
    assert both.status_code == 422 and "sign_in" in both.text and "cannot both be off" in both.text
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None
        tenant.google_domain = None
        db.add(tenant)
        db.commit()
    no_domain = api.patch("/v1/admin/tenant", json={"settings": {"sign_in": {"passwords": False}}}, headers=headers)
    assert no_domain.status_code == 422, no_domain.text
    (detail,) = no_domain.json()["detail"]
    assert detail["loc"] == ["body", "settings", "sign_in", "passwords"] and "Google Workspace domain" in detail["msg"]
