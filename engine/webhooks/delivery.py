"""Delivering webhooks: one attempt per actor message, retries with backoff from the durable table.

Where it sits: the ``deliver_webhook`` actor (:mod:`engine.runtime.actors`) calls :func:`deliver` with a
delivery id; the delivery clock of every worker (:mod:`engine.runtime.worker`) calls :func:`hand_over_due`
each second, which claims what is due (first attempts whose hand-over failed, retries whose wait is over,
leases a killed worker left) and sends each id to the actor.

One attempt: read the delivery and the tenant's current URL and secret (one short read, then no
transaction is open), POST the stored body signed for this moment (:mod:`engine.webhooks.signing`), record
the outcome in a second short transaction:

* 2xx → ``delivered``;
* no secret to sign with (none set, or one ``MUSTER_SECRET_KEY`` cannot read) → ``parked`` with that reason:
  no POST, no retry clock; :func:`engine.webhooks.outbox.resume_parked` sends it again once a secret is
  saved (tenant set-up), or an admin replays it;
* a plain ``http://`` loopback URL while ``MUSTER_WEBHOOKS_ALLOW_LOOPBACK`` is off (saved before the setting
  existed, or by a deployment that had it on) → ``parked`` with that reason, nothing sent
  (:func:`engine.webhooks.address.loopback`); saving another URL through tenant set-up sends it again;
* anything else (another status, a redirect, a timeout, a refused connection, a host name that now
  resolves to an internal address: :mod:`engine.webhooks.address`) → the attempt is
  logged on the row, and it is due again after :func:`backoff_s` (the actor re-sends itself with that delay;
  the row's lease lets the clock take over only if that message is lost) (doubling from
  ``webhook_retry_min_ms`` up to ``webhook_retry_max_ms``, jittered), until ``webhook_max_attempts`` attempts
  have failed: then ``failed`` (an admin replays it from the delivery log);
* delivered and failed deliveries older than ``webhook_retention_days`` are deleted by :func:`prune_log`
  (the delivery clock, every :data:`engine.runtime.worker.WEBHOOK_PRUNE_EVERY` passes);
* webhooks turned off for the tenant meanwhile (no URL) → ``failed`` at once, with that reason.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.crypto import DecryptionError, decrypt
from engine.runtime import metrics
from engine.settings import Settings
from engine.store.models import Tenant, WebhookDelivery, WebhookStatus
from engine.store.types import utcnow
from engine.webhooks import address, outbox
from engine.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

#: Seconds one attempt waits for the platform's answer.
TIMEOUT_S = 10.0
#: Characters of a refusing answer's body kept in the delivery log.
BODY_EXCERPT = 200

#: ``(url, body, headers, timeout_s) -> status code``; raises ``httpx.HTTPError`` when no answer came.
Post = Callable[[str, bytes, dict[str, str], float], "tuple[int, str]"]


class AddressRefusedError(httpx.ConnectError):
    """The webhook URL's host name resolves to an internal address now (DNS rebinding): not connected."""


def httpx_post_for(*, allow_loopback: bool) -> Post:
    """The real POST (:func:`httpx_post`) under this deployment's ``MUSTER_WEBHOOKS_ALLOW_LOOPBACK``."""

    def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int, str]:
        return httpx_post(url, body, headers, timeout_s, allow_loopback=allow_loopback)

    return post


def httpx_post(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float, *, allow_loopback: bool
) -> tuple[int, str]:
    """The real POST: the host name resolved and checked (:func:`engine.webhooks.address.check`), then sent
    to the address checked; no redirects followed (the signature names this URL); the answer's status and
    text. Raises ``httpx.HTTPError`` when no answer came (:class:`AddressRefusedError`: refused before
    connecting)."""
    try:
        target = address.check(url, allow_loopback=allow_loopback)
    except address.AddressRefused as exc:
        raise AddressRefusedError(f"refused before connecting: {exc}") from None
    except address.NotResolved as exc:
        raise httpx.ConnectError(str(exc)) from None
    return pinned_post(target, body, headers, timeout_s)


