"""A new Directory admin is checked live when saved, through each interface: the admin REST API, the CLI
and the Integration page, against the emulator (which holds the customer's domain-wide delegation grant).

Where it sits: ``tests/integration/lifecycle`` (its ``life`` fixture: a delegation-mode tenant, Muster's
service account authorized for the Directory and Data Transfer scopes).
"""

from __future__ import annotations

import os

import pytest
from starlette.testclient import TestClient

from admin_ui.web import create_web_app
from engine.admin.accounts import set_password
from engine.admin.people import add_person, issue_admin_token
from engine.cli.main import main
from engine.settings import get_settings
from engine.store.models import Tenant
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.conftest import csrf_of, sign_in
from tests.integration.lifecycle.conftest import ADMIN, Life

PASSWORD = "correct horse battery"


def _token(life: Life) -> str:
    with unit_of_work(life.engine) as uow:
        tenant = uow.db.get(Tenant, life.tenant_id)
        assert tenant is not None
        tenant.directory_admin_email = None
        add_person(db=uow.db, tenant=tenant, email="boss@acme.example", role="admin", actor="test")
        set_password(db=uow.db, tenant_slug="acme", email="boss@acme.example", password=PASSWORD)
        return issue_admin_token(db=uow.db, tenant=tenant, email="boss@acme.example", actor="test")


def _outcomes(steps: list[dict[str, object]]) -> dict[str, object]:
    return {str(s["name"]): s["outcome"] for s in steps}


def test_rest_api_checks_a_new_directory_admin_live(life: Life) -> None:
    token = _token(life)
    headers = {"Authorization": f"Bearer {token}"}
    good = life.api.patch("/v1/admin/tenant", json={"directoryAdminEmail": ADMIN}, headers=headers)
    assert good.status_code == 200, good.text
    steps = good.json()["directoryAdminCheck"]
    assert _outcomes(steps) == {"service account key": "ok", "rooms readable": "ok", "organizer lifecycle": "ok"}
    # A user the customer's Google does not know: saved (the admin may fix Google next), and the check says so
    bad = life.api.patch("/v1/admin/tenant", json={"directoryAdminEmail": "nobody@acme.example"}, headers=headers)
    assert bad.status_code == 200, bad.text
    outcomes = _outcomes(bad.json()["directoryAdminCheck"])
    assert outcomes["rooms readable"] == "fail" and outcomes["organizer lifecycle"] == "warn", outcomes
    # Unchanged: no check is run again
    same = life.api.patch("/v1/admin/tenant", json={"directoryAdminEmail": "nobody@acme.example"}, headers=headers)
    assert same.json()["directoryAdminCheck"] is None


def test_cli_and_integration_page_check_a_new_directory_admin_live(
    life: Life, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _token(life)
    for name in list(os.environ):
        if name.startswith("MUSTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MUSTER_DATABASE_URL", life.settings.database_url)
    monkeypatch.setenv("MUSTER_GOOGLE_ROOT_URL", str(life.settings.google_root_url))
    monkeypatch.setenv("MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE", str(life.settings.google_service_account_file))
    monkeypatch.setenv("MUSTER_SECRET_KEY", life.settings.secret_key)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as exited:
            main(["tenant", "set", "--slug", "acme", "--directory-admin", ADMIN])
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    assert "Directory admin check:" in out and "ok   rooms readable" in out, out
    with unit_of_work(life.engine) as uow:
        tenant = uow.db.get(Tenant, life.tenant_id)
        assert tenant is not None
        tenant.directory_admin_email = None
        uow.db.add(tenant)
    base = life.settings.base_url
    with TestClient(create_web_app(life.settings, start_worker=False), base_url=base) as client:
        sign_in(client, "acme", "boss@acme.example", PASSWORD)
        page = client.post("/admin/integration/setup", data={
            "directory_admin_email": ADMIN, "delegation_method": "oauth", "vendor_owner_emails": "",
            "mode": "delegation", "csrf_token": csrf_of(client)})
        assert page.status_code == 200, page.text[:300]
        steps = page.context["directory_check"]  # type: ignore[attr-defined]
        assert _outcomes(steps)["rooms readable"] == "ok" and 'id="directory-check"' in page.text
