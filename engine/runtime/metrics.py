"""Sync metrics as Prometheus series (prometheus_client), and the per-tenant figures of the admin Health page.

Where it sits: the reconciler (:mod:`engine.sync.reconciler`), the actors and their broker middleware
(:mod:`engine.runtime.actors`, :mod:`engine.runtime.message_metrics`), the quota limiter
(:mod:`engine.runtime.ratelimit`), the sweep and the connector's call observer record here. ``muster serve``
exposes them on ``/metrics`` (:mod:`engine.api.routes.health`), each ``muster worker`` on its own port
(:mod:`engine.runtime.worker_health`); the Health page reads the same series through :func:`snapshot`.

Processes: ``muster serve --workers N`` and ``muster worker --processes N`` run several processes behind one
port, so those commands call :func:`enable_multiprocess` first: every process writes its values to files
in one folder (prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``) and the endpoint
adds them up. Elsewhere (tests, ``muster reconcile``) the series live in this process's registry.

Labels are bounded: ``tenant`` is the tenant's slug (``none`` outside a tenant's work), ``method`` a Google
API method, ``status`` an HTTP status, never an email, a session id or a message. The figures
per Google identity the Health page shows are therefore not Prometheus series: they are kept per tenant
(:class:`IdentityUse`: in Redis, one hash per tenant that expires a week after its last write; in memory
when embedded).

Series (``_total`` is added to counters by the exposition format):

==============================================  =========================================================
``muster_reconciles_total{tenant,outcome}``     reconciles by outcome (success, requeue_after, lock_busy,
                                                retryable_error, permanent_error, auth_error, config_error)
``muster_reconcile_duration_seconds{tenant}``   histogram of one reconcile, load to record
``muster_queue_wait_seconds{actor}``            histogram: from when a message was due (sent, or its delay
                                                over) to when a worker started it
``muster_google_requests_total{tenant,method,status,outcome}``  every Google API request: ``method`` the API
                                                method (``calendar.events.insert``, ``directory.users.list``),
                                                ``status`` the HTTP status (``200``, ``404``, ``429``, ...) or
                                                ``timeout`` / ``connection`` / ``token_error`` / ``bad_response``,
                                                ``outcome`` ``ok`` or the error class
``muster_quota_waits_total{tenant,bucket,outcome}``     quota slot waits: ``slept`` inline or ``deferred``
                                                (re-enqueued); ``bucket`` is ``user`` or ``project``
``muster_reconcile_retries_total{tenant,error_class}``  retries scheduled after a retryable error
``muster_errors_total{tenant,error_class}``     Google requests that failed, by error class
``muster_sync_ops_total{tenant,op}``            what the executor did (created, updated, deleted, ...)
``muster_enqueues_total{kind,result}``          reconcile/transfer requests ``sent`` or ``coalesced``
``muster_events_total{event}``                  other engine events by their dotted name in the code
``muster_messages_total{actor,outcome}``        broker messages handled: ok, retry, error
``muster_messages_in_progress{actor}``          messages being handled now
``muster_worker_last_message_timestamp_seconds`` when a worker last finished a message
``muster_sweep_last_run_timestamp_seconds``     when the drift sweep last ran; ``muster_sweep_enqueued_sessions``
``muster_push_notifications_total{tenant,result}``  Google push notifications by what Muster did with them
``muster_push_channel_ops_total{tenant,op,outcome}``  push channel watch / renew / stop calls
``muster_change_feed_reads_total{tenant,outcome}``    incremental reads of a calendar's changes
``muster_webhook_deliveries_total{tenant,event_type,outcome}``  webhook delivery attempts to the platform
``muster_webhook_delivery_duration_seconds{tenant}``  histogram of one delivery attempt
``muster_sessions{tenant,sync_status}``         sessions by sync status (``muster serve`` only, from the DB)
``muster_queue_depth``                          messages ready or delayed on the sync queue
``muster_build_info{version}``                  always 1
==============================================  =========================================================

Stable interface (kept from the counter store it replaces): ``configure(redis_url, namespace)``,
``tenant_scope(tenant_id, slug)``, ``incr(name)``, ``record_reconcile(outcome)``,
``record_call(identity, method, outcome)``, ``set_value(name, v)``, ``record_push_notification(result)``,
``record_push_channel(op, outcome)``, ``record_change_feed_read(outcome)``,
``record_webhook_delivery(event_type, outcome, seconds)``, ``snapshot(tenant_id, slug) -> dict``
(keys ``reconcile.<outcome>``, ``google.<method>.<status>``, ``google.calls``, ``google.writes``,
``error.<class>``, ``ops.<op>``, ``enqueue.<result>``, ``push.<result>``, ``webhook.<outcome>``,
``identity.<email>.calls|errors``, ``sweep.last_at``,
``sweep.enqueued``), ``reset()`` (tests).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from engine import version
from engine.runtime.deferred import Flusher

log = logging.getLogger(__name__)

#: prometheus_client's switch to multiprocess mode (its variable, not a Muster setting).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Label value for work done outside any tenant (a busy lock, a missing session).
NO_TENANT = "none"
#: Methods that write (counted as ``google.writes``).
WRITE_METHODS = frozenset({"insert", "patch", "delete", "move"})
#: How long a tenant's per-identity figures live after their last write.
IDENTITY_USE_TTL_S = 7 * 86_400
#: How often the per-identity figures counted in memory are written to Redis.
IDENTITY_USE_FLUSH_S = 1.0
#: Seconds the Health page waits for one worker's ``/metrics``.
SCRAPE_TIMEOUT_S = 1.0
#: Reconcile and queue-wait buckets (seconds): a reconcile is a few Google calls; a wait includes backoff.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
WAIT_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
#: Content type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: The tenant whose work is being recorded: (tenant id, label).
_tenant: ContextVar[tuple[str, str] | None] = ContextVar("muster_metrics_tenant", default=None)
#: Tenant id -> slug, as seen by :func:`tenant_scope` in this process (one entry per tenant).
_slugs: dict[str, str] = {}


class _Series:
    """Every metric object, created against ``registry`` (``None`` in multiprocess mode)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        kw: dict[str, Any] = {"registry": registry}
        self.reconciles = Counter(
            "muster_reconciles", "Reconciles by outcome", ["tenant", "outcome"], **kw
        )
        self.duration = Histogram(
            "muster_reconcile_duration_seconds", "Duration of one reconcile", ["tenant"],
            buckets=DURATION_BUCKETS, **kw,
        )
        self.queue_wait = Histogram(
            "muster_queue_wait_seconds", "From when a message was due to when a worker started it", ["actor"],
            buckets=WAIT_BUCKETS, **kw,
        )
        self.google = Counter(
            "muster_google_requests", "Google API requests by API method, HTTP status and outcome",
            ["tenant", "method", "status", "outcome"], **kw,
        )
        self.quota_waits = Counter(
            "muster_quota_waits", "Waits for a quota slot", ["tenant", "bucket", "outcome"], **kw
        )
        self.retries = Counter(
            "muster_reconcile_retries", "Retries scheduled after a retryable error", ["tenant", "error_class"], **kw
        )
        self.errors = Counter("muster_errors", "Failed Google calls by error class", ["tenant", "error_class"], **kw)
        self.ops = Counter("muster_sync_ops", "Executor results by op", ["tenant", "op"], **kw)
        self.enqueues = Counter("muster_enqueues", "Reconcile and transfer requests", ["kind", "result"], **kw)
        self.events = Counter("muster_events", "Other engine events by name (outbox.sent, strays.removed, ...)",
                              ["event"], **kw)
        self.messages = Counter("muster_messages", "Broker messages handled", ["actor", "outcome"], **kw)
        self.in_progress = Gauge(
            "muster_messages_in_progress", "Messages being handled", ["actor"], multiprocess_mode="livesum", **kw
        )
        self.last_message = Gauge(
            "muster_worker_last_message_timestamp_seconds", "When a message was last handled (epoch seconds)",
            multiprocess_mode="max", **kw,
        )
        self.sweep_last = Gauge(
            "muster_sweep_last_run_timestamp_seconds", "When the drift sweep last ran (epoch seconds)",
            multiprocess_mode="max", **kw,
        )
        # Two-way sync: Google's push notifications, the change feed they trigger, and webhooks to the platform.
        self.push = Counter(
            "muster_push_notifications", "Google push notifications received, by what Muster did with them",
            ["tenant", "result"], **kw,
        )
        self.push_channels = Counter(
            "muster_push_channel_ops", "Push channel watch/renew/stop calls by outcome", ["tenant", "op", "outcome"],
            **kw,
        )
        self.feed_reads = Counter(
            "muster_change_feed_reads", "Incremental (sync token) reads of a calendar's changes, by outcome",
            ["tenant", "outcome"], **kw,
        )
        self.webhooks = Counter(
            "muster_webhook_deliveries", "Webhook delivery attempts to the platform, by event type and outcome",
            ["tenant", "event_type", "outcome"], **kw,
        )
        self.webhook_duration = Histogram(
            "muster_webhook_delivery_duration_seconds", "Duration of one webhook delivery attempt", ["tenant"],
            buckets=DURATION_BUCKETS, **kw,
        )
        self.sweep_enqueued = Gauge(
            "muster_sweep_enqueued_sessions", "Sessions the last drift sweep enqueued",
            multiprocess_mode="mostrecent", **kw,
        )


