"""``GET /v1/admin/feed``: the change feed's calendars through the admin REST API, and the parked status of
the webhook delivery log.

Where it sits: ``tests/api``; the real app on SQLite and PostgreSQL (``db_engine``). Rows are written as the
feed writes them; the route reads them through :func:`engine.feed.status.feed_status`, as the CLI and the
Health page do.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlmodel import Session

from engine.store.models import CalendarBinding, FeedCalendar, LiveSession, WebhookDelivery
from engine.store.types import utcnow
from tests.api.conftest import Api
from tests.api.test_admin_api import _admin_token, _h


def test_the_feed_of_the_admin_s_tenant_only_with_its_state(api: Api) -> None:
    token = _admin_token(api)
    assert api.client.get("/v1/admin/feed", headers=_h(token)).json() == {"calendars": []}
    assert api.client.get("/v1/admin/feed", headers=api.auth()).status_code in (401, 403)  # an ingest key: no
    now = utcnow()
    with Session(api.engine) as db, db.begin():
        db.add(FeedCalendar(calendar_id="owner@vendor.example", actor_kind="vendor", actor_email="owner@vendor.example",
                            tenant_id=api.tenant_a, sync_token="t", synced_at=now, channel_id="muster-x-1",
                            channel_expires_at=now + timedelta(days=2)))
        db.add(FeedCalendar(calendar_id="old@vendor.example", actor_kind="vendor", actor_email="old@vendor.example",
                            tenant_id=api.tenant_a, active=False))
        db.add(FeedCalendar(calendar_id="b@b.example", actor_kind="vendor", actor_email="b@b.example",
                            tenant_id=api.tenant_b, error_class="auth", last_error="refused"))
        session = LiveSession(tenant_id=api.tenant_a, external_id="s", title="S", start_at=now, end_at=now,
                              time_zone="UTC")
        db.add(session)
        db.flush()
        db.add(CalendarBinding(tenant_id=api.tenant_a, session_id=session.id, calendar_id="owner@vendor.example",
                               event_id="e1", sync_status="synced", remote_changed_at=now))
    body = api.client.get("/v1/admin/feed", headers=_h(token)).json()
    [cal] = body["calendars"]
    assert cal["calendarId"] == "owner@vendor.example" and cal["identity"] == "vendor:owner@vendor.example"
    assert (cal["active"], cal["hasSyncToken"], cal["listening"]) == (True, True, "push")
    assert cal["channelId"] == "muster-x-1"
    assert cal["pendingChanges"] == 1 and cal["errorClass"] is None and cal["channelExpiresAt"] is not None
    both = api.client.get("/v1/admin/feed", headers=_h(token), params={"includeStopped": "true"}).json()
    assert {c["calendarId"]: c["listening"] for c in both["calendars"]} == {
        "owner@vendor.example": "push", "old@vendor.example": "stopped"}
    other = api.client.get("/v1/admin/feed", headers=_h(_admin_token(api, "boss@b.example", api.tenant_b))).json()
    assert [(c["calendarId"], c["listening"], c["errorClass"]) for c in other["calendars"]] == [
        ("b@b.example", "timer", "auth")]


def test_a_parked_delivery_is_listed_and_filtered_with_its_reason(api: Api) -> None:
    token = _admin_token(api)
    now = utcnow()
    with Session(api.engine) as db, db.begin():
        db.add(WebhookDelivery(id=uuid.uuid4(), tenant_id=api.tenant_a, event_type="enrollment.promoted",
                               payload={"id": "x"}, next_attempt_at=now, created_at=now, status="parked",
                               last_error="no webhook secret is set, so nothing can be signed"))
    answer = api.client.get("/v1/admin/webhooks/deliveries", headers=_h(token), params={"status": "parked"})
    assert answer.status_code == 200, answer.text
    [row] = answer.json()
    assert row["status"] == "parked" and "no webhook secret" in row["lastError"] and row["nextAttemptAt"] is None


def test_a_webhook_url_without_a_secret_or_pointing_into_the_network_is_refused_by_the_api(api: Api) -> None:
    token = _admin_token(api)
    for body, loc, needle in [
        ({"settings": {"webhooks": {"url": "https://platform.example/h"}}}, ["body", "webhookSecret"],
         "is required while settings.webhooks.url is set"),
        ({"settings": {"webhooks": {"url": "https://localhost:8443/h"}}, "webhookSecret": "w" * 32},
         ["body", "settings", "webhooks", "url"], "localhost resolves to 127.0.0.1, an internal address"),
        # MUSTER_WEBHOOKS_ALLOW_LOOPBACK is off here, as in production
        ({"settings": {"webhooks": {"url": "http://127.0.0.1:21699/h"}}, "webhookSecret": "w" * 32},
         ["body", "settings", "webhooks", "url"], "unless MUSTER_WEBHOOKS_ALLOW_LOOPBACK=1 is set"),
    ]:
        bad = api.client.patch("/v1/admin/tenant", json=body, headers=_h(token))
        assert bad.status_code == 422, (body, bad.text)
        [detail] = bad.json()["detail"]
        assert detail["loc"] == loc and needle in detail["msg"], (body, detail)
    shown = api.client.get("/v1/admin/tenant", headers=_h(token)).json()
    assert shown["webhookSecretSet"] is False and (shown["settings"].get("webhooks") or {}).get("url") is None
