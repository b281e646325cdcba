"""Push channels of the change feed: one per followed calendar, renewed before it expires, stopped when
the calendar is no longer followed; and the verdict on each notification ``POST /google/push`` receives.

Where it sits: :func:`upkeep` runs on the worker's feed clock (Google calls outside any transaction; the
pure decision is :func:`engine.feed.plan.channel_action`); :func:`judge` is called by the push route
(:mod:`engine.api.routes.push`) and :func:`stop_stale` after it answered.

Channel ids are ``muster-<feed row id hex>-<random>``, so a notification names its calendar; the channel
token is an HMAC-SHA256 of the channel id under Muster's secret key (nothing secret stored, and a
notification whose token does not verify is refused as forged). Renewal opens the new channel first and
then stops the old one (Google expects overlapping channels during renewal); a notification on a channel
that is not the calendar's current one (the old one of a renewal, one of a calendar no longer followed)
is answered and stopped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import unquote

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.errors import ConnectorError
from connectors.ports.feed import ChangeFeedFactory
from engine.feed import plan
from engine.feed.calendars import actor_of
from engine.runtime import metrics
from engine.store.models import FeedCalendar, Tenant
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

_CHANNEL_ID = re.compile(r"^muster-([0-9a-f]{32})-[0-9a-z]{1,20}$")


def channel_token(secret_key: str, channel_id: str) -> str:
    """The token a channel is opened with (and every notification of it must carry)."""
    return hmac.new(secret_key.encode(), f"muster-push:{channel_id}".encode(), hashlib.sha256).hexdigest()


def token_ok(secret_keys: tuple[str, ...], channel_id: str, token: str | None) -> bool:
    """Does ``token`` verify for ``channel_id`` under any configured key (key rotation)?"""
    if not token:
        return False
    return any(hmac.compare_digest(channel_token(k, channel_id), token) for k in secret_keys)


def new_channel_id(feed_id: uuid.UUID) -> str:
    return f"muster-{feed_id.hex}-{secrets.token_hex(6)}"


def feed_of_channel(channel_id: str) -> uuid.UUID | None:
    """The feed row a channel id of Muster's names, or ``None``."""
    m = _CHANNEL_ID.match(channel_id or "")
    return uuid.UUID(hex=m.group(1)) if m else None


