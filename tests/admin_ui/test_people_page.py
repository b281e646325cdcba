"""The People page: list, add, change role, sign-in link and remove, with the rules of the REST API and the CLI.

Where it sits: ``tests/admin_ui``; the real web app on the per-test database, signed in through the real form.
Every write goes through :mod:`engine.admin.people`, so the same refusals hold here as at ``/v1/admin/people``
(the last admin, an account gone in Google), every change is audited as the admin, and another tenant's
people are not found.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from engine.store.models import ApiKey, AuditEvent, Person, PersonStatus
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.conftest import csrf_of
from tests.admin_ui.factories import World


def _person(engine: Engine, tenant_id: object, email: str) -> Person | None:
    with Session(engine) as db:
        return db.exec(select(Person).where(Person.tenant_id == tenant_id, Person.email == email)).first()


def test_an_admin_adds_changes_links_and_removes_people(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, web_app: object
) -> None:
    admin = client_as("admin")
    page = admin.get("/admin/people")
    assert page.status_code == 200 and page.template.name == "admin/people/list.html"  # type: ignore[attr-defined]
    listed = {r["email"]: r["role"] for r in page.context["rows"]}  # type: ignore[attr-defined]
    assert listed == {"admin@acme.example": "admin", "organizer@acme.example": "organizer",
                      "viewer@acme.example": "viewer"}
    assert ("People", "/admin/people") in page.context["nav"]  # type: ignore[attr-defined]
    # Add someone Muster has never seen (not a host): they get exactly the role granted
    added = admin.post("/admin/people", data={"email": " New.Viewer@Acme.example ", "display_name": "Nia",
                                              "role": "viewer", "csrf_token": csrf_of(admin)}, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/admin/people"
    person = _person(engine_under_test, world.acme.tenant_id, "new.viewer@acme.example")
    assert person is not None and person.admin_role == "viewer" and person.display_name == "Nia"
    assert "new.viewer@acme.example added as viewer." in admin.get("/admin/people").text
    # Change the role
    changed = admin.post("/admin/people/new.viewer%40acme.example/role",
                         data={"role": "organizer", "csrf_token": csrf_of(admin)}, follow_redirects=False)
    assert changed.status_code == 303
    person = _person(engine_under_test, world.acme.tenant_id, "new.viewer@acme.example")
    assert person is not None and person.admin_role == "organizer"
    # A one-time sign-in link, shown once on the page that made it, opens the welcome page
    link_page = admin.post("/admin/people/new.viewer%40acme.example/sign-in-link",
                           data={"csrf_token": csrf_of(admin)})
    link = link_page.context["link"]  # type: ignore[attr-defined]
    assert link_page.status_code == 200 and link["email"] == "new.viewer@acme.example"
    assert "/admin/welcome?token=" in link["url"] and link["url"] in link_page.text
    url = urlsplit(link["url"])
    welcome = admin.get(f"{url.path}?{url.query}")
    assert welcome.status_code == 200, welcome.text[:300]
    # Remove: role, password, tokens and links go; the person stays known (they may host sessions)
    removed = admin.post("/admin/people/new.viewer%40acme.example/deactivate",
                         data={"csrf_token": csrf_of(admin)}, follow_redirects=False)
    assert removed.status_code == 303
    person = _person(engine_under_test, world.acme.tenant_id, "new.viewer@acme.example")
    assert person is not None and person.admin_role is None and person.password_hash is None
    with Session(engine_under_test) as db:
        live = db.exec(select(ApiKey).where(ApiKey.person_id == person.id, ApiKey.revoked_at == None)).all()  # noqa: E711
        assert live == []
        actions = [e.action for e in db.exec(select(AuditEvent).where(
            AuditEvent.subject == "new.viewer@acme.example", AuditEvent.actor == "user:admin@acme.example"))]
    assert actions.count("person.role_granted") == 2 and "person.sign_in_link" in actions
    assert "person.deactivated" in actions
    # Everyone (hosts and learners too) on request
    everyone = admin.get("/admin/people?all=1").context["rows"]  # type: ignore[attr-defined]
    assert {"learner@acme.example", "new.viewer@acme.example"} <= {r["email"] for r in everyone}


def test_the_people_rules_are_those_of_the_api(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    admin = client_as("admin")
    # bad input: named beside its field, 400, nothing saved
    for data, field, needle in [
        ({"email": "not-an-email", "role": "viewer"}, "email", "not a valid email address"),
        ({"email": "", "role": "viewer"}, "email", "enter"),
        ({"email": "x@acme.example", "role": "owner"}, "role", "choose one of admin, organizer, viewer"),
        ({"email": "x@acme.example", "role": "viewer", "display_name": "n" * 201}, "display_name", "200"),
    ]:
        bad = admin.post("/admin/people", data={**data, "csrf_token": csrf_of(admin)})
        assert bad.status_code == 400, (data, bad.text[:300])
        errors = bad.context["errors"]  # type: ignore[attr-defined]
        assert needle in errors[field].lower() or needle in errors[field], (data, errors)
    assert _person(engine_under_test, world.acme.tenant_id, "x@acme.example") is None
    # the last admin can be neither demoted nor removed (the same rule as the REST API)
    for path, data in [("/admin/people/admin%40acme.example/role", {"role": "viewer"}),
                       ("/admin/people/admin%40acme.example/deactivate", {})]:
        refused = admin.post(path, data={**data, "csrf_token": csrf_of(admin)})
        assert refused.status_code == 400, refused.text[:300]
        assert any("last admin" in m for m in refused.context["errors"].values())  # type: ignore[attr-defined]
    me = _person(engine_under_test, world.acme.tenant_id, "admin@acme.example")
    assert me is not None and me.admin_role == "admin"
    # an account gone in Google gets no role
    with unit_of_work(engine_under_test) as uow:
        gone = uow.db.get(Person, world.acme.people["viewer"])
        assert gone is not None
        gone.status = PersonStatus.SUSPENDED.value
        uow.db.add(gone)
    suspended = admin.post("/admin/people/viewer%40acme.example/role",
                           data={"role": "admin", "csrf_token": csrf_of(admin)})
    assert suspended.status_code == 400 and "suspended in Google" in suspended.text
    # another tenant's person is not found (as an unknown address), and is not changed
    for path in ("/admin/people/admin%40globex.example/role", "/admin/people/admin%40globex.example/deactivate",
                 "/admin/people/nobody%40acme.example/sign-in-link"):
        missing = admin.post(path, data={"role": "viewer", "csrf_token": csrf_of(admin)})
        assert missing.status_code == 404, (path, missing.status_code)
    theirs = _person(engine_under_test, world.other.tenant_id, "admin@globex.example")
    assert theirs is not None and theirs.admin_role == "admin"
    assert "admin@globex.example" not in admin.get("/admin/people?all=1").text


def test_viewers_read_the_people_page_and_change_nothing(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, web_app: object
) -> None:
    viewer = client_as("viewer")
    page = viewer.get("/admin/people")
    assert page.status_code == 200 and page.context["can_edit"] is False  # type: ignore[attr-defined]
    assert "add-person" not in page.text and "change-role" not in page.text
    token = csrf_of(viewer)
    for path in ("/admin/people", "/admin/people/organizer%40acme.example/role",
                 "/admin/people/organizer%40acme.example/deactivate"):
        denied = viewer.post(path, data={"email": "z@acme.example", "role": "admin", "csrf_token": token})
        assert denied.status_code == 403, path
    assert client_as("organizer").get("/admin/people").status_code == 403
    # without the CSRF token an admin's post changes nothing
    admin = client_as("admin")
    forged = admin.post("/admin/people", data={"email": "z@acme.example", "role": "admin"})
    assert forged.status_code == 403
    assert _person(engine_under_test, world.acme.tenant_id, "z@acme.example") is None
    organizer = _person(engine_under_test, world.acme.tenant_id, "organizer@acme.example")
    assert organizer is not None and organizer.admin_role == "organizer"
