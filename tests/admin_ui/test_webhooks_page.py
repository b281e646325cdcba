"""The admin UI's part of answers and webhooks: the policies form (decline policy, webhook URL, events and the
write-only secret) read back by the engine, the delivery log with replay, and answers on the session page.

Where it sits: behaviour tests of :mod:`admin_ui.views.integration`, :mod:`admin_ui.views.webhooks` and the
session detail through the real app (TestClient); the browser walk-through is in test_browser.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.testclient import TestClient

from engine.crypto import decrypt
from engine.store.models import AuditEvent, Enrollment, SessionHost, Tenant, WebhookDelivery
from engine.store.unit_of_work import unit_of_work
from engine.webhooks import emit
from engine.webhooks.events import Promoted
from policies.answers import Action, AnswerChange, decide
from policies.settings import TenantSettings
from tests.admin_ui.conftest import SECRET as MUSTER_KEY
from tests.admin_ui.conftest import csrf_of
from tests.admin_ui.factories import World

HOOK_SECRET = "f" * 40


def _policies(client: TestClient, **fields: Any) -> Any:
    data: dict[str, Any] = {
        "csrf_token": csrf_of(client), "section": ["answers", "webhooks"], "answers.on_decline": "report_only",
    }
    data.update(fields)
    return client.post("/admin/integration/policies", data=data, follow_redirects=False)


def test_the_policies_form_saves_what_the_engine_reads(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    client = client_as("admin")
    saved = _policies(
        client,
        **{"answers.on_decline": "cancel_and_promote", "webhooks.url": "https://platform.example/hooks",
           "webhooks.events": ["enrollment.promoted", "enrollment.cancelled_by_decline"],
           "webhook_secret": HOOK_SECRET},
    )
    assert saved.status_code == 303, saved.text
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None and tenant.webhook_secret_encrypted
        # the engine reads the same schema: the decline policy and the webhook settings as saved
        parsed = TenantSettings.parse(tenant.settings)
        assert parsed.webhooks.url == "https://platform.example/hooks"
        assert decide(tenant.settings.get("answers"), AnswerChange("a@x", "accepted", "declined", "enrolled")) \
            is Action.CANCEL_AND_PROMOTE
        assert decrypt((MUSTER_KEY,), tenant.webhook_secret_encrypted) == HOOK_SECRET
        assert emit(db, tenant=tenant, event=Promoted(
            session_external_id="s", session_id=uuid.uuid4(), email="b@x", replaces_email="a@x")) is not None
        audit = db.exec(select(AuditEvent).where(AuditEvent.action == "tenant.setup")).all()
        assert all(HOOK_SECRET not in str(a.detail) for a in audit)
    page = client.get("/admin/integration")
    assert HOOK_SECRET not in page.text and "set; never shown" in page.text
    assert page.context["policies"]["settings"]["answers"]["on_decline"] == "cancel_and_promote"  # type: ignore[attr-defined]
    # saving again with the secret field empty keeps the secret
    again = _policies(client, **{"answers.on_decline": "report_only", "webhooks.url": "https://platform.example/hooks",
                                 "webhooks.events": ["enrollment.promoted"]})
    assert again.status_code == 303
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None and tenant.webhook_secret_encrypted
        assert TenantSettings.parse(tenant.settings).answers.on_decline == "report_only"


def test_bad_values_are_shown_beside_their_field_and_nothing_is_saved(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    client = client_as("admin")
    for fields, name, phrase in (
        ({"webhooks.url": "http://platform.example/h", "webhook_secret": HOOK_SECRET}, "webhooks.url", "https://"),
        ({"webhooks.url": "https://platform.example/h"}, "webhook_secret", "required while settings.webhooks.url"),
        ({"webhooks.url": "https://localhost:8443/h", "webhook_secret": HOOK_SECRET}, "webhooks.url",
         "localhost resolves to 127.0.0.1, an internal address"),
        ({"webhooks.url": "http://localhost:21699/h", "webhook_secret": HOOK_SECRET}, "webhooks.url",
         "unless MUSTER_WEBHOOKS_ALLOW_LOOPBACK=1 is set"),  # the setting is off here, as in production
        ({"webhooks.url": "", "webhook_secret": "short"}, "webhook_secret", "24 to 256"),
        ({"answers.on_decline": "unenroll"}, "answers.on_decline", "report_only, cancel_and_promote"),
    ):
        response = _policies(client, **fields)
        assert response.status_code == 400, (fields, response.text[-300:])
        assert phrase in response.context["policy_errors"][name]  # type: ignore[attr-defined]
        assert f'id="err-{name}"' in response.text
    with Session(engine_under_test) as db:
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None and tenant.webhook_secret_encrypted is None
        assert "webhooks" not in (tenant.settings or {})


def test_the_delivery_log_lists_this_tenants_deliveries_and_replay_is_audited(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    admin = client_as("admin")
    assert _policies(admin, **{"webhooks.url": "https://platform.example/hooks", "webhook_secret": HOOK_SECRET,
                               "webhooks.events": ["enrollment.promoted"]}).status_code == 303
    with unit_of_work(engine_under_test) as uow:
        tenant = uow.db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None
        delivery_id = emit(uow.db, tenant=tenant, event=Promoted(
            session_external_id="acme-own_session", session_id=world.acme.own_session or uuid.uuid4(),
            email="waiting@acme.example", replaces_email="learner@acme.example"))
        assert delivery_id is not None
    with Session(engine_under_test) as db, db.begin():
        row = db.get(WebhookDelivery, delivery_id)
        assert row is not None
        row.status, row.attempts, row.last_status_code, row.last_error = "failed", 25, 500, "the platform answered 500"
    page = admin.get("/admin/webhooks?status=failed")
    [shown] = page.context["deliveries"]  # type: ignore[attr-defined]
    assert shown.id == delivery_id and "the platform answered 500" in page.text and "Replay" in page.text
    assert client_as("viewer").get("/admin/webhooks").context["deliveries"]  # type: ignore[attr-defined]
    assert "Replay" not in client_as("viewer").get("/admin/webhooks").text
    assert client_as("admin", tenant="globex").get("/admin/webhooks").context["deliveries"] == []  # type: ignore[attr-defined]
    # another tenant's admin cannot replay it
    other = client_as("admin", tenant="globex")
    refused = other.post(f"/admin/webhooks/{delivery_id}/replay", data={"csrf_token": csrf_of(other)})
    assert refused.status_code == 200 and "No such delivery" in refused.text
    replayed = admin.post(f"/admin/webhooks/{delivery_id}/replay", data={"csrf_token": csrf_of(admin)},
                          follow_redirects=False)
    assert replayed.status_code == 303
    with Session(engine_under_test) as db:
        row = db.get(WebhookDelivery, delivery_id)
        assert row is not None and row.status == "pending" and row.attempts == 0
        [audit] = db.exec(select(AuditEvent).where(AuditEvent.action == "webhook.replayed")).all()
        assert audit.actor == "user:admin@acme.example" and audit.subject == str(delivery_id)
    assert admin.post("/admin/webhooks/not-a-uuid/replay", data={"csrf_token": csrf_of(admin)}).status_code == 200


def test_the_session_page_shows_each_answer(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    with Session(engine_under_test) as db, db.begin():
        for enrollment in db.exec(select(Enrollment).where(Enrollment.session_id == world.acme.own_session)).all():
            if enrollment.status == "enrolled":
                enrollment.response_status, enrollment.response_comment = "declined", "on holiday"
        host = db.exec(select(SessionHost).where(SessionHost.session_id == world.acme.own_session)).one()
        host.response_status = "accepted"
    page = client_as("viewer").get(f"/admin/sessions/{world.acme.own_session}")
    detail = page.context["detail"]  # type: ignore[attr-defined]
    answers = {a.person.email: (a.answer, a.answer_comment) for a in detail.attendees}
    assert answers == {"learner@acme.example": ("declined", "on holiday"), "waiting@acme.example": (None, None)}
    assert detail.hosts[0].answer == "accepted"
    assert 'data-answer="declined"' in page.text and "on holiday" in page.text and "not seen yet" in page.text
