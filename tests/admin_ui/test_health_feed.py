"""The Health page's change feed and webhook sections: each followed calendar's state, and deliveries parked
for want of a secret, with the reason.

Where it sits: behaviour tests of :mod:`admin_ui.views.health` through the real app (TestClient). Rows are
written as the feed and the delivery worker write them; the page reads them through
:func:`engine.feed.status.feed_status` and :mod:`engine.webhooks.outbox`, as the CLI and REST API do.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.testclient import TestClient

from engine.store.models import FeedCalendar, Tenant, WebhookDelivery
from engine.store.types import utcnow
from tests.admin_ui.factories import World


def _section(html: str, section_id: str) -> str:
    found = re.search(rf'<section class="card" id="{section_id}">(.*?)</section>', html, re.S)
    assert found, f"no section {section_id}"
    return found.group(1)


def test_health_shows_the_feed_calendars_of_the_tenant_with_their_state(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    page = client_as("viewer").get("/admin/health")
    assert "No calendar followed yet" in _section(page.text, "feed")
    now = utcnow()
    with Session(engine_under_test) as db, db.begin():
        db.add(FeedCalendar(calendar_id="owner1@muster-acme.example", actor_kind="vendor",
                            actor_email="owner1@muster-acme.example", tenant_id=world.acme.tenant_id,
                            sync_token="tok", synced_at=now, channel_id="muster-feed-1",
                            channel_expires_at=now + timedelta(days=3)))
        db.add(FeedCalendar(calendar_id="organizer@acme.example", actor_kind="delegated",
                            actor_email="organizer@acme.example", tenant_id=world.acme.tenant_id,
                            error_class="auth", last_error="Google refused the delegated token"))
        db.add(FeedCalendar(calendar_id="owner1@muster-globex.example", actor_kind="vendor",
                            actor_email="owner1@muster-globex.example", tenant_id=world.other.tenant_id))
    page = client_as("viewer").get("/admin/health")
    feed = _section(page.text, "feed")
    rows = re.findall(r"<tr><td>(.*?)</td>(.*?)</tr>", feed, re.S)
    by_calendar = {cal: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rest)).strip() for cal, rest in rows}
    assert set(by_calendar) == {"owner1@muster-acme.example", "organizer@acme.example"}  # this tenant's only
    assert by_calendar["owner1@muster-acme.example"].startswith("vendor:owner1@muster-acme.example yes")
    assert "push channel muster-feed-1, expires" in by_calendar["owner1@muster-acme.example"]
    assert by_calendar["organizer@acme.example"].startswith("delegated:organizer@acme.example no")
    assert "timer" in by_calendar["organizer@acme.example"]
    assert "Google refused the delegated token" in by_calendar["organizer@acme.example"]
    assert page.context["verdict"] == "warn"  # type: ignore[attr-defined]  # a calendar's sync fails


def test_health_says_why_deliveries_are_parked(
    client_as: Callable[..., TestClient], world: World, engine_under_test: Engine
) -> None:
    now = utcnow()
    with Session(engine_under_test) as db, db.begin():
        tenant = db.get(Tenant, world.acme.tenant_id)
        assert tenant is not None  # a tenant saved with a URL before a secret was required
        tenant.settings = {**(tenant.settings or {}), "webhooks": {"url": "https://platform.example/hooks"}}
        db.add(tenant)
        for status in ("parked", "parked", "delivered"):
            db.add(WebhookDelivery(id=uuid.uuid4(), tenant_id=world.acme.tenant_id, event_type="enrollment.promoted",
                                   payload={"id": "x"}, next_attempt_at=now, created_at=now, status=status,
                                   last_error="no webhook secret is set, so nothing can be signed: set one"
                                   if status == "parked" else None))
    page = client_as("viewer").get("/admin/health")
    hooks = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _section(page.text, "webhook-health")))
    assert "To https://platform.example/hooks" in hooks and "no secret" in hooks
    assert "parked 2" in hooks and "delivered 1" in hooks
    assert "Parked, not retried: no webhook secret is set, so nothing can be signed: set one" in hooks
    assert page.context["verdict"] == "warn"  # type: ignore[attr-defined]
    other = client_as("viewer", tenant="globex").get("/admin/health")
    assert "Parked" not in _section(other.text, "webhook-health")