@dataclass
class UpkeepReport:
    opened: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def upkeep(
    engine: Engine,
    feeds: ChangeFeedFactory,
    *,
    push_url: str | None,
    secret_key: str,
    ttl_s: int,
    now: datetime | None = None,
) -> UpkeepReport:
    """Open, renew or stop each calendar's channel as :func:`engine.feed.plan.channel_action` says."""
    now = now or utcnow()
    report = UpkeepReport()
    with Session(engine, expire_on_commit=False) as db:
        rows = list(db.exec(select(FeedCalendar)).all())
        slugs = {t.id: t.slug for t in db.exec(select(Tenant)).all()}
    renew_before = timedelta(seconds=max(60, ttl_s // 4))
    for row in rows:
        action = plan.channel_action(active=row.active, push=push_url is not None, channel_id=row.channel_id,
                                     expires_at=row.channel_expires_at, now=now, renew_before=renew_before)
        if action == "keep":
            continue
        with metrics.tenant_scope(row.tenant_id, slugs.get(row.tenant_id) if row.tenant_id else None):
            try:
                if action == "stop":
                    _stop(engine, feeds, row)
                    report.stopped.append(row.calendar_id)
                    continue
                assert push_url is not None
                old = (row.channel_id, row.channel_resource_id) if action == "renew" else None
                cid = new_channel_id(row.id)
                ch = feeds(actor_of(row)).watch(row.calendar_id, cid, push_url, channel_token(secret_key, cid), ttl_s)
                _store(engine, row.id, ch.id, ch.resource_id, ch.expiration)
                (report.renewed if action == "renew" else report.opened).append(row.calendar_id)
                _count(action, "ok")
                if old is not None and old[0] and old[1]:
                    feeds(actor_of(row)).stop_channel(old[0], old[1])
            except ConnectorError as exc:
                log.warning("push channel of %s: %s failed: %s", row.calendar_id, action, exc)
                report.errors.append(f"{row.calendar_id}: {exc}")
                _count(action, exc.error_class)
    return report


def _store(engine: Engine, feed_id: uuid.UUID, cid: str | None, rid: str | None, exp: datetime | None) -> None:
    with unit_of_work(engine) as uow:
        row = uow.db.get(FeedCalendar, feed_id)
        if row is not None:
            row.channel_id, row.channel_resource_id, row.channel_expires_at = cid, rid, exp
            row.updated_at = utcnow()
            uow.db.add(row)


def _stop(engine: Engine, feeds: ChangeFeedFactory, row: FeedCalendar) -> None:
    if row.channel_id and row.channel_resource_id and (row.channel_expires_at or utcnow()) > utcnow():
        feeds(actor_of(row)).stop_channel(row.channel_id, row.channel_resource_id)
    _store(engine, row.id, None, None, None)
    _count("stop", "ok")


def _count(op: str, outcome: str) -> None:
    """``muster_push_channel_ops_total{tenant,op,outcome}`` (op ``watch``, ``renew`` or ``stop``), for the
    tenant of the :func:`engine.runtime.metrics.tenant_scope` around the call."""
    metrics.record_push_channel(op, outcome)


@dataclass(frozen=True)
class Judgement:
    verdict: plan.Verdict
    feed_id: uuid.UUID | None


def calendar_of_resource(resource_uri: str | None) -> str | None:
    """The calendar id in a notification's ``X-Goog-Resource-URI`` (``…/calendars/{id}/events…``)."""
    m = re.search(r"/calendars/([^/?]+)/events", resource_uri or "")
    return unquote(m.group(1)).lower() if m else None


def judge(
    engine: Engine,
    secret_keys: tuple[str, ...],
    *,
    channel_id: str | None,
    token: str | None,
    state: str | None,
    resource_uri: str | None = None,
) -> Judgement:
    """The verdict on one notification (database read only). A channel of Muster's whose row is unknown (its
    id names no calendar Muster follows) is matched by the calendar its resource URI names, so it can be
    stopped as the identity acting on that calendar."""
    feed_id = feed_of_channel(channel_id or "")
    row, slug = None, None
    with Session(engine) as db:
        if feed_id is not None:
            row = db.get(FeedCalendar, feed_id)
        calendar = calendar_of_resource(resource_uri) if row is None and feed_id is not None else None
        if calendar is not None:
            row = db.exec(select(FeedCalendar).where(FeedCalendar.calendar_id == calendar)).first()
        tenant = db.get(Tenant, row.tenant_id) if row is not None and row.tenant_id is not None else None
        slug = tenant.slug if tenant is not None else None
    verdict = plan.push_verdict(
        state=state,
        channel_id=channel_id,
        token_ok=feed_id is not None and token_ok(secret_keys, channel_id or "", token),
        known_channel_id=row.channel_id if row is not None and row.id == feed_id else None,
        active=bool(row is not None and row.active),
    )
    with metrics.tenant_scope(row.tenant_id if row is not None else None, slug):
        metrics.record_push_notification(verdict)
    return Judgement(verdict, row.id if row is not None else None)


def stop_stale(engine: Engine, feeds: ChangeFeedFactory, feed_id: uuid.UUID | None, channel_id: str,
               resource_id: str) -> None:
    """Stop a channel of ours that is not the calendar's current one (after the answer was sent)."""
    if feed_id is None or not resource_id:
        return
    with Session(engine, expire_on_commit=False) as db:
        row = db.get(FeedCalendar, feed_id)
    if row is None:
        return
    try:
        feeds(actor_of(row)).stop_channel(channel_id, resource_id)
    except ConnectorError as exc:
        log.warning("could not stop stale push channel %s of %s: %s", channel_id, row.calendar_id, exc)