_lock = threading.Lock()
_registry: CollectorRegistry | None = None
_series: _Series | None = None


def multiprocess_dir() -> Path | None:
    raw = os.environ.get(MULTIPROC_ENV)
    return Path(raw) if raw else None


def series() -> _Series:
    """The metric objects of this process (created on first use, in the mode the process runs in)."""
    global _registry, _series
    if _series is None:
        with _lock:
            if _series is None:
                _registry = None if multiprocess_dir() else CollectorRegistry()
                _series = _Series(_registry)
    return _series


def enable_multiprocess(directory: Path) -> None:
    """Make this process and the processes it starts share their metrics through files in ``directory``.

    Called by ``muster serve`` and ``muster worker`` before they start anything; the folder must be empty
    and private to one command (it is a fresh temporary folder unless ``MUSTER_METRICS_DIR`` names one).
    """
    global _registry, _series
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # prometheus_client reads the variable once, at import
    with _lock:
        _registry, _series = None, None


@contextlib.contextmanager
def command_folder(folder: Path | None) -> Iterator[Path]:
    """Multiprocess mode for one command (``muster serve``/``worker``) and the processes it starts: in
    ``folder`` (``MUSTER_METRICS_DIR``), else in a fresh temporary folder removed at the end."""
    chosen = folder or Path(tempfile.mkdtemp(prefix="muster-metrics-"))
    enable_multiprocess(chosen)
    try:
        yield chosen
    finally:
        if folder is None:
            shutil.rmtree(chosen, ignore_errors=True)


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a stopped process's live gauges (multiprocess mode only)."""
    folder = multiprocess_dir()
    if folder is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), str(folder))  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------------------------------------- recording
