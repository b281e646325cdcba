"""Server-side admin sessions: sign-out, password/role/status changes and timeouts end them for good.

Where it sits: :mod:`engine.admin.web_sessions`, :mod:`engine.store.revocation` and :mod:`admin_ui.auth`
through the real app. "A copied cookie" is the signed cookie value taken from one client and replayed by
another, as an attacker who read it would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from admin_ui.web import create_web_app
from engine.admin.accounts import set_password
from engine.settings import ConfigError, load_settings
from engine.store.models import AdminSession, Person
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.conftest import csrf_of, settings_for, sign_in
from tests.admin_ui.factories import World

COOKIE = "muster_admin"


def _replay(app: FastAPI, cookie: str) -> TestClient:
    thief = TestClient(app, base_url="http://testserver")
    thief.cookies.set(COOKIE, cookie)
    return thief


def _opens(client: TestClient) -> bool:
    response = client.get("/admin/sessions", follow_redirects=False)
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def _sessions_of(engine: Engine, person_id: object) -> list[AdminSession]:
    with Session(engine) as db:
        return list(db.exec(select(AdminSession).where(AdminSession.person_id == person_id)).all())


def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    client_as: Callable[..., TestClient], web_app: FastAPI, world: World, engine_under_test: Engine
) -> None:
    client = client_as("admin")
    copied = client.cookies[COOKIE]
    assert _opens(_replay(web_app, copied))  # the copy works while the session lives
    out = client.post("/admin/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert out.status_code == 303
    assert not _opens(client)
    assert not _opens(_replay(web_app, copied))
    assert _sessions_of(engine_under_test, world.acme.people["admin"]) == []


def test_only_a_hash_of_the_token_is_stored(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    client_as("viewer")
    rows = _sessions_of(engine_under_test, world.acme.people["viewer"])
    assert len(rows) == 1 and len(rows[0].token_hash) == 64 and rows[0].tenant_id == world.acme.tenant_id


def test_a_password_change_ends_every_session_of_that_person(
    client_as: Callable[..., TestClient], web_app: FastAPI, world: World, engine_under_test: Engine
) -> None:
    laptop, phone, colleague = client_as("organizer"), client_as("organizer"), client_as("viewer")
    assert len(_sessions_of(engine_under_test, world.acme.people["organizer"])) == 2
    with unit_of_work(engine_under_test) as uow:  # what `muster user set-password` does
        set_password(db=uow.db, tenant_slug="acme", email=world.acme.emails["organizer"], password="another long one")
    assert not _opens(laptop) and not _opens(phone)
    assert _opens(colleague)  # other people's sessions are untouched
    assert _sessions_of(engine_under_test, world.acme.people["organizer"]) == []
    assert _opens(sign_in(TestClient(web_app), "acme", world.acme.emails["organizer"], "another long one"))


@pytest.mark.parametrize(
    ("field", "changed", "restored"), [("admin_role", "admin", "viewer"), ("status", "suspended", "active")]
)
def test_a_role_change_or_deactivation_ends_every_session_for_good(
    field: str,
    changed: str,
    restored: str,
    client_as: Callable[..., TestClient],
    world: World,
    engine_under_test: Engine,
) -> None:
    a, b = client_as("viewer"), client_as("viewer")
    copied = a.cookies[COOKIE]
    for value in (changed, restored):  # changed, then back before anyone makes a request
        with Session(engine_under_test) as db:
            person = db.get(Person, world.acme.people["viewer"])
            assert person is not None
            setattr(person, field, value)
            db.add(person)
            db.commit()
    assert not _opens(a) and not _opens(b)
    assert not _opens(_replay(a.app, copied))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("idle", "age", "opens"),
    [
        (timedelta(minutes=5), timedelta(hours=1), True),
        (timedelta(minutes=31), timedelta(hours=1), False),  # idle past MUSTER_SESSION_IDLE_MINUTES (30)
        (timedelta(seconds=10), timedelta(hours=12, minutes=1), False),  # older than MUSTER_SESSION_MAX_HOURS (12)
    ],
)
def test_idle_and_absolute_timeouts(
    idle: timedelta,
    age: timedelta,
    opens: bool,
    client_as: Callable[..., TestClient],
    world: World,
    engine_under_test: Engine,
) -> None:
    client = client_as("admin")
    with Session(engine_under_test) as db:
        row = db.exec(select(AdminSession).where(AdminSession.person_id == world.acme.people["admin"])).one()
        row.last_seen_at, row.created_at = utcnow() - idle, utcnow() - age
        db.add(row)
        db.commit()
    assert _opens(client) is opens
    assert bool(_sessions_of(engine_under_test, world.acme.people["admin"])) is opens


def test_timeouts_are_configurable(engine_under_test: Engine, world: World, tmp_path: Path) -> None:
    url = engine_under_test.url.render_as_string(hide_password=False)
    app = create_web_app(settings_for(url, session_idle_minutes=2))
    client = sign_in(TestClient(app), "acme", world.acme.emails["admin"])
    with Session(engine_under_test) as db:
        row = db.exec(select(AdminSession).where(AdminSession.person_id == world.acme.people["admin"])).one()
        row.last_seen_at = utcnow() - timedelta(minutes=3)
        db.add(row)
        db.commit()
    assert not _opens(client)
    settings = load_settings(
        {
            "MUSTER_SESSION_IDLE_MINUTES": "45",
            "MUSTER_SESSION_MAX_HOURS": "8",
            "MUSTER_SECRET_KEY": "k" * 40,
            "MUSTER_VAR_DIR": str(tmp_path),
        }
    )
    assert (settings.session_idle_minutes, settings.session_max_hours) == (45, 8)
    for name, raw in (("MUSTER_SESSION_IDLE_MINUTES", "soon"), ("MUSTER_SESSION_MAX_HOURS", "0")):
        with pytest.raises(ConfigError) as err:
            load_settings({name: raw, "MUSTER_SECRET_KEY": "k" * 40, "MUSTER_VAR_DIR": str(tmp_path)})
        assert name in str(err.value) and "Fix:" in str(err.value)


def test_rotating_the_secret_key_signs_nobody_out_until_the_old_key_is_removed(
    engine_under_test: Engine, world: World, tmp_path: Path
) -> None:
    url = engine_under_test.url.render_as_string(hide_password=False)
    old, new = "o" * 40, "n" * 40
    def keyed(*keys: str) -> FastAPI:
        return create_web_app(dataclasses.replace(settings_for(url), secret_key=keys[0], secret_keys=keys))

    before = keyed(old)
    cookie = sign_in(TestClient(before), "acme", world.acme.emails["admin"]).cookies[COOKIE]
    rotated = keyed(new, old)
    assert _opens(_replay(rotated, cookie))  # verified with the old key
    fresh = sign_in(TestClient(rotated), "acme", world.acme.emails["viewer"]).cookies[COOKIE]
    only_new = keyed(new)
    assert _opens(_replay(only_new, fresh))  # signed with the first key
    assert not _opens(_replay(only_new, cookie))
    parsed = load_settings({"MUSTER_SECRET_KEY": f"{new}, {old}", "MUSTER_VAR_DIR": str(tmp_path)})
    assert parsed.secret_key == new and parsed.all_secret_keys == (new, old)
    with pytest.raises(ConfigError) as err:
        load_settings({"MUSTER_SECRET_KEY": f"{new},short", "MUSTER_VAR_DIR": str(tmp_path)})
    assert "key 2 of 2 too short" in str(err.value)
