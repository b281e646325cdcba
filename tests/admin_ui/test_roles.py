"""Roles from one place: role x route x own/other session, and hosting never grants a role.

Where it sits: :mod:`engine.admin.roles` (the grants table) as enforced by :mod:`admin_ui.auth` and the
session views, through the real app. The viewer who becomes a co-host does so through the REST API
(``PUT /v1/sessions/{id}`` with ``coHosts``), the path by which the platform makes someone a host.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from engine.admin.roles import GRANTS, AdminRole, Need, Scope, allows
from engine.ingest.tenants import issue_api_key
from engine.store.models import LiveSession, Person
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.conftest import csrf_of
from tests.admin_ui.factories import World


def _make_viewer_cohost(client: TestClient, engine: Engine, world: World) -> None:
    """The platform names the viewer co-host of the organizer's session, through the REST API."""
    with unit_of_work(engine) as uow:
        key = issue_api_key(db=uow.db, tenant_id=world.acme.tenant_id, name="roles-test")
    with Session(engine) as db:
        s = db.get(LiveSession, world.acme.own_session)
        assert s is not None
        body = {
            "title": s.title,
            "timeZone": s.time_zone,
            "start": s.start_at.isoformat(),
            "end": s.end_at.isoformat(),
            "video": "none",
            "organizer": world.acme.emails["organizer"],
            "coHosts": [world.acme.emails["viewer"]],
        }
        external_id = s.external_id
    response = client.put(f"/v1/sessions/{external_id}", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text


# (route, method) -> what it needs; the expected answer per role follows from the grants table below.
ROUTES = [
    ("detail", "GET", "/admin/sessions/{id}"),
    ("edit-form", "GET", "/admin/sessions/{id}/edit"),
    ("edit", "POST", "/admin/sessions/{id}/edit"),
    ("resync", "POST", "/admin/sessions/{id}/resync"),
]
#: role (as signed in) x route x whose session → allowed?
EXPECTED: dict[tuple[str, str, str], bool] = {}
for _role, _read, _write in (
    ("admin", {"own", "other"}, {"own", "other"}),
    ("organizer", {"own"}, {"own"}),
    ("viewer", {"own", "other"}, set()),
    ("viewer-cohost", {"own", "other"}, set()),  # a viewer the platform made co-host of "own"
):
    for _name, _method, _path in ROUTES:
        for _whose in ("own", "other"):
            EXPECTED[(_role, _name, _whose)] = _whose in (_read if _name == "detail" else _write)


@pytest.mark.parametrize(("role", "route", "whose"), sorted(EXPECTED), ids="-".join)
def test_role_route_session(
    role: str,
    route: str,
    whose: str,
    client_as: Callable[..., TestClient],
    world: World,
    engine_under_test: Engine,
    sent: list[uuid.UUID],
) -> None:
    admin = client_as("admin")
    if role == "viewer-cohost":
        _make_viewer_cohost(admin, engine_under_test, world)
    session_id = world.acme.own_session if whose == "own" else world.acme.other_session
    # The edit body is the session's own form values (as an admin sees them) with a new title.
    form: dict[str, Any] = dict(admin.get(f"/admin/sessions/{session_id}/edit").context["values"])  # type: ignore[attr-defined]
    form["title"] = f"Changed by {role}"
    client = client_as("viewer" if role == "viewer-cohost" else role)
    _name, method, path = next(r for r in ROUTES if r[0] == route)
    url = path.format(id=session_id)
    sent.clear()
    if method == "GET":
        response = client.get(url, follow_redirects=False)
    else:
        response = client.post(url, data={**form, "csrf_token": csrf_of(client)}, follow_redirects=False)
    allowed = EXPECTED[(role, route, whose)]
    with Session(engine_under_test) as db:
        title = db.get(LiveSession, session_id).title  # type: ignore[union-attr]
    if allowed:
        assert response.status_code == (200 if method == "GET" else 303), response.text
        if route == "edit":
            assert title == f"Changed by {role}" and sent == [session_id]
        if route == "resync":
            assert sent == [session_id]
    else:
        assert response.status_code == 403, response.text
        assert response.template.name == "admin/errors/403.html"  # type: ignore[attr-defined]
        assert title != f"Changed by {role}" and sent == []


def test_hosting_grants_no_role(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, sent: list[uuid.UUID]
) -> None:
    _make_viewer_cohost(client_as("admin"), engine_under_test, world)
    with Session(engine_under_test) as db:
        viewer = db.get(Person, world.acme.people["viewer"])
        assert viewer is not None
        assert viewer.admin_role == "viewer"  # the platform role list may say "organizer"; access does not read it
    client = client_as("viewer")
    page = client.get(f"/admin/sessions/{world.acme.own_session}")
    assert page.status_code == 200 and page.context["can_write"] is False  # type: ignore[attr-defined]
    assert client.get("/admin/sessions").context["user"].role == "viewer"  # type: ignore[attr-defined]
    assert client.get("/admin/sessions/new").status_code == 403


def test_a_host_without_granted_role_cannot_sign_in(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    from tests.admin_ui.conftest import post_login

    with Session(engine_under_test) as db:
        person = db.get(Person, world.acme.people["organizer"])
        assert person is not None
        person.admin_role = None  # hosts sessions, holds a password, but nobody granted a role
        db.add(person)
        db.commit()
    response = post_login(client_as(None), world.acme.emails["organizer"])
    assert response.status_code == 400


@pytest.mark.parametrize("role", list(AdminRole))
def test_grants_table_is_what_views_ask(role: AdminRole) -> None:
    grants = GRANTS[role]
    assert allows(role, Need.READ_SESSIONS) is (grants.read_sessions is not Scope.NONE)
    assert allows(role, Need.WRITE_SESSIONS) is (grants.write_sessions is not Scope.NONE)
    assert allows(role, Need.MANAGE_TENANT) is (role is AdminRole.ADMIN)
    assert allows(None, Need.READ_SESSIONS) is False and allows("learner", Need.READ_SESSIONS) is False
