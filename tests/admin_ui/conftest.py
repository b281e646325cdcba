"""Fixtures for the admin UI tests: the web app on a test database, a world, signed-in clients.

Where it sits: ``tests/admin_ui``. ``web_app`` is the real composition root
(:func:`admin_ui.web.create_web_app`)
on the per-test SQLite database (or both stacks through ``db_url`` where a test asks for ``pg_web_app``);
``client_as(role, tenant)`` signs in through the real form, CSRF token included.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

import engine.admin.accounts
from admin_ui.web import create_web_app
from connectors.google_emulator.server import EmulatorServer
from engine.settings import Settings
from engine.store.unit_of_work import set_dispatcher
from tests.admin_ui.factories import FAST_HASHER, PASSWORD, World, build_world

SECRET = "s" * 48
#: The OAuth client of the Sign in with Google tests (registered at the emulator by the ``emulator`` fixture).
CLIENT_ID, CLIENT_SECRET = "777-muster.apps.googleusercontent.com", "sign-in-secret"
CALLBACK = "http://testserver/admin/login/google/callback"


def settings_for(url: str, **extra: object) -> Settings:
    fields: dict[str, object] = {"redis_url": None, "google_root_url": None, "secret_key": SECRET, **extra}
    return Settings(database_url=url, **fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ins verify a cheap argon2 hash (test-only parameters); see test_accounts for the real ones."""
    monkeypatch.setattr(engine.admin.accounts, "_hasher", FAST_HASHER)
    monkeypatch.setattr(engine.admin.accounts, "_DUMMY_HASH", FAST_HASHER.hash("no-such-account"))


@pytest.fixture
def engine_under_test(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def world(engine_under_test: Engine) -> World:
    return build_world(engine_under_test)


@pytest.fixture
def web_app(engine_under_test: Engine) -> FastAPI:
    return create_web_app(settings_for(engine_under_test.url.render_as_string(hide_password=False)))


def post_login(
    client: TestClient, email: str, password: str = PASSWORD, *, tenant: str = "acme", next_url: str = "/admin/"
) -> Any:
    """Submit the sign-in form (with the page's CSRF token) and return the unfollowed response."""
    token = client.get("/admin/login").context["csrf_token"]
    data = {"tenant": tenant, "email": email, "password": password, "csrf_token": token, "next": next_url}
    return client.post("/admin/login", data=data, follow_redirects=False)


def sign_in(client: TestClient, tenant: str, email: str, password: str = PASSWORD) -> TestClient:
    response = post_login(client, email, password, tenant=tenant)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
def client_as(web_app: FastAPI, world: World) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(role: str | None, tenant: str = "acme") -> TestClient:
        client = TestClient(web_app, base_url="http://testserver")
        clients.append(client)
        if role is None:
            return client
        tw = world.acme if tenant == "acme" else world.other
        return sign_in(client, tw.slug, tw.emails[role])

    yield make
    for c in clients:
        c.close()


def csrf_of(client: TestClient) -> str:
    """The signed-in session's CSRF token (read from any page's context)."""
    token: str = client.get("/admin/login").context["csrf_token"]
    return token


@pytest.fixture
def sent() -> Iterator[list[uuid.UUID]]:
    """The session ids handed to the after-commit dispatcher during the test (what a worker would sync)."""
    ids: list[uuid.UUID] = []
    set_dispatcher(ids.extend)
    yield ids
    set_dispatcher(None)


# ---------------------------------------------------------------- Sign in with Google against the emulator
@pytest.fixture(scope="module")
def google() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulator(google: EmulatorServer, world: World) -> EmulatorServer:
    w = google.world
    w.reset()
    for slug in ("acme", "globex"):
        for local in ("admin", "organizer", "viewer", "learner", "colleague", "stranger"):
            w.add_user(f"{local}@{slug}.example", name={"fullName": local.title()})
    w.add_user("unverified@acme.example", emailVerified=False)
    w.add_user("admin.acme@gmail.com")
    w.add_oauth_client(CLIENT_ID, CLIENT_SECRET, [CALLBACK])
    return google


@pytest.fixture
def app(engine_under_test: Engine, emulator: EmulatorServer) -> FastAPI:
    settings = settings_for(
        engine_under_test.url.render_as_string(hide_password=False),
        google_root_url=emulator.url,
        base_url="http://testserver",
        google_oauth_client_id=CLIENT_ID,
        google_oauth_client_secret=CLIENT_SECRET,
    )
    return create_web_app(settings)


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as client:
        yield client
