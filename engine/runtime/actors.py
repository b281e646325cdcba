"""Dramatiq actors of the sync engine, bound explicitly to one broker, and the after-commit dispatcher.

Where it sits: :func:`declare` is called by :mod:`engine.runtime.worker` with the broker from
:func:`engine.runtime.broker.build_broker` and the :class:`~engine.runtime.wiring.Runtime`; the returned
:class:`Tasks` is installed as the unit of work's dispatcher (:func:`engine.store.unit_of_work.set_dispatcher`), so
committed session ids become ``reconcile_session`` messages.

* Payload: the session id only (house style §1). The actor reads everything else.
* Two lanes: ``reconcile_session`` on :data:`QUEUE` (platform changes: it trusts the binding's record
  of the event and writes with ``If-Match``, one call per change) and ``verify_session`` on
  :data:`BACKGROUND_QUEUE` (the drift sweep, full verification, the change feed: it reads the event
  first, runs at a lower priority and within the background share of each identity's quota), so a sweep
  or a resync never delays a learner's enrollment.
* Coalescing: :meth:`Tasks.enqueue` sends a message delayed by ``settings.debounce_ms`` only if none is
  already scheduled for the session (the debouncer's marker); the actor clears the marker before it
  reads the database, so a burst of 100 enrollments becomes one or two reconciles.
* One reconcile per session at a time: the actor takes the session's lease (the per-session lock,
  renewed while the reconcile runs: :func:`engine.runtime.locks.held`); if another worker holds it, the
  message is re-sent with a delay (no spinning, no retry counted). The reconcile takes a fencing token
  (:mod:`engine.sync.fence`) so a worker whose lease expired anyway cannot write the binding.
* Retries: a ``RetriableError`` becomes ``dramatiq.Retry`` (exponential backoff with jitter between
  ``retry_min_backoff_ms`` and ``retry_max_backoff_ms``, or Google's hint); permanent and auth errors are
  recorded by the reconciler and not retried. Quota pacing re-sends with the limiter's delay.
* ``transfer_person`` (organizer lifecycle): payload ``(tenant_id, person_id)``; sent after commit through
  :func:`engine.lifecycle.dispatch.request_transfer` (an announced departure, a suspension seen by a
  reconcile, a fallback owner connecting), coalesced per person like reconciles, one worker per person at
  a time (:func:`engine.lifecycle.run.run_requested`). Idempotent: a transfer with nothing due does nothing.
* ``deliver_webhook``: payload the delivery id; one attempt (:func:`engine.webhooks.delivery.deliver`). No
  dramatiq retries: a failed attempt is recorded on the durable row with its next due time, and the
  delivery clock hands it over again then (:meth:`Tasks.dispatch_webhooks` after commit, the clock after that).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis

from connectors.errors import RetriableError
from engine.lifecycle.run import run_requested
from engine.runtime import locks, logs, metrics, ratelimit
from engine.runtime.wiring import Runtime, lifecycle_for
from engine.store.unit_of_work import log_dispatch_failure
from engine.webhooks.delivery import deliver

log = logging.getLogger(__name__)

QUEUE = "muster-sync"
#: Background work (drift sweep, full verification, changes the change feed saw): its own queue, lower
#: priority in every worker, and only a share of each identity's quota (:mod:`engine.runtime.ratelimit`).
BACKGROUND_QUEUE = "muster-sync-bg"
#: dramatiq actor priorities (lower runs first among the messages a worker holds).
PLATFORM_PRIORITY = 0
BACKGROUND_PRIORITY = 100
#: How long a "reconcile scheduled" marker lives if its message is lost (the sweep repairs the rest).
PENDING_TTL_S = 300.0
#: Delay before retrying a session whose lock another worker holds.
LOCK_BUSY_DELAY_MS = 1_000
#: Delay before looking again at a person another worker is transferring.
TRANSFER_BUSY_DELAY_MS = 5_000
#: Retries of one message before it is dropped (the periodic sweep picks the session up again).
MAX_RETRIES = 20
#: A "reconcile scheduled" marker older than this (beyond its debounce delay) is taken over by the sweep
#: and the outbox relay: its message should have started by then, so it was lost (a killed worker, a
#: Redis restart). The worst case of a wrong guess is one extra, harmless reconcile.
STALE_MARKER_S = 60.0


@dataclass
class Tasks:
    runtime: Runtime
    broker: dramatiq.Broker
    reconcile_session: Any  # dramatiq.Actor (untyped library)
    transfer_person: Any = None  # dramatiq.Actor: the organizer lifecycle's requested transfers
    deliver_webhook: Any = None  # dramatiq.Actor: one attempt at one webhook delivery

    def send_webhook(self, delivery_id: uuid.UUID) -> None:
        """Hand one webhook delivery to a worker (raises when the broker does not answer)."""
        self.deliver_webhook.send(str(delivery_id))

    def dispatch_webhooks(self, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        """After commit: send each delivery; those the broker refused are returned (their lease expires and
        the delivery clock hands them over). Never raises."""
        pending = list(ids)
        for index, delivery_id in enumerate(pending):
            try:
                self.send_webhook(delivery_id)
            except Exception as exc:
                log.warning("could not queue webhook deliveries (%s); the delivery clock will", exc)
                return pending[index:]
        return []
    verify_session: Any = None  # dramatiq.Actor: background reconciles that read the event first

    def enqueue(
        self,
        session_id: uuid.UUID | str,
        *,
        delay_ms: int | None = None,
        coalesce: bool = True,
        take_over_stale: bool = False,
        background: bool = False,
    ) -> bool:
        """Schedule a reconcile; returns False when one is already scheduled (merged into it).

        ``take_over_stale`` (the sweep, the outbox relay): a marker older than :data:`STALE_MARKER_S`
        does not count as scheduled, so a lost message never blocks a session for the marker's lifetime.
        ``background`` (the sweep, a full verification, the change feed): the ``verify_session`` actor on
        :data:`BACKGROUND_QUEUE`, which reads the event first and yields to platform changes; its marker is
        its own, so a pending background reconcile never delays a platform change merged into it.
        """
        key = str(session_id)
        actor = self.reconcile_session
        marker = key
        if background and self.verify_session is not None:
            actor, marker = self.verify_session, background_key(key)
        delay = self.runtime.settings.debounce_ms if delay_ms is None else delay_ms
        stale = STALE_MARKER_S + delay / 1000 if take_over_stale else None
        if coalesce and not self.runtime.debouncer.claim(marker, PENDING_TTL_S + delay / 1000, stale_after_s=stale):
            metrics.incr("enqueue.coalesced")
            return False
        try:
            actor.send_with_options(args=(key,), delay=delay or None)
        except Exception:
            if coalesce:  # nothing is scheduled after all: let the next change (or the sweep) try again
                self.runtime.debouncer.clear(marker)
            raise
        metrics.incr("enqueue.sent")
        return True

    def enqueue_transfer(self, tenant_id: uuid.UUID, person_id: uuid.UUID) -> bool:
        """Schedule one person's transfer (the lifecycle's dispatcher); False when one is already queued."""
        key = transfer_key(tenant_id, person_id)
        if not self.runtime.debouncer.claim(key, PENDING_TTL_S):
            metrics.incr("enqueue.transfer_coalesced")
            return False
        try:
            self.transfer_person.send(str(tenant_id), str(person_id))
        except Exception:
            self.runtime.debouncer.clear(key)
            raise
        metrics.incr("enqueue.transfer_sent")
        return True

    def dispatch(self, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        """The after-commit dispatcher (:data:`engine.store.unit_of_work.Dispatcher`).

        Tries every id; those the broker refused (Redis down) are logged as one warning line, without a
        traceback, and returned: the unit of work leaves them to the outbox relay. Never raises: the
        caller's data is already committed.
        """
        pending = list(ids)
        failed: list[uuid.UUID] = []
        error: Exception | None = None
        for index, sid in enumerate(pending):
            try:
                self.enqueue(sid)
            except (redis.ConnectionError, redis.TimeoutError, dramatiq.errors.BrokerConnectionError) as exc:
                # Redis is down: the rest would fail the same way, after the same timeout each
                failed.extend(pending[index:])
                error = error or exc
                break
            except Exception as exc:
                failed.append(sid)
                error = error or exc
        if error is not None:
            log_dispatch_failure(failed, error)
        return failed

    def dispatch_background(self, ids: Iterable[uuid.UUID]) -> None:
        """Background reconciles (:func:`engine.sync.lanes.verify_after_commit`); never raises."""
        for sid in ids:
            try:
                self.enqueue(sid, background=True)
            except Exception as exc:  # the change feed or the sweep will ask again
                log.warning("could not enqueue the background reconcile of session %s: %s", sid, exc)

    def queue_depth(self) -> int:
        """Messages waiting (ready + delayed) on the sync queues."""
        names = [q for base in (QUEUE, BACKGROUND_QUEUE) for q in (base, f"{base}.DQ")]
        try:
            stats = getattr(self.broker, "queues", None)
            if isinstance(stats, dict) and QUEUE in stats:  # StubBroker: ready + delayed queues
                return sum(int(q.qsize()) for name, q in stats.items() if name in names)
            client = getattr(self.broker, "client", None)
            if client is not None:
                ns = self.runtime.settings.redis_namespace
                return sum(int(client.llen(f"{ns}:{name}")) for name in names)
        except Exception:
            return -1
        return 0


def redis_queue_depth(redis_url: str | None, namespace: str) -> int | None:
    """Messages waiting (ready + delayed) on the Redis sync queue; None without Redis or when it is down."""
    if redis_url is None:
        return None
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
        names = [q for base in (QUEUE, BACKGROUND_QUEUE) for q in (base, f"{base}.DQ")]
        return sum(int(client.llen(f"{namespace}:{name}")) for name in names)
    except (redis.RedisError, OSError):
        return None


def background_key(session_id: uuid.UUID | str) -> str:
    """The debouncer's key of a scheduled background reconcile (distinct from the platform lane's)."""
    return f"bg:{session_id}"


def transfer_key(tenant_id: uuid.UUID | str, person_id: uuid.UUID | str) -> str:
    """The debouncer's key of a scheduled transfer (distinct from session ids)."""
    return f"transfer-queued:{tenant_id}:{person_id}"


