"""Running the sync actors: ``muster worker`` processes on Redis, or an embedded worker thread.

Where it sits: entry points. Both paths run the same actors (:mod:`engine.runtime.actors`) through the same
reconciler; only the broker differs (:mod:`engine.runtime.broker`).

* :func:`run` - ``muster worker``: ``processes`` OS processes (spawned), each a dramatiq ``Worker`` with
  ``threads`` threads on the Redis broker, plus three clocks, each run by one process at a time under its
  own Redis lock: the drift sweep (every ``sweep_interval_s``), the organizer lifecycle pass, whose
  Directory scan notices suspended or deleted organizers (every ``directory_scan_interval_s``), and the
  retry clock that requeues sessions whose Meet link or room is due for another try, and the feed clock
  (every ``feed_poll_s``: push channels kept, each followed calendar's changes synced); and in every
  process the outbox relay (:mod:`engine.runtime.relay`), which sends committed sync requests the
  after-commit hand-over could not. Stops cleanly on SIGTERM/SIGINT; a SIGKILLed process loses nothing
  (its unacknowledged message is requeued, its session lease, no longer renewed, expires after
  ``lock_ttl_s``). Started while Redis is down, it waits for Redis with backoff (:func:`wait_for_redis`,
  one log line) instead of exiting.
* :func:`start_embedded` - the default without Redis: a StubBroker and a ``Worker`` thread in this
  process (the web app and ``muster demo`` start it), the task layer started by the composition root
  (:func:`engine.runtime.wiring.start_task_layer`: actors bound, after-commit dispatchers installed), and the
  same three clocks and the outbox relay. Returns an :class:`EmbeddedWorker` with ``join()`` (wait until
  the queue is drained) and ``stop()``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import FrameType

import dramatiq
from sqlalchemy.engine import Engine

from engine.feed import run as feed_run
from engine.lifecycle.run import periodic_pass
from engine.runtime import logs, metrics, probes
from engine.runtime.actors import BACKGROUND_QUEUE, QUEUE, Tasks, redis_queue_depth
from engine.runtime.broker import build_broker
from engine.runtime.context import Runtime
from engine.runtime.relay import Relay, redis_lost_data
from engine.runtime.wiring import (
    SyncExtensions,
    build_runtime,
    lifecycle_for,
    start_task_layer,
    stop_task_layer,
)
from engine.runtime.worker_health import WorkerHealthServer
from engine.settings import ConfigError, Settings
from engine.store.unit_of_work import current_dispatcher
from engine.sync.strays import sweep_runtime_strays
from engine.sync.sweep import enqueue_due_retries, sweep_changes
from engine.webhooks.delivery import hand_over_due, prune_log

log = logging.getLogger(__name__)

#: Longest delay of a clock's first pass after a worker starts (then every interval). The drift sweep
#: is the exception: its first pass comes one full ``sweep_interval_s`` after start-up, since what was
#: committed while no worker ran is in the outbox, which the relay sends at once.
FIRST_SWEEP_DELAY_S = 30.0
#: How long stopping the embedded worker waits for a clock's pass that is under way.
CLOCK_STOP_TIMEOUT_S = 30.0
#: Passes of the webhook clock between two prunes of the delivery log (about ten minutes).
WEBHOOK_PRUNE_EVERY = 600
#: Seconds between two passes of the webhook delivery clock (due retries, lost hand-overs).
WEBHOOK_CLOCK_S = 1.0
#: Longest interval of the retry clock (it runs every ``meet_retry_min_s`` when that is shorter).
RETRY_CLOCK_MAX_S = 15
#: dramatiq's poll interval for new messages (ms); short so delayed messages start close to their eta.
WORKER_POLL_MS = 100
#: Seconds one start-up PING waits for Redis to answer.
REDIS_CHECK_TIMEOUT_S = 3.0
#: Port of a worker command's /metrics, /livez, /readyz unless configured (MUSTER_WORKER_PORT, --metrics-port).
DEFAULT_HEALTH_PORT = 9465
#: Longest pause between two start-up PINGs while Redis is down.
MAX_REDIS_BACKOFF_S = 30.0


class _Periodic(threading.Thread):
    """Runs ``job(runtime)`` every ``interval_s`` while the worker lives, one process at a time.

    Each clock has its own lock key, so the drift sweep and the Directory scan never wait for each other
    (a 15-minute sweep does not delay noticing a suspended organizer).
    """

    def __init__(
        self,
        tasks: Tasks,
        interval_s: float,
        *,
        name: str,
        job: Callable[[Runtime], None],
        first_delay_s: float | None = None,
    ) -> None:
        super().__init__(name=f"muster-{name}", daemon=True)
        self._tasks = tasks
        self._interval = interval_s
        self._first = min(interval_s, FIRST_SWEEP_DELAY_S) if first_delay_s is None else first_delay_s
        self._lock_key = name
        self._job = job
        self._halt = threading.Event()

    def run(self) -> None:
        # The first pass soon after start-up (see FIRST_SWEEP_DELAY_S); then periodic.
        wait = self._first
        while not self._halt.wait(wait):
            wait = self._interval
            rt = self._tasks.runtime
            token = rt.lock.acquire(self._lock_key, max(1.0, self._interval * 0.9))
            if token is None:
                continue  # another process ran this clock's pass in this interval
            try:
                self._job(rt)
            except Exception:  # retried next interval
                log.exception("%s failed", self._lock_key)

    def stop(self) -> None:
        self._halt.set()


def _sync_feeds(rt: Runtime) -> tuple[int, int, int]:
    assert rt.feeds is not None
    done = feed_run.sync_all(rt.engine, rt.feeds)
    return done.calendars, done.pages, done.noted


def _broker_lost(tasks: Tasks, settings: Settings) -> Callable[[], bool] | None:
    """The relay's "did the broker lose its data" check: Redis only (an in-process broker cannot)."""
    client = getattr(tasks.broker, "client", None)
    if client is None or not settings.redis_url:
        return None
    return redis_lost_data(client, settings.redis_namespace)


