"""The sync engine's dramatiq actors, module-level functions, and the task layer that sends to them.

Where it sits: ``runtime``, between the after-commit hand-over (:mod:`engine.store.unit_of_work`) and the
reconciler (:mod:`engine.sync.reconciler`). ``reconcile_session``, ``verify_session``, ``transfer_person`` and
``deliver_webhook`` below are declared with ``@dramatiq.actor`` when this module is imported, on the broker
:mod:`engine.runtime.broker` set as dramatiq's global one before (a StubBroker that only holds declarations).
The composition root (:func:`engine.runtime.wiring.start_task_layer`) then calls :func:`bind`, which declares
the same actors on the process's real broker (Redis for ``muster worker`` and a web app that only sends, a
StubBroker for the embedded worker) and returns the :class:`Tasks` whose :meth:`Tasks.dispatch` it installs as
the unit of work's dispatcher, so committed session ids become ``reconcile_session`` messages. Each message
runs with the :class:`Tasks` of the broker that delivered it (a middleware makes it current), so the actors
reach the runtime (:class:`~engine.runtime.context.Runtime`) without closures or globals of their own.

* Payload: the session id only (house style §1). The actor reads everything else.
* Two lanes: ``reconcile_session`` on :data:`QUEUE` (platform changes: it trusts the binding's record
  of the event and writes with ``If-Match``, one call per change) and ``verify_session`` on
  :data:`BACKGROUND_QUEUE` (the drift sweep, full verification, the change feed: it reads the event
  first, or plans against the copy the change feed listed; a repair put back for quota keeps what it read;
  runs at a lower priority and within the background share of each identity's quota), so a sweep
  or a resync never delays a learner's enrollment.
* Coalescing: :meth:`Tasks.enqueue` sends a message delayed by ``settings.debounce_ms`` only if none is
  already scheduled for the session (the debouncer's marker); the actor clears the marker before it
  reads the database, so a burst of 100 enrollments becomes one or two reconciles.
* One reconcile per session at a time: the actor takes the session's lease (the per-session lock,
  renewed while the reconcile runs: :func:`engine.runtime.locks.held`); if another worker holds it, the
  message is re-sent with a delay (no spinning, no retry counted). The reconcile takes a fencing token
  (:mod:`engine.sync.fence`) so a worker whose lease expired anyway cannot write the binding.
* Retries: a ``RetriableError`` becomes ``dramatiq.Retry`` (exponential backoff with jitter between
  ``retry_min_backoff_ms`` and ``retry_max_backoff_ms``, carried by each message, or Google's hint);
  permanent and auth errors are recorded by the reconciler and not retried. Quota pacing re-sends with the
  limiter's delay.
* ``transfer_person`` (organizer lifecycle): payload ``(tenant_id, person_id)``; sent after commit through
  :func:`engine.lifecycle.dispatch.request_transfer` (an announced departure, a suspension seen by a
  reconcile, a fallback owner connecting), coalesced per person like reconciles, one worker per person at
  a time (:func:`engine.lifecycle.run.run_requested`). Idempotent: a transfer with nothing due does nothing.
* ``sync_feed`` (change feed): payload a :class:`~engine.store.models.FeedCalendar` id; sent by
  :meth:`Tasks.enqueue_feed` (a push notification, the feed clock), coalesced per calendar like reconciles,
  one worker per calendar at a time (its lease), running :func:`engine.feed.sync.sync_calendar`.
  ``stop_channel`` stops a stale push channel after ``POST /google/push`` answered it.
* ``deliver_webhook``: payload the delivery id; one attempt (:func:`engine.webhooks.delivery.deliver`). No
  dramatiq retries: a failed attempt is recorded on the durable row with its next due time, and the
  delivery clock hands it over again then (:meth:`Tasks.dispatch_webhooks` after commit, the clock after that).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage

import engine.runtime.broker  # noqa: F401  (sets the broker the actors below are declared on)
from connectors.errors import ConnectorError, RetriableError
from engine.feed.channels import stop_stale
from engine.feed.sync import sync_calendar
from engine.lifecycle.run import LifecycleWiring, run_requested
from engine.runtime import locks, logs, metrics, ratelimit
from engine.runtime.context import Runtime
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
#: Delay before retrying a session whose lock another worker holds. Short: a reconcile of a platform change is
#: one Google call, so the holder is done in moments and the change waiting behind it should not wait a second.
LOCK_BUSY_DELAY_MS = 250
#: Message option marking a busy follow-up (the payload stays the session id).
BUSY_FOLLOW_UP = "muster_busy_follow_up"
#: How much longer than the lock's lifetime plus its delay the busy follow-up key lives.
BUSY_KEY_SLACK_S = 30.0
#: Delay before looking again at a person another worker is transferring.
TRANSFER_BUSY_DELAY_MS = 5_000
#: Retries of one message before it is dropped (the periodic sweep picks the session up again).
MAX_RETRIES = 20
#: A "reconcile scheduled" marker older than this (beyond its debounce delay) is taken over by the sweep
#: and the outbox relay: its message should have started by then, so it was lost (a killed worker, a
#: Redis restart). The worst case of a wrong guess is one extra, harmless reconcile.
STALE_MARKER_S = 60.0


#: Time limits of one message (dramatiq kills a message that runs longer).
RECONCILE_TIME_LIMIT_MS = 10 * 60 * 1000
TRANSFER_TIME_LIMIT_MS = 30 * 60 * 1000
WEBHOOK_TIME_LIMIT_MS = 60 * 1000


# ---------------------------------------------------------------------------------------------- the actors
@dramatiq.actor(actor_name="reconcile_session", queue_name=QUEUE, priority=PLATFORM_PRIORITY,
                max_retries=MAX_RETRIES, time_limit=RECONCILE_TIME_LIMIT_MS)
def reconcile_session(session_id: str) -> None:
    """Reconcile one session after a platform change: its id is the whole payload (level-triggered)."""
    with logs.bind(reconcile_id=logs.new_reconcile_id(), session=session_id):
        _reconcile(current_tasks(), session_id, background=False)


@dramatiq.actor(actor_name="verify_session", queue_name=BACKGROUND_QUEUE, priority=BACKGROUND_PRIORITY,
                max_retries=MAX_RETRIES, time_limit=RECONCILE_TIME_LIMIT_MS)
def verify_session(session_id: str) -> None:
    """Background reconcile of one session: reads the event first, within the background quota share."""
    with logs.bind(reconcile_id=logs.new_reconcile_id(), session=session_id), ratelimit.background():
        _reconcile(current_tasks(), session_id, background=True)


@dramatiq.actor(actor_name="transfer_person", queue_name=QUEUE, max_retries=3,  # the lifecycle pass is the backstop
                time_limit=TRANSFER_TIME_LIMIT_MS)
def transfer_person(tenant_id: str, person_id: str) -> None:
    """Run one person's requested transfer (idempotent: nothing due, nothing done)."""
    tasks = current_tasks()
    tasks.runtime.debouncer.clear(transfer_key(tenant_id, person_id))
    if run_requested(tasks.runtime.engine, tasks.lifecycle(), uuid.UUID(tenant_id), uuid.UUID(person_id)) is None:
        # Another worker is transferring this person; look again once it is done.
        tasks.send(transfer_person, (tenant_id, person_id), delay_ms=TRANSFER_BUSY_DELAY_MS)


