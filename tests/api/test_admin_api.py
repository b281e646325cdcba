"""The admin REST API: a tenant's set-up and people, opened only by an admin's token.

Where it sits: ``tests/api``; the real app on SQLite and PostgreSQL (``db_engine``), a recording dispatcher.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from engine.admin.people import PeopleError, add_person, issue_admin_token
from engine.store.models import AuditEvent, Person, Tenant
from engine.store.unit_of_work import unit_of_work
from tests.api.conftest import Api, session_body


def _admin_token(api: Api, email: str = "it-admin@a.example", tenant_id: Any = None) -> str:
    with unit_of_work(api.engine) as uow:
        tenant = uow.db.get(Tenant, tenant_id or api.tenant_a)
        assert tenant is not None
        add_person(db=uow.db, tenant=tenant, email=email, role="admin", actor="test")
        return issue_admin_token(db=uow.db, tenant=tenant, email=email, actor="test")


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_only_an_admin_token_opens_the_admin_api_and_it_never_opens_ingest(api: Api) -> None:
    token = _admin_token(api)
    assert api.client.get("/v1/admin/tenant").status_code == 401
    ingest = api.client.get("/v1/admin/tenant", headers=api.auth())
    assert ingest.status_code == 401 and "ingest key" in ingest.json()["detail"]
    assert api.client.get("/v1/admin/tenant", headers=_h(token)).status_code == 200
    assert api.client.get("/v1/sessions", headers=_h(token)).status_code == 401
    # Only admins get a token; an admin demoted to viewer loses the API at once
    with unit_of_work(api.engine) as uow:
        tenant = uow.db.get(Tenant, api.tenant_a)
        assert tenant is not None
        add_person(db=uow.db, tenant=tenant, email="viewer@a.example", role="viewer", actor="test")
        with pytest.raises(PeopleError, match="not an admin"):
            issue_admin_token(db=uow.db, tenant=tenant, email="viewer@a.example", actor="test")
    second = _admin_token(api, "second@a.example")
    demoted = api.client.put("/v1/admin/people/second@a.example", json={"role": "viewer"}, headers=_h(token))
    assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
    assert api.client.get("/v1/admin/tenant", headers=_h(second)).status_code == 401
    schema = api.client.get("/openapi.json").json()
    assert {"/v1/admin/tenant", "/v1/admin/people", "/v1/admin/people/{email}"} <= set(schema["paths"])


def test_set_up_through_the_api_is_validated_audited_and_enqueues_the_tenant(api: Api) -> None:
    token = _admin_token(api)
    assert api.put("/v1/sessions/s-1", session_body()).status_code == 201
    api.dispatcher.calls.clear()
    shown = api.client.get("/v1/admin/tenant", headers=_h(token)).json()
    assert shown["mode"] == "vendor" and shown["vendorOwnerEmails"] == ["owner@vendor.example"]
    assert shown["settings"]["rooms"]["max_attempts"] == 5 and shown["configError"] is None
    scopes = shown["domainWideDelegation"]["scopes"]
    assert "https://www.googleapis.com/auth/admin.datatransfer" in scopes
    assert "https://www.googleapis.com/auth/admin.directory.user.readonly" in scopes
    # Bad values: a 422 naming the field, nothing saved
    for body, loc, needle in [
        ({"settings": {"rooms": {"headroom": 5}}}, ["body", "settings", "rooms", "headroom"], "2"),
        ({"settings": {"privacy": {"guest_list": "hidden"}}}, ["body", "settings", "privacy", "guest_list"],
         "unknown setting"),
        ({"settings": {"privcy": {}}}, ["body", "settings", "privcy"], "unknown settings section"),
        ({"fallbackOwnerEmail": "x@elsewhere.example"}, ["body", "fallbackOwnerEmail"], "must be an account in"),
        ({"vendorOwnerEmails": ["not-an-email"]}, ["body", "vendorOwnerEmails"], "email"),
        ({"delegationMethod": "telepathy"}, ["body", "delegationMethod"], ""),
    ]:
        with unit_of_work(api.engine) as uow:
            tenant = uow.db.get(Tenant, api.tenant_a)
            assert tenant is not None
            tenant.google_domain = "a.example"
            uow.db.add(tenant)
        bad = api.client.patch("/v1/admin/tenant", json=body, headers=_h(token))
        assert bad.status_code == 422, (body, bad.text)
        [detail] = bad.json()["detail"]
        assert detail["loc"] == loc and needle in detail["msg"], (body, detail)
    with Session(api.engine) as db:
        tenant = db.get(Tenant, api.tenant_a)
        assert tenant is not None and tenant.settings == {} and tenant.fallback_owner_email is None
    assert api.dispatcher.calls == []
    # A good change: stored through the schema, audited as the admin, the tenant's sessions enqueued
    good = api.client.patch(
        "/v1/admin/tenant",
        json={"settings": {"rooms": {"headroom": 0.1}, "privacy": {"guest_list_visible": True}},
              "fallbackOwnerEmail": "Fallback@A.example",
              "vendorOwnerEmails": ["o1@vendor.example", "o2@vendor.example"]},
        headers=_h(token),
    )
    assert good.status_code == 200, good.text
    data = good.json()
    assert data["settings"]["rooms"]["headroom"] == 0.1 and data["settings"]["privacy"] == {"guest_list_visible": True}
    assert data["fallbackOwnerEmail"] == "fallback@a.example"
    assert data["vendorOwnerEmails"] == ["o1@vendor.example", "o2@vendor.example"]
    assert len(api.dispatcher.ids) == 1
    with Session(api.engine) as db:
        [audit] = db.exec(select(AuditEvent).where(AuditEvent.action == "tenant.setup")).all()
        assert audit.actor == "user:it-admin@a.example"
        assert set(audit.detail) == {"settings", "fallback_owner_email", "vendor_owner_emails"}
        # the fallback owner is now a person Muster knows, with no role
        fallback = db.exec(select(Person).where(Person.email == "fallback@a.example")).one()
        assert fallback.admin_role is None
    # Mode can be set while nothing exists in Google; a section resets with null
    reset = api.client.patch("/v1/admin/tenant", json={"settings": {"rooms": None}, "mode": "delegation",
                                                       "delegationMethod": "domain_wide"}, headers=_h(token))
    assert reset.status_code == 200, reset.text
    assert reset.json()["settings"]["rooms"]["headroom"] == 0.0 and reset.json()["mode"] == "delegation"
    assert reset.json()["delegationMethod"] == "domain_wide"


def test_people_are_added_listed_and_deactivated_through_the_api(api: Api) -> None:
    token = _admin_token(api)
    added = api.client.put("/v1/admin/people/Org@A.example", json={"role": "organizer", "displayName": "Org"},
                           headers=_h(token))
    assert added.status_code == 200, added.text
    assert added.json() == {"email": "org@a.example", "displayName": "Org", "role": "organizer",
                            "status": "active", "hostsSessions": False, "hasPassword": False}
    bad = api.client.put("/v1/admin/people/x@a.example", json={"role": "owner"}, headers=_h(token))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "role"]
    link = api.client.post("/v1/admin/people/org@a.example/sign-in-link", headers=_h(token))
    assert link.status_code == 200 and "/admin/welcome?token=mk_" in link.json()["url"]
    listed = api.client.get("/v1/admin/people", headers=_h(token)).json()
    assert [(p["email"], p["role"]) for p in listed] == [
        ("it-admin@a.example", "admin"), ("org@a.example", "organizer")]
    # The last admin cannot be deactivated; others can, and lose their access at once
    last = api.client.post("/v1/admin/people/it-admin@a.example/deactivate", headers=_h(token))
    assert last.status_code == 409 and "last admin" in last.json()["detail"]
    # ... nor demoted: nobody could manage the tenant afterwards
    demoted = api.client.put("/v1/admin/people/it-admin@a.example", json={"role": "viewer"}, headers=_h(token))
    assert demoted.status_code == 409 and "last admin" in demoted.json()["detail"], demoted.text
    assert api.client.get("/v1/admin/tenant", headers=_h(token)).status_code == 200
    gone = api.client.post("/v1/admin/people/org@a.example/deactivate", headers=_h(token))
    assert gone.status_code == 200 and gone.json()["role"] is None
    assert api.client.post("/v1/admin/people/nobody@a.example/deactivate", headers=_h(token)).status_code == 404
    # Another tenant's admin sees only their own people
    other = _admin_token(api, "boss@b.example", api.tenant_b)
    assert [p["email"] for p in api.client.get("/v1/admin/people", headers=_h(other)).json()] == ["boss@b.example"]


def test_the_settings_of_the_admin_patch_are_the_engine_s_schema_in_the_openapi_document(api: Api) -> None:
    from policies.settings import SECTIONS

    doc = api.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    patch = schemas["TenantSetupPatch"]["properties"]["settings"]
    ref = next(p["$ref"] for p in patch["anyOf"] if "$ref" in p).rsplit("/", 1)[-1]
    sections = schemas[ref]
    # Every section, no other: unknown sections are refused
    assert sections["additionalProperties"] is False and set(sections["properties"]) == set(SECTIONS)
    for key, model in SECTIONS.items():
        refs = [p["$ref"] for p in sections["properties"][key]["anyOf"] if "$ref" in p]
        section = schemas[refs[0].rsplit("/", 1)[-1]]
        # each section lists every setting the engine reads, by its stored name, with its default
        assert section["additionalProperties"] is False, key
        assert set(section["properties"]) == {f.alias or n for n, f in model.model_fields.items()}, key
        for name, prop in section["properties"].items():
            assert prop.get("description"), (key, name)
    rooms = schemas["RoomSettings"]["properties"]
    assert (rooms["headroom"]["minimum"], rooms["headroom"]["maximum"]) == (0.0, 2.0)
    assert rooms["on_outgrown"]["enum"] == ["upsize", "warn"]
    # A key the schema does not know is refused by name, and nothing is saved
    token = _admin_token(api)
    bad = api.client.patch("/v1/admin/tenant", json={"settings": {"rooms": {"headroom": 0.1, "head_room": 1}}},
                           headers=_h(token))
    assert bad.status_code == 422, bad.text
    [detail] = bad.json()["detail"]
    assert detail["loc"] == ["body", "settings", "rooms", "head_room"]
    assert detail["msg"].startswith("settings.rooms.head_room: unknown setting; known: headroom, on_outgrown")
    with Session(api.engine) as db:
        tenant = db.get(Tenant, api.tenant_a)
        assert tenant is not None and tenant.settings == {}


def test_the_workspace_domain_is_set_changed_and_cleared_through_the_api(api: Api) -> None:
    token = _admin_token(api)
    assert api.put("/v1/sessions/s-1", session_body()).status_code == 201
    api.dispatcher.calls.clear()
    assert api.client.get("/v1/admin/tenant", headers=_h(token)).json()["domain"] is None
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["TenantSetupPatch"]
    assert schema["properties"]["domain"]["anyOf"][0]["maxLength"] == 253
    # Bad values: a 422 naming the field and the fix; nothing saved
    for raw, needle in [
        ("https://a.example/", "without https://"),
        ("it@a.example", "the part after the @"),
        ("localhost", "e.g. acme.example"),
        ("a..example", "e.g. acme.example"),
        ("-a.example", "e.g. acme.example"),
    ]:
        bad = api.client.patch("/v1/admin/tenant", json={"domain": raw}, headers=_h(token))
        assert bad.status_code == 422, (raw, bad.text)
        [detail] = bad.json()["detail"]
        assert detail["loc"] == ["body", "domain"] and needle in detail["msg"], (raw, detail)
    with Session(api.engine) as db:
        tenant = db.get(Tenant, api.tenant_a)
        assert tenant is not None and tenant.google_domain is None
    # Set (lower-cased), audited as the admin; an internationalized name is stored in its xn-- form
    assert api.dispatcher.calls == []
    good = api.client.patch("/v1/admin/tenant", json={"domain": " A.Example "}, headers=_h(token))
    assert good.status_code == 200 and good.json()["domain"] == "a.example", good.text
    assert len(api.dispatcher.ids) == 1  # who Muster may act as changed: the tenant's sessions are checked again
    assert api.client.patch("/v1/admin/tenant", json={"domain": "bücher.example"},
                            headers=_h(token)).json()["domain"] == "xn--bcher-kva.example"
    # The Directory admin must be of the domain; a change that would leave it outside is refused
    assert api.client.patch("/v1/admin/tenant", json={"domain": "a.example", "directoryAdminEmail": "it@a.example"},
                            headers=_h(token)).status_code == 200
    moved = api.client.patch("/v1/admin/tenant", json={"domain": "b.example"}, headers=_h(token))
    assert moved.status_code == 422 and moved.json()["detail"][0]["loc"] == ["body", "domain"]
    assert "directory_admin_email (it@a.example)" in moved.json()["detail"][0]["msg"]
    both = api.client.patch("/v1/admin/tenant", json={"domain": "b.example", "directoryAdminEmail": "it@b.example"},
                            headers=_h(token))
    assert both.status_code == 200 and both.json()["domain"] == "b.example", both.text
    # Passwords off: clearing is refused, and so is a domain with no active admin in it
    off = api.client.patch("/v1/admin/tenant", json={"settings": {"sign_in": {"passwords": False}}},
                           headers=_h(token))
    assert off.status_code == 200, off.text
    cleared = api.client.patch("/v1/admin/tenant", json={"domain": None, "directoryAdminEmail": None},
                               headers=_h(token))
    assert cleared.status_code == 422
    assert "cannot be cleared while passwords are off" in cleared.json()["detail"][0]["msg"]
    lone = api.client.patch("/v1/admin/tenant", json={"domain": "c.example", "directoryAdminEmail": None},
                            headers=_h(token))
    assert lone.status_code == 422 and "no active admin of this tenant has an address in c.example" in lone.text
    _admin_token(api, "boss@c.example")
    ok = api.client.patch("/v1/admin/tenant", json={"domain": "c.example", "directoryAdminEmail": None},
                          headers=_h(token))
    assert ok.status_code == 200 and ok.json()["domain"] == "c.example", ok.text
    with Session(api.engine) as db:
        changes = [a.detail["domain"] for a in db.exec(select(AuditEvent).where(AuditEvent.action == "tenant.setup"))
                   if "domain" in a.detail]
    assert len(changes) == 5 and {tuple(c) for c in changes} == {
        (None, "a.example"), ("a.example", "xn--bcher-kva.example"), ("xn--bcher-kva.example", "a.example"),
        ("a.example", "b.example"), ("b.example", "c.example")}
