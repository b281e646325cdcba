"""Page-level details: cookie flags, the health page's live metrics, list filters, flash and redirect rules.

Where it sits: :mod:`admin_ui.web`, :mod:`admin_ui.services.sync` and the list views, through the real app.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from admin_ui.web import create_web_app
from engine.runtime import metrics
from engine.store.models import LiveSession
from engine.store.types import utcnow
from tests.admin_ui.conftest import post_login, settings_for, sign_in
from tests.admin_ui.factories import World


@pytest.fixture
def clean_metrics() -> Iterator[None]:
    metrics.reset()
    yield
    metrics.reset()


@pytest.mark.parametrize(
    ("base_url", "secure"), [("http://127.0.0.1:8000", False), ("https://muster.example", True)]
)
def test_session_cookie_flags(engine_under_test: Engine, world: World, base_url: str, secure: bool) -> None:
    url = engine_under_test.url.render_as_string(hide_password=False)
    app = create_web_app(settings_for(url, base_url=base_url))
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/admin/login")
        cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert ("secure" in cookie.split("; ")) is secure


def test_unsafe_next_is_ignored(client_as: Callable[..., TestClient], world: World) -> None:
    client = client_as(None)
    response = post_login(client, "admin@acme.example", "correct horse battery", next_url="//evil.example/admin")
    assert response.headers["location"] == "/admin/"


def test_password_change_ends_other_sessions(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    from engine.admin.accounts import hash_password
    from engine.store.models import Person

    client = client_as("viewer")
    assert client.get("/admin/health").status_code == 200
    with Session(engine_under_test) as db:
        person = db.get(Person, world.acme.people["viewer"])
        assert person is not None
        person.password_hash = hash_password("a brand new password")
        db.add(person)
        db.commit()
    assert client.get("/admin/health", follow_redirects=False).status_code == 303


def test_health_shows_live_metrics(
    client_as: Callable[..., TestClient], world: World, clean_metrics: None
) -> None:
    with metrics.tenant_scope(world.acme.tenant_id):  # what the reconciler does for an acme session
        metrics.record_request("calendar.events.insert", "200", "ok")
        metrics.record_call("organizer@acme.example", "insert", "ok")
        metrics.record_request("calendar.events.patch", "503", "retryable")
        metrics.record_call("organizer@acme.example", "patch", "retryable")
        metrics.record_reconcile("success")
    metrics.set_value("sweep.last_at", int(time.time()))
    client = client_as("admin")
    page = client.get("/admin/health")
    m = page.context["metrics"]  # type: ignore[attr-defined]
    assert not m.stale and "are not available" not in page.text  # live figures, not the database fallback
    assert m.quota_by_identity == {"organizer@acme.example": "2 calls, 1 errors"}
    assert m.errors_by_class == {"retryable": 1}
    assert m.outcomes["success"] == 1 and m.last_sweep_at is not None


def test_health_shows_only_the_signed_in_tenants_figures(
    client_as: Callable[..., TestClient], world: World, clean_metrics: None
) -> None:
    with metrics.tenant_scope(world.acme.tenant_id):
        metrics.record_request("calendar.events.insert", "401", "auth")
        metrics.record_call("owner1@muster-acme.example", "insert", "auth")
        metrics.record_reconcile("auth_error")
    page = client_as("admin", tenant="globex").get("/admin/health")
    m = page.context["metrics"]  # type: ignore[attr-defined]
    assert m.quota_by_identity == {} and m.errors_by_class == {}
    assert sum(m.outcomes.values()) == 0
    assert "owner1@muster-acme.example" not in page.text
    acme = client_as("admin").get("/admin/health").context["metrics"]  # type: ignore[attr-defined]
    assert acme.quota_by_identity == {"owner1@muster-acme.example": "1 calls, 1 errors"}
    assert acme.errors_by_class == {"auth": 1} and acme.outcomes["auth_error"] == 1
    assert page.context["counts"].by_status == {"synced": 1, "error": 1}  # type: ignore[attr-defined]
    assert page.context["verdict"] == "warn"  # type: ignore[attr-defined]


def test_stale_sweep_is_called_out(
    client_as: Callable[..., TestClient], world: World, clean_metrics: None
) -> None:
    metrics.set_value("sweep.last_at", int(time.time()) - 3600)
    m = client_as("viewer").get("/admin/health").context["metrics"]  # type: ignore[attr-defined]
    assert m.stale and "sweep has not run" in m.message


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"other_session"}),  # the removed session is hidden by default
        ("?status=cancelled", set()),
        ("?status=removed", {"own_session"}),
        ("?problem=sync_error", {"other_session"}),
        ("?q=git", {"other_session"}),
        (
            "?status=bogus&problem=bogus",
            {"other_session"},
        ),  # unknown filters are ignored, removed stays hidden
    ],
)
def test_session_list_filters(
    client_as: Callable[..., TestClient],
    world: World,
    engine_under_test: Engine,
    query: str,
    expected: set[str],
) -> None:
    with Session(engine_under_test) as db:
        removed = db.get(LiveSession, world.acme.own_session)
        assert removed is not None
        removed.deleted_at = utcnow()
        db.add(removed)
        db.commit()
    rows = client_as("viewer").get("/admin/sessions" + query).context["rows"]  # type: ignore[attr-defined]
    ids = {"own_session" if r.session.id == world.acme.own_session else "other_session" for r in rows}
    assert ids == expected


def test_flash_after_sign_in_is_shown_once(web_app: object, world: World) -> None:
    with TestClient(web_app) as client:  # type: ignore[arg-type]
        sign_in(client, "acme", "admin@acme.example")
        first = client.get("/admin/sessions").context["flashes"]  # type: ignore[attr-defined]
        second = client.get("/admin/sessions").context["flashes"]  # type: ignore[attr-defined]
    assert first == [["ok", "Signed in as admin@acme.example."]] and second == []
