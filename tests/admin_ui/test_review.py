"""Connection status per set-up, the routes outside /admin's main matrix, and odd values in every form field.

Where it sits: :mod:`admin_ui.views` through the real app, beside test_permissions (access matrix) and
test_flows (happy paths). An organizer's "no connection" means different things per mode; sign-out and the
OAuth callback have their own rules; no form answers 500 whatever its fields hold.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from admin_ui.services.setup_form import POLICY_FIELDS
from engine.store.models import Person, Tenant
from tests.admin_ui.conftest import csrf_of
from tests.admin_ui.factories import World


def _set_mode(engine: Engine, world: World, mode: str, method: str) -> None:
    with Session(engine) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None
        tenant.integration_mode, tenant.delegation_method = mode, method
        db.add(tenant)
        db.add(
            Person(tenant_id=tenant.id, email="newcomer@acme.example", display_name="Nia Newcomer", roles=["organizer"])
        )
        db.commit()


@pytest.mark.parametrize(
    ("mode", "method", "status", "attention"),
    [
        ("delegation", "oauth", "not_connected", 2),  # must consent: flagged, with the reconnect link
        ("delegation", "domain_wide", "domain_wide", 1),  # the service account acts for them: fine
        ("vendor", "oauth", "not_needed", 1),  # Muster's own accounts own the events: fine
    ],
)
def test_an_organizer_without_a_connection_is_judged_by_the_tenant_set_up(
    client_as: Callable[..., TestClient],
    world: World,
    engine_under_test: Engine,
    mode: str,
    method: str,
    status: str,
    attention: int,
) -> None:
    _set_mode(engine_under_test, world, mode, method)
    page = client_as("admin").get("/admin/organizers")
    rows = {r.person.email: r for r in page.context["rows"]}  # type: ignore[attr-defined]
    assert rows["newcomer@acme.example"].connection_status == status
    assert rows["colleague@acme.example"].connection_status == "revoked"  # a broken connection stays flagged
    assert page.context["problem_count"] == attention  # type: ignore[attr-defined]
    row_html = page.text.split('data-email="newcomer@acme.example"')[1].split("</tr>")[0]
    assert "Nia Newcomer" in row_html
    assert ("Connect Google" in row_html) is (status == "not_connected")


def test_sign_out_needs_the_form_token(client_as: Callable[..., TestClient], world: World) -> None:
    client = client_as("viewer")
    assert client.post("/admin/logout", data={}, follow_redirects=False).status_code == 403
    assert client.get("/admin/health").status_code == 200  # a forged sign-out did nothing
    out = client.post("/admin/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert client.get("/admin/health", follow_redirects=False).status_code == 303


def test_sign_in_needs_the_form_token(client_as: Callable[..., TestClient], world: World) -> None:
    response = client_as(None).post(
        "/admin/login", data={"tenant": "acme", "email": "admin@acme.example", "password": "x" * 12}
    )
    assert response.status_code == 403


def test_oauth_callback_started_by_someone_else_is_refused(client_as: Callable[..., TestClient], world: World) -> None:
    from engine.delegation.oauth import _serializer

    client = client_as("admin")
    settings = client.app.state.settings  # type: ignore[attr-defined]
    state = _serializer(settings).dumps(
        {"t": str(world.acme.tenant_id), "p": str(world.acme.people["organizer"]), "n": "0"}
    )
    response = client.get(f"/oauth/google/callback?state={state}&code=x", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/account"
    flashes = client.get("/admin/account").context["flashes"]  # type: ignore[attr-defined]
    assert flashes[-1][0] == "bad" and "started by someone else" in flashes[-1][1]


def test_oauth_callback_anonymous_with_a_forged_state_goes_to_sign_in(
    client_as: Callable[..., TestClient], world: World
) -> None:
    response = client_as(None).get("/oauth/google/callback?error=access_denied", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"


ODD = ["", " ", "0", "-1", "99999999999999999999", "1e9", "abc", "2027-02-30", "25:61", "<script>", "\x00", "ü" * 500]
SESSION_FIELDS = [
    "title",
    "external_id",
    "description",
    "location",
    "status",
    "start_date",
    "start_time",
    "end_date",
    "end_time",
    "time_zone",
    "freq",
    "repeat_count",
    "repeat_until",
    "recurrence_raw",
    "video",
    "manual_join_link",
    "organizer",
    "co_hosts",
    "presenters",
    "capacity",
    "room_wanted",
    "room_min_capacity",
    "room_building",
    "room_features",
    "room_email",
    "find_rooms",
]
FORMS = {
    "/admin/sessions/new": SESSION_FIELDS,
    "/admin/sessions/{own}/edit": SESSION_FIELDS,
    "/admin/integration/policies": [
        "fallback_owner_email",
        "guest_list",
        "notifications",
        "room_upsize",
        "successor",
        "send_updates",
        "section",
        *POLICY_FIELDS,
    ],
    "/admin/integration/setup": ["mode", "delegation_method", "directory_admin_email", "vendor_owner_emails"],
    "/admin/integration/switch/preview": ["target_mode"],
    "/admin/integration/switch/apply": ["target_mode", "confirm", "switch_id"],
    "/admin/login": ["tenant", "email", "password", "next"],
}


@pytest.mark.parametrize("path", list(FORMS))
def test_odd_values_in_every_field_never_give_a_500(
    client_as: Callable[..., TestClient], world: World, path: str
) -> None:
    from tests.admin_ui.test_flows import FORM

    client = client_as("admin")
    token = csrf_of(client)
    base = dict(FORM) if path.startswith("/admin/sessions") else {}
    url = path.format(own=world.acme.own_session)
    for field in FORMS[path]:
        for value in ODD:
            response = client.post(url, data={**base, field: value, "csrf_token": token}, follow_redirects=False)
            assert response.status_code < 500, (field, value, response.text[-500:])
            assert response.status_code != 404, url
            if response.status_code == 400:
                assert "field-error" in response.text or "flash bad" in response.text or "error" in response.text