def declare(broker: dramatiq.Broker, runtime: Runtime) -> Tasks:
    """Bind the actors to ``broker`` (explicitly; never dramatiq's global default)."""
    settings = runtime.settings
    holder: dict[str, Any] = {}

    def reconcile_session(session_id: str) -> None:
        with logs.bind(reconcile_id=logs.new_reconcile_id(), session=session_id):
            _reconcile_session(session_id, background=False)

    def verify_session(session_id: str) -> None:
        with logs.bind(reconcile_id=logs.new_reconcile_id(), session=session_id), ratelimit.background():
            _reconcile_session(session_id, background=True)

    def _reconcile_session(session_id: str, *, background: bool) -> None:
        actor = holder["verify" if background else "actor"]
        marker = background_key(session_id) if background else session_id
        runtime.debouncer.clear(marker)
        with locks.held(runtime.lock, session_id, settings.lock_ttl_s) as lease:
            if lease is None:
                log.info("session is locked by another worker: trying again shortly", extra={"outcome": "lock_busy"})
                metrics.record_reconcile("lock_busy")
                actor.send_with_options(args=(session_id,), delay=max(LOCK_BUSY_DELAY_MS, settings.debounce_ms))
                return
            try:
                result = runtime.reconciler.reconcile(uuid.UUID(session_id), verify=background)
            except RetriableError as exc:
                delay = int(exc.delay * 1000) if exc.delay else None
                raise dramatiq.Retry(str(exc), delay=delay) from exc
        if result.requeue_after is not None:
            delay_ms = max(1, int(result.requeue_after.total_seconds() * 1000))
            # Quota pressure widens coalescing by itself: the requeued message carries the session's marker
            # again, so changes made while it waits merge into it (one reconcile, one patch, for all of them).
            if runtime.debouncer.claim(marker, PENDING_TTL_S + delay_ms / 1000):
                actor.send_with_options(args=(session_id,), delay=delay_ms)
            else:
                metrics.incr("enqueue.coalesced")

    actor = dramatiq.actor(
        broker=broker,
        actor_name="reconcile_session",
        queue_name=QUEUE,
        priority=PLATFORM_PRIORITY,
        max_retries=MAX_RETRIES,
        min_backoff=settings.retry_min_backoff_ms,
        max_backoff=settings.retry_max_backoff_ms,
        time_limit=10 * 60 * 1000,
    )(reconcile_session)
    holder["actor"] = actor
    holder["verify"] = dramatiq.actor(
        broker=broker,
        actor_name="verify_session",
        queue_name=BACKGROUND_QUEUE,
        priority=BACKGROUND_PRIORITY,
        max_retries=MAX_RETRIES,
        min_backoff=settings.retry_min_backoff_ms,
        max_backoff=settings.retry_max_backoff_ms,
        time_limit=10 * 60 * 1000,
    )(verify_session)

    def transfer_person(tenant_id: str, person_id: str) -> None:
        runtime.debouncer.clear(transfer_key(tenant_id, person_id))
        lifecycle = lifecycle_for(runtime)  # built on first use
        if run_requested(runtime.engine, lifecycle, uuid.UUID(tenant_id), uuid.UUID(person_id)) is None:
            # Another worker is transferring this person; look again once it is done.
            holder["transfer"].send_with_options(args=(tenant_id, person_id), delay=TRANSFER_BUSY_DELAY_MS)

    holder["transfer"] = dramatiq.actor(
        broker=broker,
        actor_name="transfer_person",
        queue_name=QUEUE,
        max_retries=3,  # the periodic lifecycle pass is the backstop
        min_backoff=settings.retry_min_backoff_ms,
        max_backoff=settings.retry_max_backoff_ms,
        time_limit=30 * 60 * 1000,
    )(transfer_person)
    def deliver_webhook(delivery_id: str) -> None:
        result = deliver(runtime.engine, uuid.UUID(delivery_id), settings=settings)
        if result.retry_in_s is not None:
            holder["webhook"].send_with_options(args=(delivery_id,), delay=max(1, int(result.retry_in_s * 1000)))

    webhook_actor = dramatiq.actor(
        broker=broker,
        actor_name="deliver_webhook",
        queue_name=QUEUE,
        max_retries=0,  # the durable row and the delivery clock retry, with the tenant-visible log
        time_limit=60 * 1000,
    )(deliver_webhook)
    holder["webhook"] = webhook_actor
    return Tasks(
        runtime=runtime,
        broker=broker,
        reconcile_session=actor,
        transfer_person=holder["transfer"],
        deliver_webhook=webhook_actor,
        verify_session=holder["verify"],
    )