def _reconcile(tasks: Tasks, session_id: str, *, background: bool) -> None:
    runtime, settings = tasks.runtime, tasks.runtime.settings
    actor = verify_session if background else reconcile_session
    marker = background_key(session_id) if background else session_id
    # the marker is cleared before anything is read (a change committed from now on schedules another
    # reconcile), in the same Redis round trip as the first try of the lock
    with locks.held(runtime.lock, session_id, settings.lock_ttl_s, clearing=runtime.debouncer, marker=marker) as lease:
        if lease is None:
            metrics.record_reconcile("lock_busy")
            _follow_up_busy(tasks, actor, marker, session_id)
            return
        current = CurrentMessage.get_current_message()
        if current is not None and current.options.get(BUSY_FOLLOW_UP):
            runtime.debouncer.clear(busy_key(marker))  # the session's busy follow-up ends here
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
            tasks.send(actor, (session_id,), delay_ms=delay_ms)
        else:
            metrics.incr("enqueue.coalesced")


def _follow_up_busy(tasks: Tasks, actor: Any, marker: str, session_id: str) -> None:
    """Another worker holds the session: look again shortly, with one follow-up per session.

    A message can be delivered twice (a worker whose heartbeat lapsed has its messages taken over; the relay
    or the sweep may send one more), and each delivery that finds the lock held would schedule its own
    follow-up, so duplicate chains would multiply for as long as the lock is held. The follow-up is therefore
    handed over: only the delivery of the message named by the session's busy key (or the first one when none
    is) schedules the next, whose id the key then names; any other delivery ends, since a follow-up that reads
    the database later is already scheduled.
    """
    settings = tasks.runtime.settings
    delay = max(LOCK_BUSY_DELAY_MS, settings.debounce_ms)
    current = CurrentMessage.get_current_message()
    follow = tasks.message(actor, (session_id,))
    follow.options[BUSY_FOLLOW_UP] = True  # metadata only: once it gets the lease it clears the key
    ttl_s = settings.lock_ttl_s + delay / 1000 + BUSY_KEY_SLACK_S
    delivered = current.message_id if current else ""
    if tasks.runtime.debouncer.hand_over(busy_key(marker), delivered, follow.message_id, ttl_s):
        log.info("session is locked by another worker: trying again shortly (%s %s, follow-up %s)",
                 actor.actor_name, delivered or "-", follow.message_id, extra={"outcome": "lock_busy"})
        tasks.broker.enqueue(follow, delay=delay)
    else:
        log.info("session is locked by another worker and a follow-up is already scheduled (%s %s)",
                 actor.actor_name, delivered or "-", extra={"outcome": "lock_busy"})
        metrics.incr("lock_busy.follow_up_merged")


