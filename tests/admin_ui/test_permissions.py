"""Every admin view against anonymous, wrong-role, wrong-tenant and permitted visitors.

Where it sits: the access matrix of :mod:`admin_ui.views`. GET views assert the template and a context key;
POST views assert that CSRF is required and the role rule holds. Another tenant's ids answer 404 whatever
the role, so their existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from tests.admin_ui.conftest import csrf_of
from tests.admin_ui.factories import World


@dataclass(frozen=True)
class View:
    name: str
    path: str  #: may contain {own} / {other}: the acme sessions
    allowed: tuple[str, ...]
    template: str
    context_key: str


GET_VIEWS = [
    View("sessions", "/admin/sessions", ("admin", "organizer", "viewer"), "admin/sessions/list.html", "rows"),
    View(
        "session",
        "/admin/sessions/{own}",
        ("admin", "organizer", "viewer"),
        "admin/sessions/detail.html",
        "detail",
    ),
    View("new-session", "/admin/sessions/new", ("admin", "organizer"), "admin/sessions/edit.html", "values"),
    View(
        "edit-session",
        "/admin/sessions/{own}/edit",
        ("admin", "organizer"),
        "admin/sessions/edit.html",
        "values",
    ),
    View("integration", "/admin/integration", ("admin", "viewer"), "admin/integration/detail.html", "setup"),
    View("organizers", "/admin/organizers", ("admin", "viewer"), "admin/organizers/list.html", "rows"),
    View("health", "/admin/health", ("admin", "viewer"), "admin/health/detail.html", "counts"),
    View("audit", "/admin/audit", ("admin", "viewer"), "admin/audit/list.html", "events"),
    View("webhooks", "/admin/webhooks", ("admin", "viewer"), "admin/webhooks/list.html", "deliveries"),
    View("account", "/admin/account", ("admin", "organizer"), "admin/account/detail.html", "connection"),
]
POST_VIEWS = [
    ("resync", "/admin/sessions/{own}/resync", ("admin", "organizer")),
    ("check", "/admin/integration/check", ("admin",)),
    ("policies", "/admin/integration/policies", ("admin",)),
    ("preview", "/admin/integration/switch/preview", ("admin",)),
    ("apply", "/admin/integration/switch/apply", ("admin",)),
    ("create", "/admin/sessions/new", ("admin", "organizer")),
    ("edit", "/admin/sessions/{own}/edit", ("admin", "organizer")),
    ("connect", "/admin/account/connect", ("admin", "organizer")),
    ("replay", "/admin/webhooks/{own}/replay", ("admin",)),
]
ROLES = ("admin", "organizer", "viewer")


def _path(path: str, world: World) -> str:
    return path.format(own=world.acme.own_session, other=world.acme.other_session)


@pytest.mark.parametrize("view", GET_VIEWS, ids=lambda v: v.name)
def test_anonymous_is_sent_to_sign_in(view: View, client_as: Callable[..., TestClient], world: World) -> None:
    response = client_as(None).get(_path(view.path, world), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=/admin/")


@pytest.mark.parametrize("view", GET_VIEWS, ids=lambda v: v.name)
@pytest.mark.parametrize("role", ROLES)
def test_roles(view: View, role: str, client_as: Callable[..., TestClient], world: World) -> None:
    response = client_as(role).get(_path(view.path, world))
    if role in view.allowed:
        assert response.status_code == 200, response.text
        assert response.template.name == view.template  # type: ignore[attr-defined]
        assert view.context_key in response.context  # type: ignore[attr-defined]
        assert response.context["user"].email == world.acme.emails[role]  # type: ignore[attr-defined]
    else:
        assert response.status_code == 403
        assert response.template.name == "admin/errors/403.html"  # type: ignore[attr-defined]


@pytest.mark.parametrize("view", [v for v in GET_VIEWS if "{own}" in v.path], ids=lambda v: v.name)
@pytest.mark.parametrize("role", ROLES)
def test_other_tenant_ids_are_not_found(
    view: View, role: str, client_as: Callable[..., TestClient], world: World
) -> None:
    # Given someone signed in to the *other* tenant, when they open an acme session's URL
    response = client_as(role, tenant="globex").get(_path(view.path, world))
    # Then the page does not exist for them, whatever their role
    assert response.status_code in (404, 403)
    if role in view.allowed:
        assert response.status_code == 404
        assert response.template.name == "admin/errors/404.html"  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", ROLES)
def test_lists_show_only_the_signed_in_tenant(
    role: str, client_as: Callable[..., TestClient], world: World
) -> None:
    client = client_as(role, tenant="globex")
    rows = client.get("/admin/sessions").context["rows"]  # type: ignore[attr-defined]
    assert rows, "the globex world has sessions"
    assert {r.session.tenant_id for r in rows} == {world.other.tenant_id}
    if role != "organizer":
        events = client.get("/admin/audit").context["events"]  # type: ignore[attr-defined]
        assert events and {e.tenant_id for e in events} == {world.other.tenant_id}


def test_organizer_sees_only_own_sessions(client_as: Callable[..., TestClient], world: World) -> None:
    client = client_as("organizer")
    rows = client.get("/admin/sessions").context["rows"]  # type: ignore[attr-defined]
    assert [r.session.id for r in rows] == [world.acme.own_session]
    response = client.get(f"/admin/sessions/{world.acme.other_session}")
    assert response.status_code == 403
    assert (
        client.post(
            f"/admin/sessions/{world.acme.other_session}/resync", data={"csrf_token": csrf_of(client)}
        ).status_code
        == 403
    )


@pytest.mark.parametrize(("name", "path", "allowed"), POST_VIEWS, ids=[p[0] for p in POST_VIEWS])
def test_posts_need_sign_in(
    name: str, path: str, allowed: tuple[str, ...], client_as: Callable[..., TestClient], world: World
) -> None:
    response = client_as(None).post(_path(path, world), data={}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")


@pytest.mark.parametrize(("name", "path", "allowed"), POST_VIEWS, ids=[p[0] for p in POST_VIEWS])
@pytest.mark.parametrize("role", ROLES)
def test_posts_check_role_then_csrf(
    name: str,
    path: str,
    allowed: tuple[str, ...],
    role: str,
    client_as: Callable[..., TestClient],
    world: World,
) -> None:
    client = client_as(role)
    without_token = client.post(_path(path, world), data={}, follow_redirects=False)
    assert without_token.status_code == 403
    assert without_token.template.name == "admin/errors/403.html"  # type: ignore[attr-defined]
    wrong_token = client.post(_path(path, world), data={"csrf_token": "forged"}, follow_redirects=False)
    assert wrong_token.status_code == 403
    with_token = client.post(_path(path, world), data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    if role in allowed:
        assert with_token.status_code != 403, with_token.text
    else:
        assert with_token.status_code == 403
        assert "role" in with_token.context["message"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", ("admin", "organizer"))
def test_posts_to_other_tenant_sessions_are_not_found(
    role: str, client_as: Callable[..., TestClient], world: World
) -> None:
    client = client_as(role, tenant="globex")
    token = csrf_of(client)
    for path in ("/admin/sessions/{own}/resync", "/admin/sessions/{own}/edit"):
        response = client.post(
            _path(path, world), data={"csrf_token": token, "title": "x"}, follow_redirects=False
        )
        assert response.status_code == 404, path
