"""What the admin UI's forms do: sign-in, the session form (UTC conversion, field errors), resync,
policies, audit filters, and the ``muster user set-password`` command.

Where it sits: behaviour tests of :mod:`admin_ui.views` through the real app (TestClient); writes are
checked in the database, enqueues through a recording after-commit dispatcher.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from engine.store.models import AuditEvent, LiveSession, Person, Tenant
from policies.notifications import NotificationPolicy
from policies.privacy import PrivacyPolicy
from tests.admin_ui.conftest import csrf_of, post_login
from tests.admin_ui.factories import World

FORM = {
    "title": "Weekly SQL clinic",
    "start_date": "2027-03-25",
    "start_time": "10:00",
    "end_time": "11:00",
    "time_zone": "Europe/Berlin",
    "freq": "weekly",
    "repeat_count": "4",
    "video": "manual",
    "manual_join_link": "https://zoom.example/j/1",
    "organizer": "organizer@acme.example",
}


def test_wrong_password_rerenders_the_form(client_as: Callable[..., TestClient], world: World) -> None:
    client = client_as(None)
    response = post_login(client, "admin@acme.example", "nope-nope-nope")
    assert response.status_code == 400
    assert response.template.name == "admin/auth/login.html"  # type: ignore[attr-defined]
    assert response.context["error"] == "Tenant, email or password is not right."  # type: ignore[attr-defined]
    assert client.get("/admin/sessions", follow_redirects=False).status_code == 303


def test_learners_cannot_sign_in(client_as: Callable[..., TestClient], world: World) -> None:
    client = client_as(None)
    response = post_login(client, "learner@acme.example", "correct horse battery")
    assert response.status_code == 400


def test_create_session_converts_local_time_and_enqueues_after_commit(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, sent: list[uuid.UUID]
) -> None:
    client = client_as("organizer")
    response = client.post(
        "/admin/sessions/new", data={**FORM, "csrf_token": csrf_of(client)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    with Session(engine_under_test) as db:
        created = db.exec(select(LiveSession).where(LiveSession.title == "Weekly SQL clinic")).one()
    assert response.headers["location"] == f"/admin/sessions/{created.id}"
    # 10:00 in Berlin on 25 March 2027 is still winter time (UTC+1); the series keeps its local time.
    assert created.start_at == datetime(2027, 3, 25, 9, 0, tzinfo=UTC)
    assert created.recurrence == "RRULE:FREQ=WEEKLY;COUNT=4"
    assert sent == [created.id]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        (
            {"start_time": "02:30", "start_date": "2027-03-28", "end_time": "04:00"},
            "start_time",
        ),  # clocks skip
        ({"end_time": "09:00"}, "end_time"),
        ({"manual_join_link": "http://insecure.example"}, "manual_join_link"),
        ({"repeat_count": "", "repeat_until": ""}, "repeat_count"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"co_hosts": "organizer@acme.example"}, "co_hosts"),
    ],
)
def test_invalid_session_form_rerenders_with_field_errors(
    change: dict[str, str],
    field: str,
    client_as: Callable[..., TestClient],
    world: World,
    sent: list[uuid.UUID],
) -> None:
    client = client_as("admin")
    response = client.post("/admin/sessions/new", data={**FORM, **change, "csrf_token": csrf_of(client)})
    assert response.status_code == 400
    assert response.template.name == "admin/sessions/edit.html"  # type: ignore[attr-defined]
    assert field in response.context["errors"], response.context["errors"]  # type: ignore[attr-defined]
    assert response.context["values"]["title"] == change.get("title", FORM["title"])  # type: ignore[attr-defined]
    assert sent == []


def test_edit_keeps_external_id_and_bumps_revision(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, sent: list[uuid.UUID]
) -> None:
    client = client_as("organizer")
    sid = world.acme.own_session
    values = client.get(f"/admin/sessions/{sid}/edit").context["values"]  # type: ignore[attr-defined]
    response = client.post(
        f"/admin/sessions/{sid}/edit",
        data={**values, "title": "Intro to SQL (room change)", "csrf_token": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    with Session(engine_under_test) as db:
        s = db.get(LiveSession, sid)
        assert s is not None and s.title == "Intro to SQL (room change)" and s.revision == 2
        assert s.external_id == "acme-own_session"
    assert sent == [sid]


def test_resync_records_audit_and_enqueues(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, sent: list[uuid.UUID]
) -> None:
    client = client_as("organizer")
    sid = world.acme.own_session
    response = client.post(
        f"/admin/sessions/{sid}/resync", data={"csrf_token": csrf_of(client)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert sent == [sid]
    with Session(engine_under_test) as db:
        event = db.exec(select(AuditEvent).where(AuditEvent.action == "admin.resync")).one()
    assert event.actor == "user:organizer@acme.example" and event.session_id == sid


def test_policies_are_validated_and_saved(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    client = client_as("admin")
    bad = client.post(
        "/admin/integration/policies",
        data={
            "fallback_owner_email": "someone@elsewhere.example",
            "guest_list": "hidden",
            "send_updates": "all",
            "csrf_token": csrf_of(client),
        },
    )
    assert bad.status_code == 400
    assert "fallback_owner_email" in bad.context["policy_errors"]  # type: ignore[attr-defined]
    good = client.post(
        "/admin/integration/policies",
        data={
            "fallback_owner_email": "admin@acme.example",
            "guest_list": "visible",
            "section": "notifications",
            "notifications.membership_emails": "1",
            "notifications.notify_on": ["time", "location"],
            "csrf_token": csrf_of(client),
        },
        follow_redirects=False,
    )
    assert good.status_code == 303
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None
        assert tenant.fallback_owner_email == "admin@acme.example"
        # What the form stores is what the engine's readers accept (the one settings schema).
        assert tenant.settings["privacy"] == {"guest_list_visible": True}
        assert tenant.settings["notifications"] == {"notify_on": ["location", "time"], "membership_emails": True}
        assert PrivacyPolicy.from_settings(tenant.settings["privacy"]).guest_list_visible is True
        assert "attendees" in NotificationPolicy.from_settings(tenant.settings["notifications"]).notify_on


def test_audit_filters_and_bad_input(client_as: Callable[..., TestClient], world: World) -> None:
    client = client_as("viewer")
    created = client.get("/admin/audit?action=sync.created").context["events"]  # type: ignore[attr-defined]
    assert [e.action for e in created] == ["sync.created"]
    by_session = client.get(f"/admin/audit?session={world.acme.own_session}").context["events"]  # type: ignore[attr-defined]
    assert len(by_session) == 3
    none_yet = client.get("/admin/audit?since=2099-01-01").context["events"]  # type: ignore[attr-defined]
    assert none_yet == []
    bad = client.get("/admin/audit?since=yesterday&session=nope")
    assert bad.status_code == 400 and set(bad.context["errors"]) == {"since", "session"}  # type: ignore[attr-defined]


def test_organizers_page_flags_revoked_connection(client_as: Callable[..., TestClient], world: World) -> None:
    rows = client_as("admin").get("/admin/organizers").context["rows"]  # type: ignore[attr-defined]
    status = {r.person.email: r.connection_status for r in rows}
    assert status["colleague@acme.example"] == "revoked"
    assert status["organizer@acme.example"] == "connected"


def test_cli_set_password(world: World, engine_under_test: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli.main import cli

    monkeypatch.setattr(
        "engine.cli.user.get_settings",
        lambda: type(
            "S", (), {"database_url": engine_under_test.url.render_as_string(hide_password=False)}
        )(),
    )
    monkeypatch.setattr("engine.cli.user.get_engine", lambda _s: engine_under_test)
    runner = CliRunner()
    short = runner.invoke(
        cli,
        ["user", "set-password", "--tenant", "acme", "--email", "learner@acme.example", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code != 0 and "at least 10" in short.output
    ok = runner.invoke(
        cli,
        [
            "user",
            "set-password",
            "--tenant",
            "acme",
            "--email",
            "Learner@acme.example",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        input="a much longer password\n",
    )
    assert ok.exit_code == 0, ok.output
    with Session(engine_under_test) as db:
        person = db.exec(select(Person).where(Person.email == "learner@acme.example")).one()
        assert person.admin_role == "viewer"
    unknown = runner.invoke(
        cli,
        ["user", "set-password", "--tenant", "nope", "--email", "x@y.example", "--password-stdin"],
        input="a much longer password\n",
    )
    assert unknown.exit_code != 0 and "--tenant" in unknown.output


def test_mode_switch_preview_then_apply(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine, sent: list[uuid.UUID]
) -> None:
    client = client_as("admin")
    # Given a delegation-mode tenant, when the admin previews a switch to vendor mode
    preview = client.post(
        "/admin/integration/switch/preview", data={"target_mode": "vendor", "csrf_token": csrf_of(client)}
    )
    assert preview.status_code == 200, preview.context["preview"].message  # type: ignore[attr-defined]
    outcome = preview.context["preview"]  # type: ignore[attr-defined]
    assert outcome.ok and len(outcome.plan) == 2 and outcome.switch_id
    # Then nothing changed yet
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None and tenant.integration_mode == "delegation"
    assert sent == []
    # When they apply without retyping the mode, it is refused
    refused = client.post(
        "/admin/integration/switch/apply",
        data={
            "target_mode": "vendor",
            "switch_id": outcome.switch_id,
            "confirm": "",
            "csrf_token": csrf_of(client),
        },
    )
    assert refused.status_code == 400
    # When they confirm, the tenant flips and each session is enqueued after commit
    applied = client.post(
        "/admin/integration/switch/apply",
        data={
            "target_mode": "vendor",
            "switch_id": outcome.switch_id,
            "confirm": "vendor",
            "csrf_token": csrf_of(client),
        },
        follow_redirects=False,
    )
    assert applied.status_code == 303
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None and tenant.integration_mode == "vendor"
    assert set(sent) == {world.acme.own_session, world.acme.other_session}
    page = client.get("/admin/integration")
    latest = page.context["switch"].latest  # type: ignore[attr-defined]
    assert latest.to_mode == "vendor" and latest.status == "running" and latest.total == 2


def test_mode_switch_of_another_tenant_is_refused(client_as: Callable[..., TestClient], world: World) -> None:
    acme = client_as("admin")
    outcome = acme.post(
        "/admin/integration/switch/preview", data={"target_mode": "vendor", "csrf_token": csrf_of(acme)}
    ).context["preview"]  # type: ignore[attr-defined]
    globex = client_as("admin", tenant="globex")
    response = globex.post(
        "/admin/integration/switch/apply",
        data={
            "target_mode": "vendor",
            "switch_id": outcome.switch_id,
            "confirm": "vendor",
            "csrf_token": csrf_of(globex),
        },
    )
    assert response.status_code == 400  # globex is in vendor mode already; the acme switch is not theirs
    other = globex.post(
        "/admin/integration/switch/apply",
        data={
            "target_mode": "delegation",
            "switch_id": outcome.switch_id,
            "confirm": "delegation",
            "csrf_token": csrf_of(globex),
        },
    )
    assert other.status_code == 400
    assert "Preview the switch first" in other.context["preview"].message  # type: ignore[attr-defined]


def test_organizer_without_google_in_delegation_mode_is_asked_to_connect(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    from engine.store.models import GoogleConnection

    with Session(engine_under_test) as db:
        for conn in db.exec(
            select(GoogleConnection).where(GoogleConnection.person_id == world.acme.people["organizer"])
        ):
            db.delete(conn)
        db.commit()
    client = client_as("organizer")
    page = client.get("/admin/sessions/new")
    assert page.context["needs_google"] is True  # type: ignore[attr-defined]
    post = client.post("/admin/sessions/new", data={**FORM, "csrf_token": csrf_of(client)})
    assert post.status_code == 409
    assert client_as("organizer", tenant="globex").get("/admin/sessions/new").context["needs_google"] is False  # type: ignore[attr-defined]


@pytest.fixture
def engine_under_test(db_engine: Engine) -> Engine:
    """These flows run on both stacks: SQLite, then PostgreSQL (skipped with a reason when absent)."""
    return db_engine


def test_oauth_callback_with_a_forged_state_is_a_message_not_a_500(
    client_as: Callable[..., TestClient], world: World
) -> None:
    client = client_as("organizer")
    response = client.get("/oauth/google/callback?state=forged&code=x", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/admin/account"
    page = client.get("/admin/account")
    assert page.context["flashes"][-1][0] == "bad"  # type: ignore[attr-defined]
    assert "does not match a request from this server" in page.context["flashes"][-1][1]  # type: ignore[attr-defined]


def test_organizers_page_lists_sessions_at_risk(client_as: Callable[..., TestClient], world: World) -> None:
    # colleague@ is leaving, hosts "Advanced Git" alone, and acme has no fallback owner: nobody can inherit it
    page = client_as("viewer").get("/admin/organizers")
    spof = page.context["spof"]  # type: ignore[attr-defined]
    assert [(r.session_id, r.owner_email, r.outcome) for r in spof] == [
        (world.acme.other_session, "colleague@acme.example", "blocked")
    ]


def test_creating_with_a_taken_external_id_is_a_field_error(
    client_as: Callable[..., TestClient], world: World, sent: list[uuid.UUID]
) -> None:
    client = client_as("admin")
    response = client.post(
        "/admin/sessions/new", data={**FORM, "external_id": "acme-own_session", "csrf_token": csrf_of(client)}
    )
    assert response.status_code == 400
    assert "exists already" in response.context["errors"]["external_id"]  # type: ignore[attr-defined]
    assert sent == []
