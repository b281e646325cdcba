"""``muster tenant create --admin``, ``tenant set``/``show`` and ``user add/list/deactivate/token``, run in
process against the test database, and the admin UI's welcome page that redeems a sign-in link.

Where it sits: ``tests/cli``; SQLite and PostgreSQL (``db_engine``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from admin_ui.web import create_web_app
from engine.api.app import create_api
from engine.cli.main import main
from engine.settings import get_settings, load_settings
from engine.store.models import AuditEvent, Person, Tenant
from tests.api.conftest import AsgiClient


@pytest.fixture
def env(db_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name in list(os.environ):
        if name.startswith("MUSTER_"):
            monkeypatch.delenv(name)
    values = {
        "MUSTER_DATABASE_URL": db_engine.url.render_as_string(hide_password=False),
        "MUSTER_VAR_DIR": str(tmp_path),
        "MUSTER_SECRET_KEY": "s" * 40,
        "MUSTER_BASE_URL": "http://testserver",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_first_admin_from_tenant_create_signs_in_with_the_one_time_link(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "tenant", "create", "--slug", "initech", "--name", "Initech", "--domain",
                         "initech.example", "--mode", "delegation", "--delegation-method", "domain_wide",
                         "--directory-admin", "it@initech.example", "--admin", "Boss@Initech.example")
    assert code == 0, err
    # The Directory admin is checked live once saved, as `tenant set` does (here: no service-account key yet)
    assert "Directory admin check" in out and "fail service account key" in out, out
    lines = out.strip().splitlines()
    link = lines[-1]
    assert link.startswith("http://testserver/admin/welcome?token=mk_"), out
    with Session(db_engine) as db:
        tenant = db.exec(select(Tenant).where(Tenant.slug == "initech")).one()
        assert (tenant.delegation_method, tenant.directory_admin_email) == ("domain_wide", "it@initech.example")
        boss = db.exec(select(Person).where(Person.email == "boss@initech.example")).one()
        assert boss.admin_role == "admin" and boss.password_hash is None and boss.roles == []
    web = TestClient(create_web_app(load_settings(env), start_worker=False), base_url="http://testserver")
    page = web.get(link.removeprefix("http://testserver"))
    assert page.status_code == 200 and page.context["email"] == "boss@initech.example"  # type: ignore[attr-defined]
    token = link.split("token=", 1)[1]
    csrf = page.context["csrf_token"]  # type: ignore[attr-defined]
    short = web.post("/admin/welcome", data={"token": token, "password": "short", "password_again": "short",
                                             "csrf_token": csrf})
    assert short.status_code == 400 and "at least 10" in short.context["error"]  # type: ignore[attr-defined]
    done = web.post("/admin/welcome", data={"token": token, "password": "a long passphrase",
                                            "password_again": "a long passphrase", "csrf_token": csrf},
                    follow_redirects=False)
    assert done.status_code == 303
    assert web.get("/admin/integration").status_code == 200  # signed in, as an admin
    again = TestClient(create_web_app(load_settings(env), start_worker=False)).get(
        link.removeprefix("http://testserver"))
    assert again.status_code == 404  # a link works once


def test_tenant_set_and_show_through_the_one_write_path(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "tenant", "create", "--slug", "acme", "--name", "Acme", "--domain", "acme.example")[0] == 0
    code, out, err = run(capsys, "tenant", "set", "--slug", "acme", "--vendor-owner", "owner@vendor.example",
                         "--setting", "rooms.headroom=0.2", "--setting", "privacy.guest_list_visible=true",
                         "--setting", 'successor.eligibleRoles=["co_host"]', "--fallback-owner", "fb@acme.example")
    assert code == 0, err
    assert out.startswith("Saved for acme: fallback_owner_email, settings, vendor_owner_emails.")
    with Session(db_engine) as db:
        tenant = db.exec(select(Tenant).where(Tenant.slug == "acme")).one()
        assert tenant.settings["rooms"]["headroom"] == 0.2
        assert tenant.settings["privacy"] == {"guest_list_visible": True}
        assert tenant.settings["successor"] == {"eligibleRoles": ["co_host"]}
        assert tenant.vendor_owner_emails == ["owner@vendor.example"]
        [audit] = db.exec(select(AuditEvent).where(AuditEvent.action == "tenant.setup")).all()
        assert audit.actor == "cli"
    # A bad value: one line naming the setting, exit 2, nothing saved
    code, out, err = run(capsys, "tenant", "set", "--slug", "acme", "--setting", "rooms.headroom=lots")
    assert code == 2 and "rooms.headroom" in err and "Traceback" not in err, err
    code, out, err = run(capsys, "tenant", "set", "--slug", "acme", "--directory-admin", "it@elsewhere.example")
    assert code == 2 and "--directory-admin" in err and "acme.example" in err, err
    code, out, _ = run(capsys, "tenant", "show", "--slug", "acme")
    assert code == 0
    assert "https://www.googleapis.com/auth/admin.datatransfer" in out and '"headroom": 0.2' in out
    code, out, _ = run(capsys, "tenant", "set", "--slug", "acme", "--setting", "rooms=default")
    assert code == 0
    with Session(db_engine) as db:
        assert "rooms" not in db.exec(select(Tenant).where(Tenant.slug == "acme")).one().settings


def test_tenant_set_domain_sets_changes_and_clears_the_workspace_domain(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "tenant", "create", "--slug", "initech", "--name", "Initech")[0] == 0
    # Without a domain, passwords cannot be turned off; the refusal says how to set the domain
    code, _, err = run(capsys, "tenant", "set", "--slug", "initech", "--setting", "sign_in.passwords=false")
    assert code == 2 and "muster tenant set --domain" in err, err
    code, out, err = run(capsys, "tenant", "set", "--slug", "initech", "--domain", "Initech.Example")
    assert code == 0 and out.startswith("Saved for initech: domain."), err
    code, out, _ = run(capsys, "tenant", "show", "--slug", "initech")
    assert code == 0 and out.startswith("initech (Initech), domain initech.example"), out
    code, out, _ = run(capsys, "tenant", "list")
    assert "initech\tvendor\tinitech.example\tInitech" in out, out
    # A bad value: one line naming --domain and the fix, exit 2, nothing saved
    code, _, err = run(capsys, "tenant", "set", "--slug", "initech", "--domain", "https://initech.example")
    assert code == 2 and "--domain" in err and "without https://" in err and "Traceback" not in err, err
    # Passwords off: the domain cannot be cleared, nor moved to a domain without an admin
    assert run(capsys, "user", "add", "--tenant", "initech", "--email", "boss@initech.example",
               "--role", "admin")[0] == 0
    assert run(capsys, "tenant", "set", "--slug", "initech", "--setting", "sign_in.passwords=false")[0] == 0
    code, _, err = run(capsys, "tenant", "set", "--slug", "initech", "--domain", "")
    assert code == 2 and "--domain" in err and "passwords are off" in err, err
    code, _, err = run(capsys, "tenant", "set", "--slug", "initech", "--domain", "initech.test")
    assert code == 2 and "no active admin" in err, err
    assert run(capsys, "tenant", "set", "--slug", "initech", "--setting", "sign_in.passwords=true")[0] == 0
    code, out, err = run(capsys, "tenant", "set", "--slug", "initech", "--domain", "")
    assert code == 0, err
    with Session(db_engine) as db:
        assert db.exec(select(Tenant).where(Tenant.slug == "initech")).one().google_domain is None
        audits = db.exec(select(AuditEvent).where(AuditEvent.action == "tenant.setup")).all()
        domains = [a.detail["domain"] for a in audits if "domain" in a.detail]
        assert all(a.actor == "cli" for a in audits)
    assert sorted(map(str, domains)) == sorted(map(str, [[None, "initech.example"], ["initech.example", None]]))


def test_users_added_listed_tokened_and_deactivated(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "tenant", "create", "--slug", "acme", "--name", "Acme", "--domain", "acme.example")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase\n"))
    code, out, err = run(capsys, "user", "add", "--tenant", "acme", "--email", "it-admin@acme.example",
                         "--role", "admin", "--password-stdin")
    assert code == 0 and "Password set" in out, err
    code, out, err = run(capsys, "user", "add", "--tenant", "acme", "--email", "viewer@acme.example",
                         "--role", "viewer")
    assert code == 0 and "/admin/welcome?token=" in out, err
    code, out, _ = run(capsys, "user", "list", "--tenant", "acme")
    assert out.splitlines() == ["it-admin@acme.example\tadmin\tactive\t-\tpassword",
                                "viewer@acme.example\tviewer\tactive\t-\tno password"]
    code, out, err = run(capsys, "user", "token", "--tenant", "acme", "--email", "viewer@acme.example")
    assert code == 2 and "not an admin" in err
    code, out, err = run(capsys, "user", "token", "--tenant", "acme", "--email", "it-admin@acme.example")
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    api = AsgiClient(create_api(load_settings(env), engine=db_engine))
    assert api.get("/v1/admin/people", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    code, out, err = run(capsys, "user", "deactivate", "--tenant", "acme", "--email", "it-admin@acme.example")
    assert code == 2, out
    assert "last admin" in err
    code, out, err = run(capsys, "user", "deactivate", "--tenant", "acme", "--email", "viewer@acme.example")
    assert code == 0, err
    code, out, _ = run(capsys, "user", "list", "--tenant", "acme")
    assert out.splitlines() == ["it-admin@acme.example\tadmin\tactive\t-\tpassword"]