@dramatiq.actor(actor_name="deliver_webhook", queue_name=QUEUE,
                max_retries=0,  # the durable row and the delivery clock retry, with the tenant-visible log
                time_limit=WEBHOOK_TIME_LIMIT_MS)
def deliver_webhook(delivery_id: str) -> None:
    """One attempt at one webhook delivery (the durable row records the result and the next due time)."""
    tasks = current_tasks()
    result = deliver(tasks.runtime.engine, uuid.UUID(delivery_id), settings=tasks.runtime.settings)
    if result.retry_in_s is not None:
        tasks.send(deliver_webhook, (delivery_id,), delay_ms=max(1, int(result.retry_in_s * 1000)))


@dramatiq.actor(actor_name="sync_feed", queue_name=QUEUE, max_retries=5,  # the feed clock is the backstop
                time_limit=RECONCILE_TIME_LIMIT_MS)
def sync_feed(feed_id: str) -> None:
    """Sync one calendar's changes (level-triggered: the feed row's id is the whole payload)."""
    tasks = current_tasks()
    runtime = tasks.runtime
    key = feed_key(feed_id)
    runtime.debouncer.clear(key)
    assert runtime.feeds is not None
    with locks.held(runtime.lock, key, runtime.settings.lock_ttl_s) as lease:
        if lease is None:  # another worker syncs this calendar now: look again after it
            tasks.send(sync_feed, (feed_id,), delay_ms=LOCK_BUSY_DELAY_MS)
            return
        try:
            sync_calendar(runtime.engine, runtime.feeds, uuid.UUID(feed_id))
        except RetriableError as exc:
            raise dramatiq.Retry(str(exc), delay=int(exc.delay * 1000) if exc.delay else None) from exc
        except ConnectorError as exc:  # recorded on the feed row; the feed clock tries again
            log.warning("change sync of calendar %s failed: %s", feed_id, exc)


@dramatiq.actor(actor_name="stop_channel", queue_name=QUEUE, max_retries=3, time_limit=WEBHOOK_TIME_LIMIT_MS)
def stop_channel(feed_id: str, channel_id: str, resource_id: str) -> None:
    """Stop a stale push channel of the calendar ``feed_id`` (its notification was answered already)."""
    runtime = current_tasks().runtime
    assert runtime.feeds is not None
    stop_stale(runtime.engine, runtime.feeds, uuid.UUID(feed_id), channel_id, resource_id)


#: Every actor of the task layer (declared on each broker :func:`bind` is given).
ACTORS = (reconcile_session, verify_session, transfer_person, deliver_webhook, sync_feed, stop_channel)


# ---------------------------------------------------------------------------------------------- task layer
def _no_lifecycle() -> LifecycleWiring:
    raise RuntimeError("this task layer was bound without the organizer lifecycle")