@contextlib.contextmanager
def tenant_scope(tenant_id: uuid.UUID | str | None, slug: str | None = None) -> Iterator[None]:
    """Record everything inside the block for this tenant (label: its slug, else its id)."""
    value = None if tenant_id is None else (str(tenant_id), slug or str(tenant_id))
    if value is not None and slug:
        _slugs[value[0]] = slug
    token = _tenant.set(value)
    try:
        yield
    finally:
        _tenant.reset(token)


def current_tenant() -> str:
    """The tenant label of the work being recorded (``none`` outside a tenant's work)."""
    scope = _tenant.get()
    return scope[1] if scope is not None else NO_TENANT


def record_reconcile(outcome: str) -> None:
    series().reconciles.labels(current_tenant(), outcome).inc()


def observe_reconcile(seconds: float) -> None:
    series().duration.labels(current_tenant()).observe(seconds)


def record_retry(error_class: str) -> None:
    series().retries.labels(current_tenant(), error_class).inc()


def record_quota_wait(bucket: str, outcome: str) -> None:
    """``bucket``: the limiter's bucket key (``user:<email>`` / ``project:<id>``); only its kind is a label."""
    series().quota_waits.labels(current_tenant(), bucket.split(":", 1)[0], outcome).inc()


#: What a Google request's ``status`` label may be besides an HTTP status code (no usable answer came).
NO_ANSWER_STATUSES = frozenset({"timeout", "connection", "token_error", "bad_response", "error"})


