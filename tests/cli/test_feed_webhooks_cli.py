"""``muster feed status`` and ``muster webhooks log`` / ``replay``: what an administrator sees in a terminal.

Where it sits: ``tests/cli``; SQLite and PostgreSQL (``db_engine``), the CLI run in process (the ``env`` and
``run`` helpers of test_tenant_setup_cli). The feed rows and deliveries are written as the feed and the outbox
write them; the CLI reads them through :func:`engine.feed.status.feed_status` and :mod:`engine.webhooks.outbox`,
the functions the admin REST API and UI use.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.settings import get_settings
from engine.store.models import AuditEvent, CalendarBinding, FeedCalendar, LiveSession, Tenant, WebhookDelivery
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work
from engine.webhooks import emit
from engine.webhooks.events import Promoted
from tests.cli.test_tenant_setup_cli import env, run  # noqa: F401  (the fixture is used by name)

HOOK_SECRET = "cli-hook-secret-" + "7" * 24


def _tenant(capsys: pytest.CaptureFixture[str], slug: str) -> None:
    assert run(capsys, "tenant", "create", "--slug", slug, "--name", slug.title(), "--domain",
               f"{slug}.example")[0] == 0


def _tenant_id(engine: Engine, slug: str) -> uuid.UUID:
    with Session(engine) as db:
        return db.exec(select(Tenant.id).where(Tenant.slug == slug)).one()


def test_feed_status_shows_each_followed_calendar_and_its_state(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    code, out, _ = run(capsys, "feed", "status")
    assert code == 0 and "No calendar followed yet" in out
    _tenant(capsys, "acme")
    _tenant(capsys, "globex")
    acme, globex = _tenant_id(db_engine, "acme"), _tenant_id(db_engine, "globex")
    now = utcnow()
    with Session(db_engine) as db, db.begin():
        db.add(FeedCalendar(calendar_id="owner-1@acme.example", actor_kind="vendor", actor_email="owner-1@acme.example",
                            tenant_id=acme, sync_token="tok-1", synced_at=now - timedelta(seconds=5),
                            full_synced_at=now - timedelta(hours=1), channel_id="muster-abc-1",
                            channel_resource_id="r1", channel_expires_at=now + timedelta(days=6)))
        db.add(FeedCalendar(calendar_id="ada@acme.example", actor_kind="delegated", actor_email="ada@acme.example",
                            tenant_id=acme, error_class="auth", last_error="Google refused the token of ada"))
        db.add(FeedCalendar(calendar_id="owner@globex.example", actor_kind="vendor",
                            actor_email="owner@globex.example", tenant_id=globex, sync_token="tok-g",
                            synced_at=now, channel_id="muster-def-2", channel_expires_at=now - timedelta(minutes=1)))
        db.add(FeedCalendar(calendar_id="gone@acme.example", actor_kind="vendor", actor_email="gone@acme.example",
                            tenant_id=acme, active=False))
        for n, changed in enumerate((True, True, False)):  # two sessions changed in Google, not reconciled yet
            session = LiveSession(tenant_id=acme, external_id=f"s-{n}", title=f"S{n}", start_at=now, end_at=now,
                                  time_zone="UTC")
            db.add(session)
            db.flush()
            db.add(CalendarBinding(tenant_id=acme, session_id=session.id, calendar_id="Owner-1@acme.example",
                                   event_id=f"ev{n}", sync_status="synced",
                                   remote_changed_at=now if changed else None))
    code, out, err = run(capsys, "feed", "status", "--tenant", "acme")
    assert code == 0, err
    assert "owner@globex.example" not in out and "gone@acme.example" not in out
    lines = out.splitlines()
    owner = lines.index("owner-1@acme.example  [acme]")
    assert lines[owner + 1:owner + 7] == [
        "  identity:        vendor:owner-1@acme.example",
        "  sync token:      yes",
        f"  last sync:       {now - timedelta(seconds=5):%Y-%m-%d %H:%M:%S}Z (last full listing "
        f"{now - timedelta(hours=1):%Y-%m-%d %H:%M:%S}Z)",
        f"  listening:       push channel muster-abc-1, expires {now + timedelta(days=6):%Y-%m-%d %H:%M:%S}Z",
        "  last error:      none",
        "  pending changes: 2",
    ], out
    ada = lines.index("ada@acme.example  [acme]")
    assert lines[ada + 2] == "  sync token:      no (the next sync lists the calendar in full)"
    assert lines[ada + 4] == "  listening:       timer (no push channel)"
    assert lines[ada + 5] == "  last error:      auth: Google refused the token of ada"
    assert lines[-1] == "2 calendar(s), 1 with an error, 2 change(s) pending"
    # every tenant; an expired channel says so; --all adds the calendars no longer followed
    code, out, _ = run(capsys, "feed", "status")
    assert "owner@globex.example  [globex]" in out and "EXPIRED" in out and "gone@acme.example" not in out
    code, out, _ = run(capsys, "feed", "status", "--all", "--json")
    shown = {c["calendar_id"]: c for c in json.loads(out)["calendars"]}
    assert shown["gone@acme.example"]["listening"] == "stopped"
    assert shown["owner@globex.example"]["listening"] == "expired"
    assert shown["owner-1@acme.example"]["pending_changes"] == 2
    assert shown["owner-1@acme.example"]["has_sync_token"] is True
    assert shown["ada@acme.example"]["error_class"] == "auth"
    # an unknown tenant is a usage error naming the option
    code, _, err = run(capsys, "feed", "status", "--tenant", "nope")
    assert code == 2 and "--tenant" in err and "muster tenant list" in err


def test_webhooks_log_and_replay_from_the_cli(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    _tenant(capsys, "acme")
    _tenant(capsys, "globex")
    for slug in ("acme", "globex"):
        assert run(capsys, "tenant", "set", "--slug", slug, "--setting", "webhooks.url=https://platform.example/h",
                   "--webhook-secret", HOOK_SECRET)[0] == 0
    code, out, _ = run(capsys, "webhooks", "log")
    assert code == 0 and out.strip() == "No webhook delivery."
    ids: dict[str, uuid.UUID] = {}
    for slug, email in (("acme", "a@acme.example"), ("acme", "b@acme.example"), ("globex", "g@globex.example")):
        with unit_of_work(db_engine, dispatcher=lambda ids: None) as uow:
            tenant = uow.db.exec(select(Tenant).where(Tenant.slug == slug)).one()
            delivery = emit(uow.db, tenant=tenant, event=Promoted(
                session_external_id="s-1", session_id=uuid.uuid4(), email=email, replaces_email="x@x.example"))
            assert delivery is not None
            ids[email] = delivery
    failed = ids["a@acme.example"]
    with Session(db_engine) as db, db.begin():
        row = db.get(WebhookDelivery, failed)
        assert row is not None
        row.status, row.attempts, row.last_status_code = "failed", 25, 500
        row.last_error = "the platform answered 500: down"
    code, out, err = run(capsys, "webhooks", "log", "--tenant", "acme")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and str(ids["g@globex.example"]) not in out
    assert "`muster webhooks replay ID`" in lines[-1] and lines[-1].startswith("2 deliveries")
    [row_line] = [line for line in lines if str(failed) in line]
    assert row_line.split("\t")[1:] == ["acme", str(failed), "enrollment.promoted", "failed", "attempts 25",
                                        "answer 500", "the platform answered 500: down"]
    code, out, _ = run(capsys, "webhooks", "log", "--status", "failed", "--json")
    [shown] = json.loads(out)["deliveries"]
    assert shown["id"] == str(failed) and shown["tenant"] == "acme" and shown["last_status_code"] == 500
    code, out, _ = run(capsys, "webhooks", "log", "--limit", "1")
    assert out.splitlines()[0].split("\t")[2] == str(ids["g@globex.example"])  # newest first
    # replay: through the engine's replay (pending again, attempts from zero, audited as done from the CLI)
    code, _, err = run(capsys, "webhooks", "replay", str(failed), "--tenant", "globex")
    assert code == 2 and "of tenant 'globex'" in err and "muster webhooks log" in err
    code, _, err = run(capsys, "webhooks", "replay", "not-an-id")
    assert code == 2 and "not a delivery id" in err
    code, out, err = run(capsys, "webhooks", "replay", str(failed))
    assert code == 0, err
    assert f"Delivery {failed} (failed) will be sent again" in out
    with Session(db_engine) as db:
        row = db.get(WebhookDelivery, failed)
        assert row is not None and (row.status, row.attempts) == ("pending", 0)
        audit = db.exec(select(AuditEvent).where(AuditEvent.action == "webhook.replayed")).one()
        assert audit.actor == "cli" and audit.subject == str(failed)
    code, _, err = run(capsys, "webhooks", "log", "--status", "lost")
    assert code == 2 and "--status" in err


def test_a_loopback_webhook_url_is_refused_by_tenant_set_unless_the_deployment_allows_it(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    _tenant(capsys, "acme")
    assert "MUSTER_WEBHOOKS_ALLOW_LOOPBACK" not in env  # off, as in production
    code, _out, err = run(capsys, "tenant", "set", "--slug", "acme", "--setting",
                          "webhooks.url=http://[::1]:21699/hooks", "--webhook-secret", HOOK_SECRET)
    assert code == 2
    assert "webhooks.url" in err and "points at Muster's own machine (loopback)" in err
    assert "MUSTER_WEBHOOKS_ALLOW_LOOPBACK=1" in err
    with Session(db_engine) as db:
        tenant = db.exec(select(Tenant).where(Tenant.slug == "acme")).one()
        assert "webhooks" not in (tenant.settings or {}) and tenant.webhook_secret_encrypted is None
    monkeypatch.setenv("MUSTER_WEBHOOKS_ALLOW_LOOPBACK", "1")  # a development machine's deployment
    get_settings.cache_clear()
    code, _out, err = run(capsys, "tenant", "set", "--slug", "acme", "--setting",
                          "webhooks.url=http://[::1]:21699/hooks", "--webhook-secret", HOOK_SECRET)
    assert code == 0, err
    with Session(db_engine) as db:
        tenant = db.exec(select(Tenant).where(Tenant.slug == "acme")).one()
        assert tenant.settings["webhooks"]["url"] == "http://[::1]:21699/hooks"


def test_a_webhook_url_whose_name_resolves_to_this_machine_is_refused_by_tenant_set(
    env: dict[str, str], db_engine: Engine, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    _tenant(capsys, "acme")
    code, _out, err = run(capsys, "tenant", "set", "--slug", "acme", "--setting",
                          "webhooks.url=https://localhost:8443/hooks", "--webhook-secret", HOOK_SECRET)
    assert code == 2
    assert "webhooks.url" in err and "localhost resolves to 127.0.0.1, an internal address" in err
    assert "public host name" in err
    with Session(db_engine) as db:
        tenant = db.exec(select(Tenant).where(Tenant.slug == "acme")).one()
        assert "webhooks" not in (tenant.settings or {}) and tenant.webhook_secret_encrypted is None