def retry_clock_s(settings: Settings) -> int:
    """How often the retry clock looks for due Meet/room retries: often enough for the shortest backoff."""
    return max(1, min(settings.meet_retry_min_s, RETRY_CLOCK_MAX_S))


def _clocks(tasks: Tasks, settings: Settings) -> list[_Periodic | Relay]:
    """The worker's clocks: the drift sweep, the organizer lifecycle pass (Directory scan), the retry
    clock (:func:`engine.sync.sweep.enqueue_due_retries`), the webhook delivery clock
    (:func:`engine.webhooks.delivery.hand_over_due`) and the outbox relay (every process)."""

    def drift_sweep(rt: Runtime) -> None:
        # by changes: each followed calendar's changes, then only the sessions that need a reconcile; a
        # stale "scheduled" marker (its message lost) never makes the sweep skip a session
        report = sweep_changes(
            rt.engine,
            lambda sid: tasks.enqueue(sid, take_over_stale=True, background=True),
            sync_feeds=lambda: _sync_feeds(rt),
        )
        log.info(
            "drift sweep: %d calendar(s), %d listing call(s), %d changed in Google; enqueued %d session(s) "
            "(%d already scheduled)",
            report.calendars,
            report.pages,
            report.noted,
            report.enqueued,
            report.coalesced,
        )
        # Muster's events no binding names
        sweep_runtime_strays(rt, lambda sid: tasks.enqueue(sid, coalesce=False, background=True))

    def feed_clock(rt: Runtime) -> None:
        assert rt.feeds is not None
        feed_run.clock_pass(rt.engine, rt.feeds, rt.settings, tasks.enqueue_feed)

    def directory_scan(rt: Runtime) -> None:
        periodic_pass(rt.engine, lifecycle_for(rt))  # organizer lifecycle: scan, then due transfers

    def due_retries(rt: Runtime) -> None:
        if n := enqueue_due_retries(rt.engine, lambda sid: tasks.enqueue(sid)):
            log.info("retry clock enqueued %d session(s) whose Meet link or room is due for another try", n)

    passes = [0]

    def webhook_clock(rt: Runtime) -> None:
        hand_over_due(rt.engine, tasks.send_webhook)
        passes[0] += 1
        if passes[0] % WEBHOOK_PRUNE_EVERY != 1:  # soon after start, then every WEBHOOK_PRUNE_EVERY passes
            return
        if n := prune_log(rt.engine, retention_days=rt.settings.webhook_retention_days):
            log.info("webhook delivery log: %d deliveries older than %d days deleted", n,
                     rt.settings.webhook_retention_days)

    clocks: list[_Periodic | Relay] = [
        _Periodic(
            tasks, settings.sweep_interval_s, name="sweep", job=drift_sweep, first_delay_s=settings.sweep_interval_s
        ),
        _Periodic(tasks, settings.directory_scan_interval_s, name="directory-scan", job=directory_scan),
        _Periodic(tasks, settings.feed_poll_s, name="feed", job=feed_clock),
        _Periodic(tasks, retry_clock_s(settings), name="retry-clock", job=due_retries),
        _Periodic(tasks, WEBHOOK_CLOCK_S, name="webhook-clock", job=webhook_clock, first_delay_s=WEBHOOK_CLOCK_S),
        Relay(
            tasks.runtime.engine,
            lambda sid: tasks.enqueue(sid, take_over_stale=True),
            active=lambda: current_dispatcher() == tasks.dispatch,  # this process's task layer, still
            broker_lost=_broker_lost(tasks, settings),
        ),
    ]
    for clock in clocks:
        clock.start()
    return clocks