def record_request(method: str, status: str, outcome: str) -> None:
    """Observer of every Google API request (:func:`connectors.google.clients.observe_requests`, installed by
    :mod:`engine.runtime.wiring`): ``method`` the API method (``calendar.events.insert``), ``status`` the HTTP
    status (``200``, ``412``, ...) or one of :data:`NO_ANSWER_STATUSES`, ``outcome`` ``ok`` or the error class."""
    s, tenant = series(), current_tenant()
    if not (status.isdigit() and len(status) == 3) and status not in NO_ANSWER_STATUSES:
        status = "error"
    s.google.labels(tenant, _bounded(method), status, _bounded(outcome)).inc()
    if outcome != "ok":
        s.errors.labels(tenant, _bounded(outcome)).inc()


def record_call(identity: str, method: str, outcome: str) -> None:
    """Observer for :class:`connectors.google.calendar.GoogleCalendar` (``on_call``): the per-identity figures
    of the Health page (the request itself is counted by :func:`record_request`)."""
    scope = _tenant.get()
    if scope is not None:
        _identity_use.add(scope[0], identity, failed=outcome not in ("ok", "not_found"))


#: What :func:`incr` accepts as an ``event`` label: a dotted name written in the code, never data.
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def incr(name: str, by: int = 1) -> None:
    """``enqueue.<sent|coalesced|transfer_sent|transfer_coalesced>``, ``ops.<op>``, or any other dotted
    event name of the code (``outbox.sent``, ``strays.removed``, ...) as ``muster_events_total{event}``.
    Never raises (metrics never break a sync): a name that is not a plain dotted name is logged and dropped."""
    group, _, what = name.partition(".")
    if group == "enqueue":
        kind, _, result = what.rpartition("_")
        series().enqueues.labels(kind or "reconcile", result).inc(by)
    elif group == "ops":
        series().ops.labels(current_tenant(), what).inc(by)
    elif _EVENT_NAME.match(name):
        series().events.labels(name).inc(by)
    else:
        log.warning("metrics: %r is not an event name; not counted", name)


def set_value(name: str, value: int) -> None:
    """``sweep.last_at`` (epoch seconds) or ``sweep.enqueued``."""
    if name == "sweep.last_at":
        series().sweep_last.set(value)
    elif name == "sweep.enqueued":
        series().sweep_enqueued.set(value)
    else:
        raise ValueError(f"unknown gauge {name!r}")


#: A label value written by the code (``accepted``, ``session.changed_in_google``): never data.
_LABEL_VALUE = re.compile(r"^[a-z][a-z0-9_.]{0,47}$")


def _bounded(value: str) -> str:
    """``value`` when it is a plain lower-case name, else ``other`` (a label never carries data)."""
    if _LABEL_VALUE.match(value):
        return value
    log.warning("metrics: %r is not a label value; counted as 'other'", value[:60])
    return "other"


def record_push_notification(result: str) -> None:
    """One push notification from Google (``POST /google/push``), by ``result``: the verdict of
    :func:`engine.feed.plan.push_verdict`: ``sync`` (a read of the calendar's changes was requested),
    ``ignore`` (a channel's first ``sync`` message), ``stop`` (a stale channel, stopped after the answer),
    ``forged`` (the channel token does not verify), ``bad`` (required headers missing)."""
    series().push.labels(current_tenant(), _bounded(result)).inc()


def record_push_channel(op: str, outcome: str) -> None:
    """A push channel call: ``op`` ``watch`` | ``renew`` | ``stop``; ``outcome`` ``ok`` or an error class."""
    series().push_channels.labels(current_tenant(), _bounded(op), _bounded(outcome)).inc()


def record_change_feed_read(outcome: str) -> None:
    """One incremental read of a calendar's changes: ``changes``, ``no_changes``, ``token_expired`` (410: a
    full re-read follows) or an error class."""
    series().feed_reads.labels(current_tenant(), _bounded(outcome)).inc()


