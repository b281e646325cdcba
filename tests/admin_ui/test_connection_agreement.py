"""My Google and Organizers agree on who needs to connect: nobody in vendor mode, nobody of the domain
under domain-wide delegation, each organizer under per-organizer consent.

Where it sits: ``tests/admin_ui``; the real web app and the factories' world (acme in delegation mode,
globex in vendor mode).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from engine.store.models import Tenant
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.factories import World


def _organizers_status(client: TestClient) -> dict[str, str]:
    rows = client.get("/admin/organizers").context["rows"]  # type: ignore[attr-defined]
    return {r.person.email: r.connection_status for r in rows}


@pytest.mark.parametrize(("tenant", "method", "admin_status", "shown"), [
    ("acme", "oauth", "not_connected", "not connected"),
    ("acme", "domain_wide", "domain_wide", "authorized Muster for the whole domain"),
    ("globex", "oauth", "not_needed", "no connection needed"),
])
def test_my_google_and_organizers_agree(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine,
    tenant: str, method: str, admin_status: str, shown: str,
) -> None:
    tenant_id = world.acme.tenant_id if tenant == "acme" else world.other.tenant_id
    with unit_of_work(engine_under_test) as uow:
        row = uow.db.get(Tenant, tenant_id)
        assert row is not None
        row.delegation_method = method
        uow.db.add(row)
    admin = client_as("admin", tenant)
    page = admin.get("/admin/account")
    assert page.context["status"] == admin_status  # type: ignore[attr-defined]
    assert page.context["needs_connect"] is (admin_status == "not_connected")  # type: ignore[attr-defined]
    assert shown in page.text
    # Only where a connection is needed does the page talk about connecting (here: not configured)
    assert ("MUSTER_GOOGLE_OAUTH_CLIENT_ID" in page.text) is (admin_status == "not_connected")
    # The organizer sees on My Google exactly what the Organizers page says about them
    organizer_email = world.acme.emails["organizer"] if tenant == "acme" else world.other.emails["organizer"]
    mine = client_as("organizer", tenant).get("/admin/account").context["status"]  # type: ignore[attr-defined]
    assert _organizers_status(admin)[organizer_email] == mine