@dataclass
class EmbeddedWorker:
    tasks: Tasks
    worker: dramatiq.Worker
    clocks: list[_Periodic | Relay]

    @property
    def runtime(self) -> Runtime:
        return self.tasks.runtime

    def join(self, timeout_s: float = 60.0) -> None:
        """Wait until no message is queued, delayed or running (raises ``TimeoutError``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the embedded sync worker did not drain its queue in time")
            try:
                for queue in (QUEUE, BACKGROUND_QUEUE):
                    self.tasks.broker.join(queue, timeout=max(1, int((deadline - time.monotonic()) * 1000)))
            except dramatiq.errors.QueueJoinTimeout:
                raise TimeoutError("the embedded sync worker did not drain its queue in time") from None
            self.worker.join()
            if self.tasks.queue_depth() == 0:
                return

    def stop(self) -> None:
        for clock in self.clocks:
            clock.stop()
        for clock in self.clocks:
            clock.join(timeout=CLOCK_STOP_TIMEOUT_S)  # let a pass under way finish its writes
        self.worker.stop(timeout=5000)
        stop_task_layer()


def start_embedded(
    settings: Settings,
    *,
    engine: Engine | None = None,
    threads: int = 2,
    extensions: SyncExtensions | None = None,
    timeout_s: float = 30.0,
) -> EmbeddedWorker:
    """Start the in-process worker (StubBroker) and install the after-commit dispatcher."""
    embedded = replace(settings, redis_url=None)
    runtime = build_runtime(embedded, engine=engine, extensions=extensions, timeout_s=timeout_s)
    broker = build_broker(embedded)
    tasks = start_task_layer(broker, runtime)  # announced departures, suspensions: transfer at once
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_POLL_MS)
    worker.start()
    clocks = _clocks(tasks, settings)
    return EmbeddedWorker(tasks=tasks, worker=worker, clocks=clocks)


def producer(settings: Settings, *, engine: Engine | None = None) -> Tasks:
    """Tasks bound to the Redis broker for processes that only *send* (the web app with Redis)."""
    runtime = build_runtime(settings, engine=engine)
    return start_task_layer(build_broker(settings), runtime)  # the worker processes run the transfers


def _serve(settings: Settings, threads: int, heartbeat_timeout_ms: int) -> None:
    logs.configure(settings.log_format, logging.INFO)  # a worker logs what it does, whatever the CLI default
    runtime = build_runtime(settings)
    broker = build_broker(settings, heartbeat_timeout_ms=heartbeat_timeout_ms)
    tasks = start_task_layer(broker, runtime)  # transfers detected during reconciles run at once
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_POLL_MS)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.start()
    clocks = _clocks(tasks, settings)
    log.info("muster worker ready: %d thread(s) on %s (platform changes) and %s (background)", threads, QUEUE,
             BACKGROUND_QUEUE)
    stop.wait()
    log.info("muster worker stopping")
    for clock in clocks:
        clock.stop()
    worker.stop(timeout=10_000)
    broker.close()
    metrics.mark_process_dead()


def _wait_until(
    problem: Callable[[], str | None], waiting: str, ready: str, stop: threading.Event, max_backoff_s: float
) -> bool:
    """Retry ``problem()`` (None = fine) with doubling backoff; one log line to wait, one when it is fine."""
    reason = problem()
    if reason is None:
        return True
    started = time.monotonic()
    log.warning("%s (%s): retrying with backoff up to %.0fs", waiting, reason, max_backoff_s)
    backoff = 0.5
    while not stop.wait(backoff):
        if problem() is None:
            log.warning("%s after %.1fs; starting", ready, time.monotonic() - started)
            return True
        backoff = min(max_backoff_s, backoff * 2)
    return False


def wait_for_redis(
    url: str, stop: threading.Event | None = None, *, max_backoff_s: float = MAX_REDIS_BACKOFF_S
) -> bool:
    """Block until Redis at ``url`` answers a PING, backing off between tries (doubling up to
    ``max_backoff_s``). Says so in one log line when it has to wait, and one when Redis is back.

    Returns False if ``stop`` was set while waiting (SIGTERM during start-up), True once Redis answers.
    """
    return _wait_until(
        lambda: probes.ping_redis(url, REDIS_CHECK_TIMEOUT_S),
        f"waiting for Redis at {probes.redacted_redis_url(url)}; start Redis or correct MUSTER_REDIS_URL",
        "Redis is reachable",
        stop or threading.Event(),
        max_backoff_s,
    )


def wait_for_schema(settings: Settings, stop: threading.Event, *, max_backoff_s: float = MAX_REDIS_BACKOFF_S) -> bool:
    """Block until the database is reachable and migrated (:func:`engine.runtime.probes.database`): a worker
    started before ``muster db upgrade`` says "run `muster db upgrade`" once instead of failing every message."""
    from engine.store.unit_of_work import get_engine

    engine = get_engine(settings)

    def problem() -> str | None:
        probe = probes.database(engine)
        return None if probe.ok else probe.detail

    return _wait_until(problem, "waiting for the database", "the database is ready", stop, max_backoff_s)


def parse_args(args: Sequence[str]) -> argparse.Namespace:
    """``muster worker`` options: ``--processes N --threads N --heartbeat-timeout-ms N``."""
    parser = argparse.ArgumentParser(prog="muster worker", description="Run sync workers on the Redis queue.")
    parser.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="threads per process (default 4)")
    parser.add_argument(
        "--heartbeat-timeout-ms",
        type=int,
        default=60_000,
        help="after this long without a heartbeat a dead worker's messages are requeued",
    )
    parser.add_argument(
        "--metrics-host", default=None, help="interface of /metrics, /livez, /readyz (MUSTER_WORKER_HOST, 127.0.0.1)"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="port of /metrics, /livez, /readyz (MUSTER_WORKER_PORT, "
        "9465; 0: any free port)"
    )
    ns = parser.parse_args(list(args))
    if ns.metrics_port is not None and not 0 <= ns.metrics_port <= 65535:
        parser.error("--metrics-port must be from 0 to 65535")
    for name in ("processes", "threads", "heartbeat_timeout_ms"):
        if getattr(ns, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return ns


def run(
    settings: Settings,
    args: Sequence[str] | None = None,
    *,
    processes: int | None = None,
    threads: int | None = None,
    heartbeat_timeout_ms: int | None = None,
) -> int:
    """``muster worker``: serve the sync queue until SIGTERM/SIGINT. Needs ``MUSTER_REDIS_URL``.

    ``args`` are the command line's extra arguments (see :func:`parse_args`); keywords override them.
    """
    ns = parse_args(args or ())
    processes = ns.processes if processes is None else processes
    threads = ns.threads if threads is None else threads
    heartbeat_timeout_ms = ns.heartbeat_timeout_ms if heartbeat_timeout_ms is None else heartbeat_timeout_ms
    if settings.redis_url is None:
        raise SystemExit(
            "muster worker needs MUSTER_REDIS_URL (e.g. redis://127.0.0.1:6379/0); without Redis "
            "the web app runs the worker in-process (`muster serve`)"
        )
    waiting = threading.Event()

    def stop_waiting(_signum: int, _frame: FrameType | None) -> None:
        waiting.set()

    signal.signal(signal.SIGTERM, stop_waiting)
    signal.signal(signal.SIGINT, stop_waiting)
    if not wait_for_redis(settings.redis_url, waiting):
        log.warning("muster worker stopped before Redis became reachable")
        return 0
    metrics.configure(settings.redis_url, settings.redis_namespace)
    host = ns.metrics_host or settings.worker_health_host
    port = settings.worker_health_port if ns.metrics_port is None else ns.metrics_port
    with metrics.command_folder(settings.metrics_dir):
        health = _health_server(settings, host, port)
        health.start()  # answers while the worker waits for the migrations, too
        try:
            if not wait_for_schema(settings, waiting):
                log.warning("muster worker stopped before the database was migrated")
                return 0
            return _run_processes(settings, processes, threads, heartbeat_timeout_ms)
        finally:
            health.stop()


def _health_server(settings: Settings, host: str, port: int | None) -> WorkerHealthServer:
    """The endpoint on ``port``; with no port configured, :data:`DEFAULT_HEALTH_PORT` or else any free one."""
    namespace = settings.redis_namespace

    def depth() -> int | None:
        return redis_queue_depth(settings.redis_url, namespace)

    try:
        return WorkerHealthServer(settings, host, DEFAULT_HEALTH_PORT if port is None else port, queue_depth=depth)
    except OSError as exc:
        if port is not None:
            raise ConfigError(
                "MUSTER_WORKER_PORT",
                f"cannot serve the worker's health endpoint on {host}:{port} ({exc.strerror or exc})",
                "give each worker command on a machine its own --metrics-port (or 0 for any free port)",
            ) from None
    server = WorkerHealthServer(settings, host, 0, queue_depth=depth)
    log.warning("port %d is taken (another worker command?): health and metrics on %s", DEFAULT_HEALTH_PORT, server.url)
    return server


def _run_processes(settings: Settings, processes: int, threads: int, heartbeat_timeout_ms: int) -> int:
    if processes <= 1:
        _serve(settings, threads, heartbeat_timeout_ms)
        return 0
    ctx = multiprocessing.get_context("spawn")
    children = [
        ctx.Process(target=_serve, args=(settings, threads, heartbeat_timeout_ms), name=f"muster-worker-{i}")
        for i in range(processes)
    ]
    for child in children:
        child.start()

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()
        metrics.mark_process_dead(child.pid)
    return max((c.exitcode or 0) for c in children)
