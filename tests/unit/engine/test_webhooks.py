"""Webhook delivery units on both stacks: signing and its documented check, backoff, the durable row's
life (claim, attempt, retry, give up, replay), the after-commit hand-over, and the write-only secret.

The platform's side is a ``post`` function standing in for the HTTP call (the real receiver over HTTP is
in tests/integration/sync/test_webhooks_e2e.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.admin.key_rotation import rotate_credentials
from engine.admin.tenant_setup import SetupError, configure, describe
from engine.crypto import decrypt
from engine.settings import Settings
from engine.store.models import AuditEvent, Tenant, WebhookDelivery
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work
from engine.sync.status_events import StatusSnapshot, changed_parts
from engine.webhooks import emit
from engine.webhooks.delivery import backoff_s, body_bytes, deliver, hand_over_due
from engine.webhooks.events import MODELS, Promoted, schemas
from engine.webhooks.outbox import claim_due, replay, set_webhook_dispatcher
from engine.webhooks.signing import signed_headers
from engine.webhooks.signing import verify as engine_verify
from policies.webhooks import EVENT_TYPES
from tests.webhook_receiver import verify as documented_verify

SECRET = "s3cr3t-" + "ab" * 16
KEYS = ("k" * 40,)


def _settings(**kw: object) -> Settings:
    base = {"webhook_retry_min_ms": 100, "webhook_retry_max_ms": 1_000, "webhook_max_attempts": 3}
    base.update(kw)
    return Settings(database_url="sqlite://", redis_url=None, google_root_url=None, secret_key=KEYS[0], **base)  # type: ignore[arg-type]


@pytest.fixture
def tenant_id(db_engine: Engine) -> Iterator[uuid.UUID]:
    with unit_of_work(db_engine, dispatcher=lambda ids: None) as uow:
        tenant = Tenant(slug="acme", name="Acme")
        uow.db.add(tenant)
        uow.db.flush()
        configure(uow, tenant, {"settings": {"webhooks": {"url": "https://platform.example/hooks"}},
                                "webhook_secret": SECRET}, actor="test", secret_keys=KEYS)
        tid = tenant.id
    yield tid
    set_webhook_dispatcher(None)


def _emit(engine: Engine, tenant_id: uuid.UUID) -> uuid.UUID:
    with unit_of_work(engine) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        delivery_id = emit(uow.db, tenant=tenant, event=Promoted(
            session_external_id="s-1", session_id=uuid.uuid4(), email="b@x.example", replaces_email="a@x.example"))
        assert delivery_id is not None
    return delivery_id


def _row(engine: Engine, delivery_id: uuid.UUID) -> WebhookDelivery:
    with Session(engine) as db:
        row = db.get(WebhookDelivery, delivery_id)
        assert row is not None
        return row


def test_a_signature_verifies_with_the_documented_recipe_and_nothing_else() -> None:
    body = body_bytes({"id": "x", "data": {"é": 1}})
    now = int(time.time())
    headers = {k.lower(): v for k, v in signed_headers(
        secret=SECRET, timestamp=now, body=body, delivery_id="x", event_type="enrollment.promoted").items()}
    assert headers["muster-webhook-signature"].startswith("v1=") and headers["muster-webhook-id"] == "x"
    assert documented_verify(SECRET, headers, body, now=now) and engine_verify(secret=SECRET, headers=headers,
                                                                             body=body, now=now)
    assert not documented_verify(SECRET, headers, body + b" ", now=now)  # tampered body
    assert not documented_verify("another-secret-" + "0" * 20, headers, body, now=now)
    assert not documented_verify(SECRET, headers, body, now=now + 301)  # replayed too late
    assert not engine_verify(secret=SECRET, headers={**headers, "muster-webhook-timestamp": str(now - 1)},
                             body=body, now=now)


@pytest.mark.parametrize(
    ("attempts", "jitter", "expected"),
    [(1, 1.0, 0.1), (2, 1.0, 0.2), (3, 1.0, 0.4), (5, 1.0, 1.0), (30, 1.0, 1.0), (2, 0.8, 0.16), (2, 1.2, 0.24)],
)
def test_backoff_doubles_up_to_the_max(attempts: int, jitter: float, expected: float) -> None:
    assert backoff_s(attempts, min_ms=100, max_ms=1_000, jitter=jitter) == pytest.approx(expected)


_S = StatusSnapshot


@pytest.mark.parametrize(
    ("before", "after", "parts"),
    [
        (None, _S("synced", None, None, None, None, None, "c", "e"), ["sync_status"]),
        (_S("synced", None, None, None, None, None, "c", "e"),
         _S("synced", None, None, None, None, None, "c", "e"), []),
        (_S("error", "x", None, None, None, None, "c", "e"), _S("error", "y", None, None, None, None, "c", "e"), []),
        (_S("synced", None, "pending", None, None, None, "c", "e"),
         _S("synced", None, "success", "https://meet.google.com/a", None, None, "c", "e"), ["meet"]),
        (_S("synced", None, None, None, "needsAction", "r@x", "c", "e"),
         _S("error", "no", None, None, "declined", "r@x", "c", "e"), ["sync_status", "room"]),
        (None, _S("synced", None, "unsupported", None, None, None, "c", "e"), ["sync_status", "meet"]),
    ],
)
def test_status_changes_worth_telling(before: StatusSnapshot | None, after: StatusSnapshot, parts: list[str]) -> None:
    assert changed_parts(before, after) == parts


def test_docs_print_the_schema_of_every_event_as_the_models_generate_it() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "webhooks.md").read_text()
    assert list(MODELS) == list(EVENT_TYPES)
    for name, schema in schemas().items():
        assert f"### `{name}`" in doc
        assert json.dumps(schema, indent=2) in doc, f"docs/webhooks.md: the schema of {name} is not the model's"


def test_a_failing_platform_is_retried_with_backoff_then_marked_failed_and_replay_sends_it_again(
    db_engine: Engine, tenant_id: uuid.UUID
) -> None:
    delivery_id = _emit(db_engine, tenant_id)
    settings = _settings()
    seen: list[tuple[str, bytes, dict[str, str]]] = []

    def refuse(url: str, body: bytes, headers: dict[str, str], _t: float) -> tuple[int, str]:
        seen.append((url, body, headers))
        return 500, "down for maintenance"

    first = deliver(db_engine, delivery_id, settings=settings, post=refuse, jitter=1.0)
    assert first.outcome == "retry" and first.retry_in_s == pytest.approx(0.1) and first.status_code == 500
    row = _row(db_engine, delivery_id)
    assert row.status == "pending" and row.attempts == 1
    assert "answered 500: down for maintenance" in (row.last_error or "")
    assert row.lease_until is not None and row.lease_until > row.next_attempt_at  # the actor re-sends; clock waits
    with Session(db_engine) as db, db.begin():
        assert claim_due(db=db, now=row.next_attempt_at + timedelta(seconds=1)) == []
    assert deliver(db_engine, delivery_id, settings=settings, post=refuse, jitter=1.0).retry_in_s == pytest.approx(0.2)
    assert deliver(db_engine, delivery_id, settings=settings, post=refuse, jitter=1.0).outcome == "failed"
    assert _row(db_engine, delivery_id).status == "failed"
    assert deliver(db_engine, delivery_id, settings=settings, post=refuse).outcome == "skipped"
    assert len(seen) == 3 and len({b for _, b, _ in seen}) == 1 and {u for u, _, _ in seen} == {
        "https://platform.example/hooks"}
    assert all(h["Muster-Webhook-Id"] == str(delivery_id) for _, _, h in seen)
    # an admin replays it: same body, same idempotency key, attempts start again
    with Session(db_engine) as db, db.begin():
        assert replay(db=db, tenant_id=tenant_id, delivery_id=delivery_id)
        assert not replay(db=db, tenant_id=uuid.uuid4(), delivery_id=delivery_id)
    ok = deliver(db_engine, delivery_id, settings=settings, post=lambda u, b, h, t: (204, ""))
    assert ok.outcome == "delivered"
    row = _row(db_engine, delivery_id)
    assert row.status == "delivered" and row.attempts == 1 and row.delivered_at is not None


@pytest.mark.parametrize(
    ("answer", "outcome", "phrase"),
    [
        (lambda: (301, ""), "retry", "redirects are not followed"),
        (lambda: (_ for _ in ()).throw(httpx.ConnectError("refused")), "retry", "ConnectError: refused"),
        (lambda: (200, "ok"), "delivered", None),
    ],
)
def test_each_kind_of_answer(db_engine: Engine, tenant_id: uuid.UUID, answer: object, outcome: str,
                             phrase: str | None) -> None:
    delivery_id = _emit(db_engine, tenant_id)
    result = deliver(db_engine, delivery_id, settings=_settings(), post=lambda u, b, h, t: answer())  # type: ignore[operator]
    assert result.outcome == outcome
    if phrase:
        assert phrase in (result.error or "")


def test_webhooks_turned_off_meanwhile_fail_the_delivery_with_the_reason(
    db_engine: Engine, tenant_id: uuid.UUID
) -> None:
    delivery_id = _emit(db_engine, tenant_id)
    with unit_of_work(db_engine, dispatcher=lambda ids: None) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        configure(uow, tenant, {"settings": {"webhooks": None}}, actor="test", secret_keys=KEYS)
    result = deliver(db_engine, delivery_id, settings=_settings(), post=lambda u, b, h, t: (200, ""))
    assert result.outcome == "failed" and "turned off" in (result.error or "")
    # and nothing new is written while they are off
    with unit_of_work(db_engine) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        assert emit(uow.db, tenant=tenant, event=Promoted(
            session_external_id="s", session_id=uuid.uuid4(), email="b@x", replaces_email="a@x")) is None


def test_hand_over_after_commit_only_and_the_clock_claims_each_due_delivery_once(
    db_engine: Engine, tenant_id: uuid.UUID
) -> None:
    handed: list[uuid.UUID] = []
    set_webhook_dispatcher(lambda ids: handed.extend(ids) or [])
    # a rolled-back change hands nothing over and leaves no row
    with pytest.raises(RuntimeError), unit_of_work(db_engine) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        emit(uow.db, tenant=tenant, event=Promoted(session_external_id="s", session_id=uuid.uuid4(), email="b@x",
                                                   replaces_email="a@x"))
        raise RuntimeError("the change failed")
    assert handed == []
    committed = _emit(db_engine, tenant_id)
    assert handed == [committed]
    # handed over: leased, so the clock leaves it alone; once the lease is gone it is claimed exactly once
    sent: list[uuid.UUID] = []
    assert hand_over_due(db_engine, sent.append) == 0
    with Session(db_engine) as db, db.begin():
        row = db.get(WebhookDelivery, committed)
        assert row is not None
        row.lease_until = utcnow() - timedelta(seconds=1)
    assert hand_over_due(db_engine, sent.append) == 1 and sent == [committed]
    assert hand_over_due(db_engine, sent.append) == 0

    def broker_down(_id: uuid.UUID) -> None:
        raise ConnectionError("redis is down")

    with Session(db_engine) as db, db.begin():
        row = db.get(WebhookDelivery, committed)
        assert row is not None
        row.lease_until = None
    assert hand_over_due(db_engine, broker_down) == 0
    assert _row(db_engine, committed).lease_until is None  # released: due again at the next pass


def test_the_webhook_secret_is_write_only_validated_audited_without_its_value_and_rotated(
    db_engine: Engine, tenant_id: uuid.UUID
) -> None:
    with unit_of_work(db_engine, dispatcher=lambda ids: None) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        for bad, phrase in (("short", "24 to 256"), ("x" * 30 + " y", "without spaces")):
            with pytest.raises(SetupError) as exc:
                configure(uow, tenant, {"webhook_secret": bad}, actor="test", secret_keys=KEYS)
            assert exc.value.field == "webhook_secret" and phrase in exc.value.message
        with pytest.raises(SetupError) as exc:  # a URL needs a secret to sign with
            configure(uow, tenant, {"webhook_secret": ""}, actor="test", secret_keys=KEYS)
        assert exc.value.field == "webhook_secret" and "required while settings.webhooks.url" in exc.value.message
        shown = describe(tenant, _settings())
        assert shown["webhook_secret_set"] is True and SECRET not in str(shown)
        assert tenant.webhook_secret_encrypted and SECRET not in tenant.webhook_secret_encrypted
        audits = uow.db.exec(select(AuditEvent).where(AuditEvent.action == "tenant.setup")).all()
        assert audits and all(SECRET not in str(a.detail) for a in audits)
        assert any(a.detail.get("webhook_secret") == [None, "set"] for a in audits)
    new_keys = ("n" * 40, *KEYS)
    with unit_of_work(db_engine, dispatcher=lambda ids: None) as uow:
        report = rotate_credentials(db=uow.db, secret_keys=new_keys)
    assert report.rotated == 1 and not report.unreadable
    with Session(db_engine) as db:
        tenant = db.get(Tenant, tenant_id)
        assert tenant is not None and tenant.webhook_secret_encrypted
        assert decrypt(new_keys[:1], tenant.webhook_secret_encrypted) == SECRET


def test_a_google_change_report_the_event_schema_does_not_know_never_breaks_the_sync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from datetime import UTC, datetime

    from engine.domain.desired import SessionFacts, TenantFacts
    from engine.sync.status_events import do_tell_google_change

    # webhooks off: emit writes nothing, so no database is needed to see what the mapping does
    facts = SessionFacts(
        id=uuid.uuid4(), tenant=TenantFacts(id=uuid.uuid4(), slug="acme", integration_mode="vendor"),
        external_id="s-1", title="T", description="", start_at=datetime(2027, 1, 1, tzinfo=UTC),
        end_at=datetime(2027, 1, 1, 1, tzinfo=UTC), time_zone="UTC", status="scheduled", deleted=False, revision=1,
    )
    db: Session = None  # type: ignore[assignment]
    known = {"fields": ["time"], "policy": "platform_wins", "outcome": "restored"}
    assert do_tell_google_change(db, facts=facts, report=known, calendar_id="c", event_id="e")
    assert not do_tell_google_change(db, facts=facts, report=known, calendar_id=None, event_id="e")
    odd = {"fields": ["time"], "policy": "platform_wins", "outcome": "shrugged"}
    assert not do_tell_google_change(db, facts=facts, report=odd, calendar_id="c", event_id="e")
    assert "no session.changed_in_google webhook" in caplog.text


def test_observed_answers_are_the_human_guests_answers() -> None:
    from datetime import UTC, datetime

    from connectors.ports.calendar import Attendee, EventSpec, RemoteEvent
    from engine.sync.answers import Answer, observed_answers

    spec = EventSpec(
        summary="T", description="", location=None, start=datetime(2027, 1, 1, tzinfo=UTC),
        end=datetime(2027, 1, 1, 1, tzinfo=UTC), time_zone="UTC",
        attendees=(
            Attendee("a@x.example", response_status="accepted", comment="yes!"),
            Attendee("B@x.example", response_status="declined"),
            Attendee("room@resource.example", resource=True, response_status="accepted"),
            Attendee("c@x.example"),  # never seen answered
            Attendee("d@x.example", response_status="bogus"),
        ),
    )
    remote = RemoteEvent(calendar_id="c", event_id="e", status="confirmed", spec=spec)
    assert observed_answers(remote) == {
        "a@x.example": Answer("accepted", "yes!"), "b@x.example": Answer("declined", None)
    }


def test_the_log_keeps_pending_deliveries_and_recent_ones(db_engine: Engine, tenant_id: uuid.UUID) -> None:
    from engine.webhooks.delivery import prune_log

    old_done, old_pending, new_done = (_emit(db_engine, tenant_id) for _ in range(3))
    long_ago = utcnow() - timedelta(days=31)
    with Session(db_engine) as db, db.begin():
        for delivery_id, status, created in ((old_done, "delivered", long_ago), (old_pending, "pending", long_ago),
                                             (new_done, "failed", utcnow())):
            row = db.get(WebhookDelivery, delivery_id)
            assert row is not None
            row.status, row.created_at = status, created
    assert prune_log(db_engine, retention_days=30) == 1
    with Session(db_engine) as db:
        assert {r.id for r in db.exec(select(WebhookDelivery)).all()} == {old_pending, new_done}


@pytest.mark.parametrize("secret", ["none", "unreadable"])
def test_a_delivery_that_cannot_be_signed_is_parked_with_the_reason_then_sent_once_a_secret_is_saved(
    db_engine: Engine, tenant_id: uuid.UUID, secret: str
) -> None:
    from engine.crypto import encrypt
    from engine.webhooks.delivery import prune_log

    delivery_id = _emit(db_engine, tenant_id)
    with Session(db_engine) as db, db.begin():  # a row saved before a URL required a secret, or a lost key
        tenant = db.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.webhook_secret_encrypted = None if secret == "none" else encrypt(("o" * 40,), SECRET)
    posts: list[bytes] = []

    def platform(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str]:
        posts.append(body)
        return 200, ""

    result = deliver(db_engine, delivery_id, settings=_settings(), post=platform)
    assert result.outcome == "parked" and not posts
    assert "muster tenant set --slug acme --webhook-secret" in (result.error or "")
    assert ("no webhook secret is set" if secret == "none" else "cannot be read") in (result.error or "")
    row = _row(db_engine, delivery_id)
    assert (row.status, row.attempts, row.lease_until) == ("parked", 0, None)
    assert row.last_error == result.error
    # not retried: the delivery clock never hands it over, however long it waits, and the log keeps it
    with Session(db_engine) as db, db.begin():
        assert claim_due(db=db, now=utcnow() + timedelta(days=400)) == []
    assert prune_log(db_engine, retention_days=30, now=utcnow() + timedelta(days=400)) == 0
    # a secret saved through tenant set-up sends it: due at once, then delivered, signed with that secret
    with unit_of_work(db_engine, dispatcher=lambda ids: None) as uow:
        tenant = uow.db.get(Tenant, tenant_id)
        assert tenant is not None
        configure(uow, tenant, {"webhook_secret": SECRET}, actor="test", secret_keys=KEYS)
    assert _row(db_engine, delivery_id).status == "pending"
    with Session(db_engine) as db:
        resumed = db.exec(select(AuditEvent).where(AuditEvent.action == "webhook.resumed")).one()
        assert resumed.detail == {"deliveries": 1}
    with Session(db_engine) as db, db.begin():
        assert claim_due(db=db) == [delivery_id]
    assert deliver(db_engine, delivery_id, settings=_settings(), post=platform).outcome == "delivered"
    assert len(posts) == 1