def record_webhook_delivery(event_type: str, outcome: str, seconds: float | None = None) -> None:
    """One delivery attempt of a webhook: ``event_type`` as emitted (``session.changed_in_google``, ...),
    ``outcome`` ``delivered`` | ``retry`` (refused or unreachable, tried again later) | ``failed`` (given up) |
    ``parked`` (no secret to sign with: kept, sent once a secret is saved);
    ``seconds``: how long the attempt took."""
    s, tenant = series(), current_tenant()
    s.webhooks.labels(tenant, _bounded(event_type), _bounded(outcome)).inc()
    if seconds is not None:
        s.webhook_duration.labels(tenant).observe(max(0.0, seconds))


def message_started(actor: str, waited_s: float | None) -> None:
    s = series()
    if waited_s is not None:
        s.queue_wait.labels(actor).observe(max(0.0, waited_s))
    s.in_progress.labels(actor).inc()


def message_finished(actor: str, outcome: str) -> None:
    s = series()
    s.in_progress.labels(actor).dec()
    s.messages.labels(actor, outcome).inc()
    s.last_message.set(time.time())


# ---------------------------------------------------------------------------------------------- per identity
class IdentityUse:
    """Google calls and errors per acting identity, per tenant: in Redis (shared) or in memory.

    With Redis the counts are added up in memory and written in one pipeline about every
    :data:`IDENTITY_USE_FLUSH_S` (:class:`engine.runtime.deferred.Flusher`), not once per Google call: the
    Health page's per-identity figures lag by about that much, and a reconcile makes no Redis round trip
    for them."""

    def __init__(self, client: Any = None, prefix: str = "muster:identity-use:") -> None:
        self._client = client
        self._prefix = prefix
        self._local: dict[str, Tally[str]] = {}
        self._unsent: dict[str, Tally[str]] = {}
        self._lock = threading.Lock()
        self._flusher = Flusher(self.flush, every_s=IDENTITY_USE_FLUSH_S, name="identity-use")

    def add(self, tenant_id: str, identity: str, *, failed: bool) -> None:
        fields = [f"{identity}.calls"] + ([f"{identity}.errors"] if failed else [])
        with self._lock:
            tally = (self._unsent if self._client is not None else self._local).setdefault(tenant_id, Tally())
            for f in fields:
                tally[f] += 1
        if self._client is not None:
            self._flusher.poke()

    def flush(self) -> None:
        """Write the counts added since the last flush to Redis (one pipeline); kept locally if it is down."""
        with self._lock:
            unsent, self._unsent = self._unsent, {}
        if not unsent or self._client is None:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for tenant_id, tally in unsent.items():
                for f, n in tally.items():
                    pipe.hincrby(self._prefix + tenant_id, f, n)
                pipe.expire(self._prefix + tenant_id, IDENTITY_USE_TTL_S)
            pipe.execute()
        except Exception:  # figures never break a sync: shown from this process's memory instead
            log.debug("identity use: Redis unavailable", exc_info=True)
            with self._lock:
                for tenant_id, tally in unsent.items():
                    self._local.setdefault(tenant_id, Tally()).update(tally)

    def of(self, tenant_id: str) -> dict[str, int]:
        out: Tally[str] = Tally()
        if self._client is not None:
            try:
                raw = self._client.hgetall(self._prefix + tenant_id)
                out.update({(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()})
            except Exception:
                log.debug("identity use: Redis unavailable", exc_info=True)
        with self._lock:
            out.update(self._local.get(tenant_id, Tally()))
            out.update(self._unsent.get(tenant_id, Tally()))
        return dict(out)

    def clear(self) -> None:
        with self._lock:
            self._local.clear()
            self._unsent.clear()


_identity_use = IdentityUse()
_redis: Any = None
_namespace = "muster"


def configure(redis_url: str | None, namespace: str = "muster") -> None:
    """Keep per-identity figures in Redis (shared by every process) when ``redis_url`` is set."""
    global _identity_use, _redis, _namespace
    _redis = None
    if redis_url:
        import redis  # local import: embedded mode never needs the package loaded

        _redis = redis.Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    _namespace = namespace
    _identity_use.flush()  # counts noted against the previous configuration
    _identity_use = IdentityUse(_redis, f"{namespace}:identity-use:")


def reset() -> None:
    """Forget every value of this process (tests; single-process mode only)."""
    global _registry, _series
    with _lock:
        _registry, _series = None, None
    _identity_use.clear()


# ---------------------------------------------------------------------------------------------- exposition
class _BuildInfo(Collector):
    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily("muster_build_info", "The running Muster version", labels=["version"])
        info.add_metric([version()], 1)
        yield info


class _Local(Collector):
    """This process's own registry (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        series()
        if _registry is not None:
            yield from _registry.collect()


def sessions_collector(count: Callable[[], Iterable[tuple[str, str, int]]]) -> Collector:
    """``muster_sessions{tenant,sync_status}`` from ``count() -> (slug, status, n)`` (read per scrape)."""

    class _Sessions(Collector):
        def collect(self) -> Iterable[Metric]:
            family = GaugeMetricFamily("muster_sessions", "Sessions by sync status", labels=["tenant", "sync_status"])
            try:
                for slug, status, n in count():
                    family.add_metric([slug, status], n)
            except Exception as exc:  # a scrape never fails because the database is down: the gauge is absent
                log.warning("metrics: cannot count sessions: %s", str(exc).splitlines()[0] if str(exc) else exc)
                return
            yield family

    return _Sessions()


def outbox_collector(read: Callable[[], Any]) -> Collector:
    """``muster_outbox_unsent``, ``muster_outbox_waiting``, ``muster_outbox_oldest_unsent_seconds`` from
    ``read() -> engine.store.outbox.Backlog`` (read per scrape; absent while the database is down)."""

    class _Outbox(Collector):
        def collect(self) -> Iterable[Metric]:
            try:
                backlog = read()
            except Exception as exc:
                log.warning("metrics: cannot read the outbox: %s", str(exc).splitlines()[0] if str(exc) else exc)
                return
            yield GaugeMetricFamily(
                "muster_outbox_unsent", "Sync requests committed but not handed to the broker", value=backlog.unsent
            )
            yield GaugeMetricFamily(
                "muster_outbox_waiting", "Sync requests whose session is not shown synced yet", value=backlog.waiting
            )
            yield GaugeMetricFamily(
                "muster_outbox_oldest_unsent_seconds", "Age of the oldest unsent sync request (0 when none)",
                value=backlog.oldest_unsent_s or 0.0,
            )

    return _Outbox()


def queue_depth_collector(depth: Callable[[], int | None]) -> Collector:
    class _Depth(Collector):
        def collect(self) -> Iterable[Metric]:
            n = depth()
            if n is not None and n >= 0:
                yield GaugeMetricFamily("muster_queue_depth", "Messages ready or delayed on the sync queue", value=n)

    return _Depth()


def registry_for_scrape(*extra: Collector) -> CollectorRegistry:
    """Everything this process (and its siblings, in multiprocess mode) recorded, plus ``extra``."""
    registry = CollectorRegistry(auto_describe=False)
    folder = multiprocess_dir()
    if folder is not None:
        MultiProcessCollector(registry, str(folder))  # type: ignore[no-untyped-call]
    else:
        registry.register(_Local())
    registry.register(_BuildInfo())
    for collector in extra:
        registry.register(collector)
    return registry


def exposition(*extra: Collector) -> bytes:
    """The text exposition format of :func:`registry_for_scrape`."""
    return generate_latest(registry_for_scrape(*extra))


# ---------------------------------------------------------------------------------------------- reading back
@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _samples(families: Iterable[Metric]) -> list[Sample]:
    return [Sample(s.name, dict(s.labels), float(s.value)) for f in families for s in f.samples]


def local_samples() -> list[Sample]:
    return _samples(registry_for_scrape().collect())


def parse(text: str) -> list[Sample]:
    return _samples(text_string_to_metric_families(text))


def worker_key_prefix(namespace: str) -> str:
    return f"{namespace}:worker:"


def registered_workers() -> list[dict[str, Any]]:
    """The ``muster worker`` processes that announced their health endpoint in Redis (none when embedded)."""
    if _redis is None:
        return []
    out: list[dict[str, Any]] = []
    try:
        for key in _redis.scan_iter(match=worker_key_prefix(_namespace) + "*", count=100):
            raw = _redis.get(key)
            if raw:
                with contextlib.suppress(ValueError):
                    out.append(json.loads(raw))
    except Exception as exc:
        log.warning("metrics: cannot list workers: %s", exc)
    return sorted(out, key=lambda w: str(w.get("url", "")))


def _scrape(url: str) -> list[Sample]:
    import httpx

    try:
        resp = httpx.get(url.rstrip("/") + "/metrics", timeout=SCRAPE_TIMEOUT_S)
        resp.raise_for_status()
        return parse(resp.text)
    except Exception as exc:
        log.warning("metrics: worker %s did not answer: %s", url, exc)
        return []


def remote_samples() -> list[Sample]:
    """Every registered worker's ``/metrics``, read in parallel (one that does not answer in
    :data:`SCRAPE_TIMEOUT_S` is left out)."""
    urls = [str(w.get("url", "")) for w in registered_workers()]
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(urls))) as pool:
        return [s for part in pool.map(_scrape, urls) for s in part]


def _snapshot_of(samples: Iterable[Sample], tenants: set[str] | None) -> dict[str, int]:
    snap: Tally[str] = Tally()
    gauges: dict[str, int] = {}
    for s in samples:
        tenant = s.labels.get("tenant")
        mine = tenants is None or tenant in tenants
        if s.name == "muster_reconciles_total" and mine:
            snap[f"reconcile.{s.labels['outcome']}"] += int(s.value)
        elif s.name == "muster_google_requests_total" and mine:
            method = s.labels["method"].rpartition(".")[2]
            snap[f"google.{method}.{s.labels['outcome']}"] += int(s.value)
            snap["google.calls"] += int(s.value)
            if method in WRITE_METHODS:
                snap["google.writes"] += int(s.value)
        elif s.name == "muster_errors_total" and mine:
            snap[f"error.{s.labels['error_class']}"] += int(s.value)
        elif s.name == "muster_sync_ops_total" and mine:
            snap[f"ops.{s.labels['op']}"] += int(s.value)
        elif s.name == "muster_push_notifications_total" and mine:
            snap[f"push.{s.labels['result']}"] += int(s.value)
        elif s.name == "muster_webhook_deliveries_total" and mine:
            snap[f"webhook.{s.labels['outcome']}"] += int(s.value)
        elif s.name == "muster_enqueues_total":
            kind = s.labels["kind"]
            snap[f"enqueue.{'' if kind == 'reconcile' else kind + '_'}{s.labels['result']}"] += int(s.value)
        elif s.name == "muster_sweep_last_run_timestamp_seconds" and s.value:
            gauges["sweep.last_at"] = max(gauges.get("sweep.last_at", 0), int(s.value))
        elif s.name == "muster_sweep_enqueued_sessions":
            gauges["sweep.enqueued"] = int(s.value)
    return {**dict(snap), **gauges}


def snapshot(tenant_id: uuid.UUID | str | None = None, slug: str | None = None) -> dict[str, int]:
    """The figures of this process and every registered worker; with ``tenant_id`` only that tenant's
    (plus the deployment-wide enqueue and sweep figures) and its per-identity use."""
    samples = local_samples() + remote_samples()
    tenants = None
    if tenant_id is not None:
        tenants = {str(tenant_id), *(s for s in (slug, _slugs.get(str(tenant_id))) if s)}
    snap = _snapshot_of(samples, tenants)
    snap.setdefault("google.calls", 0)
    snap.setdefault("google.writes", 0)
    for outcome in ("success", "requeue_after", "retryable_error", "permanent_error", "auth_error", "config_error"):
        snap.setdefault(f"reconcile.{outcome}", 0)
    if tenant_id is not None:
        snap.update({f"identity.{k}": v for k, v in _identity_use.of(str(tenant_id)).items()})
    return dict(sorted(snap.items()))