def pinned_post(target: address.Target, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int, str]:
    """POST to ``target.address`` (when set) while the ``Host`` header and TLS (SNI, certificate check) name
    the URL's host: the connection goes where the check looked, whatever the name resolves to by now."""
    url, extensions, sent = target.url, {}, dict(headers)
    if target.address is not None:
        parts = urlsplit(target.url)
        shown = f"[{target.address}]" if ":" in target.address else target.address
        url = urlunsplit(parts._replace(netloc=f"{shown}:{target.port}"))
        sent["Host"] = parts.netloc
        extensions = {"sni_hostname": target.host}
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        request = client.build_request("POST", url, content=body, headers=sent, extensions=extensions)
        response = client.send(request)
        return response.status_code, response.text[:BODY_EXCERPT]


def backoff_s(attempts: int, *, min_ms: int, max_ms: int, jitter: float) -> float:
    """Wait after the ``attempts``-th failed attempt: ``min_ms`` doubling to ``max_ms``, times ``jitter``
    (0.8 to 1.2 in use; pure so tests can pin it)."""
    base = min(max_ms, min_ms * 2 ** max(0, attempts - 1))
    return max(0.001, float(base) * jitter / 1000.0)


def body_bytes(payload: dict[str, object]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys in a stable order."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


@dataclass(frozen=True)
class AttemptResult:
    outcome: str  #: delivered | retry | failed | parked | skipped
    status_code: int | None = None
    error: str | None = None
    #: For ``retry``: seconds until the next attempt is due (the actor re-sends itself that much later).
    retry_in_s: float | None = None


@dataclass(frozen=True)
class _Target:
    url: str | None
    secret: str | None
    secret_problem: str | None
    payload: dict[str, object]
    event_type: str
    attempts: int


def _load(engine: Engine, delivery_id: uuid.UUID, settings: Settings) -> _Target | None:
    with Session(engine, expire_on_commit=False) as db:
        row = db.get(WebhookDelivery, delivery_id)
        if row is None or row.status != WebhookStatus.PENDING.value:
            return None
        tenant = db.get(Tenant, row.tenant_id)
        if tenant is None:
            return None
        wanted = outbox.tenant_webhooks(tenant)
        secret: str | None = None
        problem: str | None = None
        if tenant.webhook_secret_encrypted is None:
            problem = ("no webhook secret is set, so nothing can be signed: set one (`muster tenant set --slug "
                       f"{tenant.slug} --webhook-secret ...`, or the Integration page) and the parked deliveries "
                       "are sent")
        else:
            try:
                secret = decrypt(settings.all_secret_keys, tenant.webhook_secret_encrypted)
            except DecryptionError as exc:
                problem = (f"the webhook secret cannot be read ({exc}): save it again (`muster tenant set --slug "
                           f"{tenant.slug} --webhook-secret ...`) and the parked deliveries are sent")
        return _Target(
            url=wanted.url if wanted is not None else None,
            secret=secret,
            secret_problem=problem,
            payload=dict(row.payload),
            event_type=row.event_type,
            attempts=row.attempts,
        )


def _record(
    engine: Engine,
    delivery_id: uuid.UUID,
    result: AttemptResult,
    settings: Settings,
    now: datetime,
    jitter: float,
    seconds: float | None,
) -> AttemptResult:
    with Session(engine) as db, db.begin():
        row = db.get(WebhookDelivery, delivery_id)
        if row is None or row.status != WebhookStatus.PENDING.value:
            return AttemptResult("skipped")
        tenant_id, event_type = row.tenant_id, row.event_type
        tenant_slug = str((row.payload or {}).get("tenant") or "")
        if result.outcome != "parked":  # parking sends nothing: not an attempt
            row.attempts += 1
            row.last_attempt_at = now
        row.last_status_code = result.status_code
        row.last_error = result.error
        row.lease_until = None
        outcome = result.outcome
        wait = 0.0
        if outcome == "delivered":
            row.status = WebhookStatus.DELIVERED.value
            row.delivered_at = now
        elif outcome == "parked":
            row.status = WebhookStatus.PARKED.value
        elif outcome == "failed" or row.attempts >= settings.webhook_max_attempts:
            row.status = WebhookStatus.FAILED.value
            outcome = "failed"
        else:
            wait = backoff_s(
                row.attempts, min_ms=settings.webhook_retry_min_ms, max_ms=settings.webhook_retry_max_ms, jitter=jitter
            )
            row.next_attempt_at = now + timedelta(seconds=wait)
            # the actor re-sends itself for that moment; the clock takes over only if that message is lost
            row.lease_until = row.next_attempt_at + outbox.LEASE
        db.add(row)
    with metrics.tenant_scope(tenant_id, tenant_slug):
        metrics.record_webhook_delivery(event_type, outcome, seconds)
    return AttemptResult(outcome, result.status_code, result.error, wait if outcome == "retry" else None)


def deliver(
    engine: Engine,
    delivery_id: uuid.UUID,
    *,
    settings: Settings,
    post: Post | None = None,
    clock: Callable[[], float] = time.time,
    jitter: float | None = None,
) -> AttemptResult:
    """One attempt at ``delivery_id`` (see the module docstring). Never raises for the platform's failures.
    ``post`` (default: :func:`httpx_post` under ``settings.webhooks_allow_loopback``) sends the request."""
    target = _load(engine, delivery_id, settings)
    if target is None:
        return AttemptResult("skipped")
    spread = random.uniform(0.8, 1.2) if jitter is None else jitter  # jitter, not a secret
    took: float | None = None  #: how long the POST took (None: no POST was made)
    if target.url is None:
        result = AttemptResult("failed", None, "webhooks are turned off for this tenant (settings.webhooks.url)")
    elif target.secret is None:
        result = AttemptResult("parked", None, target.secret_problem)
    elif address.loopback(target.url) and not settings.webhooks_allow_loopback:
        result = AttemptResult("parked", None, address.LOOPBACK_REFUSED.format(url=target.url)
                               + ": save another URL (`muster tenant set`, the Integration page) to send it")
    else:
        started = time.perf_counter()
        body = body_bytes(target.payload)
        headers = signed_headers(
            secret=target.secret, timestamp=int(clock()), body=body, delivery_id=str(delivery_id),
            event_type=target.event_type,
        )
        try:
            send = post or httpx_post_for(allow_loopback=settings.webhooks_allow_loopback)
            status, text = send(target.url, body, headers, TIMEOUT_S)
        except httpx.HTTPError as exc:
            result = AttemptResult("retry", None, f"{type(exc).__name__}: {exc}"[:1000])
        else:
            if 200 <= status < 300:
                result = AttemptResult("delivered", status, None)
            else:
                hint = " (redirects are not followed: set the final URL)" if 300 <= status < 400 else ""
                result = AttemptResult("retry", status, f"the platform answered {status}{hint}: {text}"[:1000])
        took = time.perf_counter() - started
    recorded = _record(engine, delivery_id, result, settings, utcnow(), spread, took)
    if recorded.outcome != "delivered":
        log.warning("webhook %s (%s) not delivered: %s (%s)", delivery_id, target.event_type, recorded.error,
                    recorded.outcome, extra={"outcome": f"webhook_{recorded.outcome}"})
    return recorded


def prune_log(engine: Engine, *, retention_days: int, now: datetime | None = None) -> int:
    """Delete delivered and failed deliveries older than ``retention_days`` (one short transaction)."""
    before = (now or utcnow()) - timedelta(days=retention_days)
    with Session(engine) as db, db.begin():
        return outbox.prune(db=db, before=before)


def hand_over_due(engine: Engine, send: Callable[[uuid.UUID], None], *, limit: int = 100) -> int:
    """The delivery clock's pass: claim due deliveries and send each id; returns how many were sent."""
    with Session(engine) as db, db.begin():
        claimed = outbox.claim_due(db=db, limit=limit)
    sent = 0
    failed: list[uuid.UUID] = []
    for index, delivery_id in enumerate(claimed):
        try:
            send(delivery_id)
            sent += 1
        except Exception as exc:  # the broker is down: the rest would fail too; due again next pass
            failed = claimed[index:]
            log.warning("could not hand over %d webhook deliveries (%s); next pass", len(failed), exc)
            break
    if failed:
        with Session(engine) as db, db.begin():
            outbox.release(db=db, delivery_ids=failed)
    return sent