@dataclass
class Tasks:
    """The task layer of one broker: what the actors run with, and how to send to them."""

    runtime: Runtime
    broker: dramatiq.Broker
    #: The organizer lifecycle's wiring (built on first use by the composition root).
    lifecycle: Callable[[], LifecycleWiring] = field(default=_no_lifecycle)

    @property
    def reconcile_session(self) -> Any:  # dramatiq.Actor (untyped library)
        return reconcile_session

    @property
    def verify_session(self) -> Any:
        return verify_session

    @property
    def transfer_person(self) -> Any:
        return transfer_person

    @property
    def deliver_webhook(self) -> Any:
        return deliver_webhook

    def send_webhook(self, delivery_id: uuid.UUID) -> None:
        """Hand one webhook delivery to a worker (raises when the broker does not answer)."""
        self.send(deliver_webhook, (str(delivery_id),))

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

    def message(self, actor: Any, args: tuple[str, ...]) -> Any:
        """A message of ``args`` for ``actor`` with the deployment's retry backoff (not sent yet)."""
        settings = self.runtime.settings
        return actor.message_with_options(
            args=args, min_backoff=settings.retry_min_backoff_ms, max_backoff=settings.retry_max_backoff_ms
        )

    def send(self, actor: Any, args: tuple[str, ...], *, delay_ms: int | None = None) -> None:
        """Send ``args`` to ``actor`` on this layer's broker, with the deployment's retry backoff."""
        self.broker.enqueue(self.message(actor, args), delay=delay_ms or None)

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
        actor, marker = (verify_session, background_key(key)) if background else (reconcile_session, key)
        delay = self.runtime.settings.debounce_ms if delay_ms is None else delay_ms
        stale = STALE_MARKER_S + delay / 1000 if take_over_stale else None
        if coalesce and not self.runtime.debouncer.claim(marker, PENDING_TTL_S + delay / 1000, stale_after_s=stale):
            metrics.incr("enqueue.coalesced")
            return False
        try:
            self.send(actor, (key,), delay_ms=delay)
        except Exception:
            if coalesce:  # nothing is scheduled after all: let the next change (or the sweep) try again
                self.runtime.debouncer.clear(marker)
            raise
        metrics.incr("enqueue.sent")
        return True

    def enqueue_feed(self, feed_id: uuid.UUID) -> bool:
        """Schedule an incremental sync of one calendar; False when one is already scheduled (merged)."""
        key = feed_key(feed_id)
        delay = self.runtime.settings.debounce_ms
        if not self.runtime.debouncer.claim(key, PENDING_TTL_S + delay / 1000, stale_after_s=STALE_MARKER_S):
            metrics.incr("enqueue.feed_coalesced")
            return False
        try:
            self.send(sync_feed, (str(feed_id),), delay_ms=delay)
        except Exception:
            self.runtime.debouncer.clear(key)
            raise
        metrics.incr("enqueue.feed_sent")
        return True

    def enqueue_stop(self, feed_id: uuid.UUID, channel_id: str, resource_id: str) -> bool:
        """Stop a stale push channel soon (the push route answered it already)."""
        self.send(stop_channel, (str(feed_id), channel_id, resource_id))
        return True

    def enqueue_transfer(self, tenant_id: uuid.UUID, person_id: uuid.UUID) -> bool:
        """Schedule one person's transfer (the lifecycle's dispatcher); False when one is already queued."""
        key = transfer_key(tenant_id, person_id)
        if not self.runtime.debouncer.claim(key, PENDING_TTL_S):
            metrics.incr("enqueue.transfer_coalesced")
            return False
        try:
            self.send(transfer_person, (str(tenant_id), str(person_id)))
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


def feed_key(feed_id: uuid.UUID | str) -> str:
    """The debouncer's and the lease's key of one calendar's change sync."""
    return f"feed:{feed_id}"


def busy_key(marker: str) -> str:
    """The debouncer's key naming the one follow-up message scheduled while a session's lock is held."""
    return f"busy:{marker}"


def transfer_key(tenant_id: uuid.UUID | str, person_id: uuid.UUID | str) -> str:
    """The debouncer's key of a scheduled transfer (distinct from session ids)."""
    return f"transfer-queued:{tenant_id}:{person_id}"



class _CurrentTasks(dramatiq.Middleware):
    """Makes ``tasks`` current on the worker thread before each message of its broker runs."""

    def __init__(self, tasks: Tasks) -> None:
        self.tasks = tasks

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        _current.tasks = self.tasks


_current = threading.local()


def current_tasks() -> Tasks:
    """The :class:`Tasks` of the broker whose message this thread is running."""
    tasks: Tasks | None = getattr(_current, "tasks", None)
    if tasks is None:
        raise RuntimeError("no task layer is bound: the actors run only through a broker given to bind()")
    return tasks


def bind(
    broker: dramatiq.Broker, runtime: Runtime, *, lifecycle: Callable[[], LifecycleWiring] | None = None
) -> Tasks:
    """Declare the actors on ``broker`` and return the task layer that sends to them and runs with ``runtime``.

    The actors' own ``send`` goes to the broker bound last (one per process outside tests); :class:`Tasks`
    always sends on its own broker."""
    tasks = Tasks(runtime=runtime, broker=broker, lifecycle=lifecycle or _no_lifecycle)
    broker.add_middleware(_CurrentTasks(tasks))
    for actor in ACTORS:
        broker.declare_actor(actor)
        actor.broker = broker
    return tasks
