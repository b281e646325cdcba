"""Settings are one schema: every value the Integration page can save keeps the tenant syncing, and a stored
value the schema refuses stops sync loudly (a named ``config_error`` in REST, Health and the CLI), never silently.

Where it sits: ``tests/integration/sync``; runs on both stacks (SQLite + embedded worker, PostgreSQL + Redis +
worker processes). The admin UI is the real web app over the same database; the sync is checked in the
Google emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from admin_ui.web import create_web_app
from engine.admin.accounts import set_password
from engine.admin.queries import health_counts
from engine.store.models import Person, Tenant
from engine.store.unit_of_work import unit_of_work
from tests.admin_ui.conftest import csrf_of, sign_in
from tests.integration.sync.conftest import OWNERS, Stack, organizers, people, session_body

PASSWORD = "correct horse battery"


@pytest.fixture
def admin_ui(stack: Stack) -> Iterator[TestClient]:
    with unit_of_work(stack.engine) as uow:
        uow.db.add(Person(tenant_id=stack.tenant_id, email="it-admin@acme.example"))
        uow.db.flush()
        set_password(db=uow.db, tenant_slug="acme", email="it-admin@acme.example", password=PASSWORD, role="admin")
    with TestClient(create_web_app(stack.settings, start_worker=False), base_url="https://muster.test") as client:
        yield sign_in(client, "acme", "it-admin@acme.example", PASSWORD)


def _policies_form(**overrides: Any) -> dict[str, Any]:
    """The policies form exactly as the page posts it with its defaults."""
    form: dict[str, Any] = {
        "section": ["privacy", "notifications", "rooms", "successor", "lifecycle", "google_changes", "feed"],
        "fallback_owner_email": "",
        "guest_list": "hidden",
        "notifications.notify_on": ["conference", "location", "recurrence", "time"],
        "rooms.headroom": "0.0",
        "rooms.on_outgrown": "upsize",
        "rooms.max_oversize_factor": "0.0",
        "rooms.max_attempts": "5",
        "rooms.categories": "CONFERENCE_ROOM",
        "rooms.excluded": "",
        "successor.eligibleRoles": ["organizer", "co_host"],
        "google_changes.edits": "platform_wins",
        "google_changes.deleted": "recreate",
        "feed.ended_grace_days": "7",
    }
    form.update(overrides)
    return form


#: The defaults, then each option of every field of the form.
POLICY_CASES = [
    {},
    {"guest_list": "visible"},
    {"notifications.membership_emails": "1"},
    {"notifications.notify_on": []},
    {"notifications.notify_on": ["summary", "description", "time"]},
    {"rooms.headroom": "0.25", "rooms.on_outgrown": "warn", "rooms.max_oversize_factor": "3",
     "rooms.max_attempts": "10", "rooms.categories": "CONFERENCE_ROOM\nOTHER",
     "rooms.excluded": "c_1@resource.calendar.google.com"},
    {"successor.eligibleRoles": ["co_host", "presenter"]},
    {"lifecycle.releaseResources": "1"},
    {"google_changes.edits": "report_only", "google_changes.deleted": "flag"},
    {"feed.ended_grace_days": "0"},
    {"fallback_owner_email": "it-admin@acme.example"},
]


def test_every_policies_form_value_keeps_the_tenant_syncing(stack: Stack, admin_ui: TestClient) -> None:
    hosts = organizers()[:1]
    learners = people("l", 3, start=70)
    stack.put_session("s-set", session_body(hosts=hosts, enrolled=learners))
    stack.idle()
    sid = stack.session_id("s-set")
    for i, case in enumerate(POLICY_CASES):
        # Given the page's form saved with one option changed
        page = admin_ui.get("/admin/integration")
        assert page.status_code == 200 and page.context["config_error"] is None  # type: ignore[attr-defined]
        saved = admin_ui.post(
            "/admin/integration/policies",
            data={**_policies_form(**case), "csrf_token": csrf_of(admin_ui)},
            follow_redirects=False,
        )
        assert saved.status_code == 303, (case, saved.text[:500])
        # When the platform changes the session afterwards
        stack.put_session("s-set", session_body(hosts=hosts, enrolled=learners, title=f"Settings round {i}"))
        stack.idle()
        # Then it syncs: Google holds the new title, the binding is synced, no error anywhere
        binding = stack.binding(sid)
        assert binding is not None and binding.sync_status == "synced", (case, binding and binding.last_error)
        (event,) = stack.emu.events_of(sid)
        assert event["summary"] == f"Settings round {i}"
        want_visible = case.get("guest_list") == "visible"
        assert event.get("guestsCanSeeOtherGuests", True) is want_visible, case


def test_a_bad_stored_setting_is_a_named_config_error_everywhere(stack: Stack, admin_ui: TestClient) -> None:
    # Given a value an older version's Policies form stored (the readers never accepted it)
    with unit_of_work(stack.engine) as uow:
        tenant = uow.db.get(Tenant, stack.tenant_id)
        assert tenant is not None
        tenant.settings = {"privacy": {"guest_list": "hidden"}, "notifications": {"send_updates": "all"}}
        uow.db.add(tenant)
    # When the platform sends a session
    stack.put_session("s-bad", session_body(hosts=organizers()[:1], enrolled=people("l", 2, start=80)))
    stack.idle()
    sid = stack.session_id("s-bad")
    # Then nothing is written to Google and the reason names the setting, in REST ...
    assert stack.emu.events_of(sid) == []
    sync = stack.request("GET", "/v1/sessions/s-bad").json()["sync"]
    assert sync["status"] == "blocked", sync
    assert "config_error: tenant setting privacy.guest_list" in sync["lastError"], sync
    # ... in Health ...
    with Session(stack.engine) as db:
        counts = health_counts(db=db, tenant_id=stack.tenant_id)
    assert dict(counts.errors_by_class).get("config") == 1, counts
    # ... and on the Integration page
    page = admin_ui.get("/admin/integration")
    assert page.context["config_error"].field == "privacy.guest_list"  # type: ignore[attr-defined]
    # When the admin saves the policies form again (unchanged)
    saved = admin_ui.post(
        "/admin/integration/policies", data={**_policies_form(), "csrf_token": csrf_of(admin_ui)},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text[:500]
    stack.idle()
    # Then the schema's values are stored and the session syncs by itself (saving enqueues the tenant)
    binding = stack.binding(sid)
    assert binding is not None and binding.sync_status == "synced", binding and binding.last_error
    assert len(stack.emu.events_of(sid)) == 1


def test_a_bad_form_value_names_the_field_and_changes_nothing(stack: Stack, admin_ui: TestClient) -> None:
    for field, value, needle in [
        ("rooms.headroom", "lots", "must be a number"),
        ("rooms.headroom", "7", "less than or equal to 2"),
        ("rooms.max_attempts", "0", "greater than or equal to 1"),
        ("rooms.on_outgrown", "panic", "must be one of upsize, warn"),
        ("successor.eligibleRoles", [], "non-empty list"),
        ("notifications.notify_on", ["colour"], "unknown field"),
    ]:
        bad = admin_ui.post(
            "/admin/integration/policies",
            data={**_policies_form(**{field: value}), "csrf_token": csrf_of(admin_ui)},
        )
        assert bad.status_code == 400, (field, value)
        errors = bad.context["policy_errors"]  # type: ignore[attr-defined]
        assert needle in errors[field], (field, errors)
    with Session(stack.engine) as db:
        tenant = db.get(Tenant, stack.tenant_id)
        assert tenant is not None and tenant.settings == {}


#: Every setting through ``PATCH /v1/admin/tenant``: the defaults (each section null), then each option.
API_CASES: list[dict[str, Any]] = [
    {"privacy": None, "notifications": None, "rooms": None, "successor": None, "lifecycle": None},
    {"privacy": {"guest_list_visible": True}},
    {"privacy": {"guest_list_visible": False}, "notifications": {"membership_emails": True}},
    {"notifications": {"notify_on": [], "membership_emails": False}},
    {"notifications": {"notify_on": ["summary", "description", "time"]}},
    {"rooms": {"headroom": 0.25, "on_outgrown": "warn", "max_oversize_factor": 3, "max_attempts": 10,
               "categories": ["CONFERENCE_ROOM", "OTHER"], "excluded": ["c_1@resource.calendar.google.com"]}},
    {"successor": {"eligibleRoles": ["co_host", "presenter"]}},
    {"lifecycle": {"releaseResources": True}},
]


def test_every_admin_api_setting_is_read_by_the_engine_and_keeps_the_tenant_syncing(stack: Stack) -> None:
    from engine.admin.people import add_person, issue_admin_token

    with unit_of_work(stack.engine) as uow:
        tenant = uow.db.get(Tenant, stack.tenant_id)
        assert tenant is not None
        add_person(db=uow.db, tenant=tenant, email="api-admin@acme.example", role="admin", actor="test")
        token = issue_admin_token(db=uow.db, tenant=tenant, email="api-admin@acme.example", actor="test")
    admin = {"Authorization": f"Bearer {token}"}
    hosts, learners = organizers()[:1], people("l", 3, start=90)
    stack.put_session("s-api-set", session_body(hosts=hosts, enrolled=learners))
    stack.idle()
    sid = stack.session_id("s-api-set")
    visible = False
    for i, case in enumerate(API_CASES):
        # Given one settings change saved through the admin REST API
        saved = stack.api.patch("/v1/admin/tenant", json={"settings": case}, headers=admin)
        assert saved.status_code == 200, (case, saved.text)
        shown = saved.json()["settings"]
        for section, values in case.items():
            for key, value in (values or {}).items():
                assert shown[section][key] == (sorted(set(value)) if isinstance(value, list) else value), (
                    section, key, shown[section])
        if "privacy" in case:
            visible = bool((case["privacy"] or {}).get("guest_list_visible", False))
        # Then the engine reads it through the same schema: the platform's next change syncs, and the
        # guest-list setting shows in Google
        stack.put_session("s-api-set", session_body(hosts=hosts, enrolled=learners, title=f"API round {i}"))
        stack.idle()
        binding = stack.binding(sid)
        assert binding is not None and binding.sync_status == "synced", (case, binding and binding.last_error)
        (event,) = stack.emu.events_of(sid)
        assert event["summary"] == f"API round {i}"
        assert event.get("guestsCanSeeOtherGuests", True) is visible, (case, event.get("guestsCanSeeOtherGuests"))
    with Session(stack.engine) as db:
        tenant = db.get(Tenant, stack.tenant_id)
        assert tenant is not None and tenant.settings["rooms"]["on_outgrown"] == "warn"
        assert tenant.settings["lifecycle"] == {"releaseResources": True}


#: The Integration page's Set-up form: as shown, then each field changed (in vendor mode, with events in Google).
SETUP_CASES: list[dict[str, str]] = [
    {},
    {"delegation_method": "domain_wide"},
    {"directory_admin_email": "it-admin@acme.example"},
    {"vendor_owner_emails": "\n".join(reversed(OWNERS))},
    {"vendor_owner_emails": OWNERS[0]},
    {"delegation_method": "oauth", "directory_admin_email": "", "vendor_owner_emails": "\n".join(OWNERS)},
    {"domain": "acme-learning.example"},
    {"domain": ""},
    {"domain": "acme.example"},
]


def test_every_set_up_form_value_keeps_the_tenant_syncing(stack: Stack, admin_ui: TestClient) -> None:
    hosts, learners = organizers()[:1], people("l", 3, start=110)
    stack.put_session("s-setup", session_body(hosts=hosts, enrolled=learners))
    stack.idle()
    sid = stack.session_id("s-setup")
    for i, case in enumerate(SETUP_CASES):
        # Given the Set-up form posted as the page shows it, with one change
        shown = admin_ui.get("/admin/integration").context["policies"]  # type: ignore[attr-defined]
        form = {
            "mode": "vendor",
            "delegation_method": shown["delegation_method"],
            "directory_admin_email": shown["directory_admin_email"] or "",
            "vendor_owner_emails": shown["vendor_owner_emails"],
            **case,
        }
        saved = admin_ui.post("/admin/integration/setup", data={**form, "csrf_token": csrf_of(admin_ui)},
                              follow_redirects=False)
        assert saved.status_code in (200, 303), (case, saved.text[:500])
        if case.get("directory_admin_email"):
            assert saved.context["directory_check"], case  # type: ignore[attr-defined]  # checked live when saved
        # When the platform changes the session afterwards
        stack.put_session("s-setup", session_body(hosts=hosts, enrolled=learners, title=f"Set-up round {i}"))
        stack.idle()
        # Then it syncs, on one of the pool's owners, with exactly one event in Google
        binding = stack.binding(sid)
        assert binding is not None and binding.sync_status == "synced", (case, binding and binding.last_error)
        (event,) = stack.emu.events_of(sid)
        assert event["summary"] == f"Set-up round {i}"
        with Session(stack.engine) as db:
            tenant = db.get(Tenant, stack.tenant_id)
            assert tenant is not None
            assert binding.owner_email in tenant.vendor_owner_emails, (case, binding.owner_email)
