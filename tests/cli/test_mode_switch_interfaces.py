"""The mode switch through every interface: ``muster tenant switch-mode``, ``/v1/admin/mode-switch`` and the
Integration page give the same plan and the same verdicts, because they call one service.

Where it sits: ``tests/cli``; SQLite and PostgreSQL (``db_engine``). The tenant is set up with the CLI, the
platform sends a session through the REST API, and the admin previews and applies the switch through each
interface in turn. Nothing here reaches Google: a preview only reads the database, and applying only flips
the mode and queues the sessions (the worker's moves are covered by tests/integration/delegation).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from admin_ui.web import create_web_app
from engine.admin.accounts import set_password
from engine.api.app import create_api
from engine.settings import get_settings, load_settings
from engine.store.models import AuditEvent, ModeSwitch, Tenant
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.conftest import csrf_of, sign_in
from tests.api.conftest import AsgiClient, session_body
from tests.cli.test_tenant_setup_cli import env, run

__all__ = ["env"]  # the fixture, shared with the other CLI set-up tests

ADMIN, PASSWORD = "it@initech.example", "a long enough password"


def _essence(plan: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["session_id"], e["action"], e.get("to_calendar"), e.get("reason")) for e in plan]


def test_preview_and_apply_agree_across_cli_rest_and_the_integration_page(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "tenant", "create", "--slug", "initech", "--name", "Initech", "--domain",
                         "initech.example", "--vendor-owner", "owner1@vendor.example", "--admin", ADMIN)
    assert code == 0, err
    ingest_key = out.strip().splitlines()[2]
    code, out, err = run(capsys, "user", "token", "--tenant", "initech", "--email", ADMIN)
    assert code == 0, err
    admin = {"Authorization": f"Bearer {out.strip().splitlines()[-1]}"}
    settings = load_settings(env)
    api = AsgiClient(create_api(settings, dispatcher=lambda ids: None))
    for n in (1, 2):
        body = session_body(start=f"2027-01-1{n}T10:00:00+01:00", end=f"2027-01-1{n}T11:00:00+01:00",
                            organizer="ada@initech.example", coHosts=[])
        put = api.request("PUT", f"/v1/sessions/s-{n}", json=body, headers={"Authorization": f"Bearer {ingest_key}"})
        assert put.status_code == 201, put.text
    with unit_of_work(db_engine) as uow:
        set_password(db=uow.db, tenant_slug="initech", email=ADMIN, password=PASSWORD, role="admin")

    # The same preview from the CLI, the REST API and the Integration page
    code, out, err = run(capsys, "tenant", "switch-mode", "--slug", "initech", "--to", "delegation", "--json")
    assert code == 0, err
    cli = json.loads(out)
    rest = api.request("POST", "/v1/admin/mode-switch/preview", json={"targetMode": "delegation"}, headers=admin)
    assert rest.status_code == 200, rest.text
    with TestClient(create_web_app(settings, start_worker=False), base_url="http://testserver") as ui:
        sign_in(ui, "initech", ADMIN, PASSWORD)
        page = ui.post("/admin/integration/switch/preview",
                       data={"target_mode": "delegation", "csrf_token": csrf_of(ui)})
        assert page.status_code == 200, page.text[:300]
        shown = page.context["preview"]  # type: ignore[attr-defined]
        assert len(cli["plan"]) == 2
        assert _essence(cli["plan"]) == _essence(rest.json()["plan"]) == _essence(shown.plan)
        assert cli["summary"]["actions"] == rest.json()["summary"]["actions"] == shown.summary["actions"]
        # The same refusal, worded the same, everywhere: the tenant already runs in vendor mode
        code, out, err = run(capsys, "tenant", "switch-mode", "--slug", "initech", "--to", "vendor")
        assert code == 2 and "already runs in vendor mode" in err and "--to" in err, err
        again = api.request("POST", "/v1/admin/mode-switch/preview", json={"targetMode": "vendor"}, headers=admin)
        assert again.status_code == 409 and "already runs in vendor mode" in again.json()["detail"], again.text
        refused = ui.post("/admin/integration/switch/preview",
                          data={"target_mode": "vendor", "csrf_token": csrf_of(ui)})
        assert refused.status_code == 400
        assert "already runs in vendor mode" in refused.context["preview"].message  # type: ignore[attr-defined]
    # Applying needs the target typed again, and a preview's id
    code, out, err = run(capsys, "tenant", "switch-mode", "--slug", "initech", "--to", "delegation",
                         "--apply", cli["switch_id"], "--confirm", "vendor")
    assert code == 2 and "--confirm" in err and "Type delegation" in err, err
    wrong = api.request("POST", "/v1/admin/mode-switch/apply", headers=admin,
                        json={"switchId": "not-a-preview", "targetMode": "delegation", "confirm": "delegation"})
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "switchId"], wrong.text
    applied = api.request("POST", "/v1/admin/mode-switch/apply", headers=admin,
                          json={"switchId": rest.json()["switchId"], "targetMode": "delegation",
                                "confirm": "delegation"})
    assert applied.status_code == 202, applied.text
    assert "2 session(s) are being moved" in applied.json()["message"]
    # The mode flipped, the switch runs, and every interface reports the same switch
    with Session(db_engine) as db:
        tenant = db.exec(select(Tenant).where(Tenant.slug == "initech")).one()
        assert tenant.integration_mode == "delegation"
        switch = db.get(ModeSwitch, uuid.UUID(rest.json()["switchId"]))
        assert switch is not None and switch.status == "running"
        started = db.exec(select(AuditEvent).where(AuditEvent.action == "mode_switch.started")).all()
        assert [e.actor for e in started] == [f"user:{ADMIN}"]
    status = api.request("GET", "/v1/admin/mode-switch", headers=admin).json()
    assert status["mode"] == "delegation"
    assert (status["latest"]["switchId"], status["latest"]["to"], status["latest"]["status"]) == (
        rest.json()["switchId"], "delegation", "running")
    code, out, err = run(capsys, "tenant", "switch-mode", "--slug", "initech", "--status")
    assert code == 0 and f"switch {rest.json()['switchId']} vendor -> delegation: running" in out, out
    get_settings.cache_clear()
