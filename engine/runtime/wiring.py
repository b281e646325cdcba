"""The composition root: every port, hook and resolver of a process, built from settings with plain imports.

Where it sits: ``runtime``, below the entry points (:mod:`engine.runtime.worker`, :mod:`engine.cli`, the demo,
the web app, the admin UI's services) and above everything it assembles. It is the only engine module that
imports :mod:`connectors.google` (an explicit ``ignore_imports`` in the import-linter contracts of
``pyproject.toml``); every other engine module receives the Google implementation as a parameter typed by its
port (:mod:`connectors.ports`).

What it builds:

* :func:`build_port_factory` - ``Actor -> CalendarPort`` (Google itself, or the emulator by root URL), every
  port wrapped in :class:`~engine.runtime.ratelimit.RateLimitedCalendar` with two buckets: the acting identity
  (whose per-user quota the call is charged to, via ``quotaUser``) and the project (Muster's service account),
  plus the identity's background share that background work must also fit in. It also installs the process's
  pacer (:mod:`connectors.google.pacing`), so the Directory, free/busy, ACL and Data Transfer requests take
  their slots in the same identity and project buckets of the same limiter.
* :func:`build_feed_factory` - ``Actor -> ChangeFeedPort`` for the change feed (:mod:`engine.feed`), paced by the
  same buckets.
* :func:`google_kit` / :func:`lifecycle_kit` - the Google implementations of
  :class:`~connectors.ports.delegation.GoogleKit` and :class:`~connectors.ports.lifecycle.LifecycleKit`;
  :func:`probe_kit` is :func:`google_kit` for the connection check, with the process's pacer installed
  (:func:`install_pacer`) so its probes are paced too.
* :func:`delegation_hooks` - organizer delegation's resolver, observer, auth-error hook and OAuth credentials
  (:class:`~engine.delegation.hooks.DelegationHooks`); :func:`sync_extensions` hands them to the reconciler.
* :func:`build_runtime` - the reconciler with its lock, debouncer and quota limiter (Redis-backed when
  ``settings.redis_url`` is set, shared by every worker process; in-memory when embedded).
* :func:`lifecycle_wiring` / :func:`lifecycle_for` - the organizer lifecycle's transfer services.
* :func:`start_task_layer` / :func:`stop_task_layer` - the actors bound to the process's broker
  (:func:`engine.runtime.actors.bind`) and the after-commit dispatchers installed (the unit of work's and the
  lifecycle's).

Every Google request of the process is observed from here too (:func:`connectors.google.clients.observe_requests`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy.engine import Engine
from sqlmodel import Session

import connectors.google.kit as google_delegation_kit
import connectors.google.lifecycle_kit as google_lifecycle_kit
import connectors.google.pacing as google_pacing
import connectors.google.sign_in as google_sign_in_kit
from connectors.google.calendar import GoogleCalendarFactory
from connectors.google.clients import observe_requests
from connectors.google.credentials import CompositeSource, ServiceAccountSource, token_uri_for
from connectors.google.feed import GoogleChangeFeedFactory
from connectors.ports.calendar import Actor, CalendarPort, CalendarPortFactory
from connectors.ports.delegation import GoogleKit
from connectors.ports.feed import ChangeFeedFactory, ChangeFeedPort
from connectors.ports.lifecycle import LifecycleKit
from connectors.ports.sign_in import GoogleSignIn
from engine.admin import connection_check
from engine.delegation.hooks import DelegationHooks
from engine.delegation.placement import credential_source
from engine.feed.dispatch import set_feed_dispatcher
from engine.lifecycle.dispatch import set_transfer_dispatcher
from engine.lifecycle.run import LifecycleWiring, build_wiring
from engine.runtime import actors, locks, metrics, ratelimit
from engine.runtime.context import Runtime
from engine.runtime.ratelimit import Bucket, RateLimitedCalendar, RateLimitedFeed, RateLimiter
from engine.settings import Settings, read_service_account_key
from engine.store.unit_of_work import get_engine, set_dispatcher
from engine.sync.lanes import set_background_dispatcher
from engine.sync.reconciler import (
    DEFAULT_RESOLVERS,
    AfterRecord,
    Observer,
    Quiet,
    ResolvePlacement,
    SessionReconciler,
    reconcile_leased,
)
from engine.webhooks.outbox import set_webhook_dispatcher

log = logging.getLogger(__name__)

# Every Google request of this process is counted by API method, HTTP status and outcome. Installed when this
# module is imported: it is the only engine module that imports the Google connector, so every process that
# talks to Google has imported it.
observe_requests(metrics.record_request)


# ---------------------------------------------------------------------------------------------- Google parts
def google_kit() -> GoogleKit:
    """The Google implementation of the delegation ports (this module of the connector *is* the kit)."""
    return cast(GoogleKit, google_delegation_kit)


def google_sign_in() -> GoogleSignIn:
    """The Google implementation of Sign in with Google (OpenID Connect) for the admin UI."""
    return cast(GoogleSignIn, google_sign_in_kit)


def lifecycle_kit() -> LifecycleKit:
    """The Google implementation of the organizer lifecycle's ports."""
    return cast(LifecycleKit, google_lifecycle_kit)


def service_account_info(settings: Settings) -> dict[str, str] | None:
    """Muster's service-account key, or ``None`` when none is configured."""
    if settings.google_service_account_file is None:
        return None
    return read_service_account_key(settings.google_service_account_file)


def observe_call(identity: str, method: str, outcome: str) -> None:
    """Each Google call: counted (:func:`engine.runtime.metrics.record_call`) and logged with the context of
    the reconcile that made it (:mod:`engine.runtime.logs`: ``reconcile_id``, ``tenant``, ``session``)."""
    metrics.record_call(identity, method, outcome)
    log.log(
        logging.INFO if outcome in ("ok", "not_found") else logging.WARNING,
        "google calendar.events.%s: %s",
        method,
        outcome,
        extra={"op": f"calendar.events.{method}", "outcome": outcome, "google_identity": identity},
    )


def build_port_factory(
    settings: Settings, *, limiter: RateLimiter, oauth: Any = None, timeout_s: float = 30.0
) -> CalendarPortFactory:
    """``Actor -> CalendarPort`` for this deployment (Google itself, or the emulator by root URL).

    ``oauth`` is the credential source of OAuth actors, which organizer delegation supplies
    (:attr:`engine.delegation.hooks.DelegationHooks.oauth_source`)."""
    info = service_account_info(settings)
    sa_source = None
    if info is not None:
        sa_source = ServiceAccountSource(info, token_uri=token_uri_for(settings.google_root_url))
    source = CompositeSource(service_account=sa_source, oauth=oauth)
    google = GoogleCalendarFactory(
        source, root_url=settings.google_root_url, timeout_s=timeout_s, on_call=observe_call
    )
    project = (info or {}).get("client_email") or "project"
    install_pacer(settings, limiter)

    def factory(actor: Actor) -> CalendarPort:
        port: CalendarPort = google(actor)
        return RateLimitedCalendar(
            port, limiter, quota_buckets(settings, project, actor.key), (background_bucket(settings, actor.key),)
        )

    return factory


def background_bucket(settings: Settings, identity: str) -> Bucket:
    """Background work also needs a slot here: it never takes more than its share of the identity's quota."""
    share = settings.background_quota_percent / 100
    return Bucket(f"background:{identity.lower()}", max(1, int(settings.quota_user_per_minute * share)), burst=1)


def install_pacer(settings: Settings, limiter: RateLimiter) -> None:
    """Make ``limiter`` pace this process's Google requests beside the calendar port (Directory, free/busy,
    ACL, Data Transfer, the connection check's probes): the same identity and project buckets."""
    project = (service_account_info(settings) or {}).get("client_email") or "project"

    def pace(identity: str | None) -> None:
        buckets = quota_buckets(settings, project, identity)
        if identity and ratelimit.in_background():
            ratelimit.acquire(limiter, (background_bucket(settings, identity), *buckets),
                              max_inline_wait_s=ratelimit.MAX_BACKGROUND_INLINE_WAIT_S)
        else:
            ratelimit.acquire(limiter, buckets)

    google_pacing.install(pace)


def probe_kit(settings: Settings) -> GoogleKit:
    """:func:`google_kit` for the connection check (``muster check``, **Test connection**, the Directory admin's
    check): its probes are paced by this process's pacer, installed here on the shared limiter (Redis when
    configured) when no runtime of the process has installed one yet."""
    if google_pacing.installed() is None:
        install_pacer(settings, ratelimit.build(settings.redis_url, settings.redis_namespace))
    return google_kit()


def quota_buckets(settings: Settings, project: str, identity: str | None) -> tuple[Bucket, ...]:
    """The quota buckets one Google request takes a slot in: its acting identity's (when known) and the
    project's (Muster's service account)."""
    buckets = [Bucket(f"user:{identity.lower()}", settings.quota_user_per_minute)] if identity else []
    buckets.append(Bucket(f"project:{project}", settings.quota_project_per_minute, burst=20))
    return tuple(buckets)


def build_feed_factory(
    settings: Settings, *, limiter: RateLimiter, oauth: Any = None, timeout_s: float = 30.0
) -> ChangeFeedFactory:
    """``Actor -> ChangeFeedPort`` (change listings, push channels), paced by the same quota buckets as the
    calendar ports of :func:`build_port_factory`."""
    info = service_account_info(settings)
    sa_source = None
    if info is not None:
        sa_source = ServiceAccountSource(info, token_uri=token_uri_for(settings.google_root_url))
    source = CompositeSource(service_account=sa_source, oauth=oauth)
    google = GoogleChangeFeedFactory(
        source, root_url=settings.google_root_url, timeout_s=timeout_s, on_call=observe_call
    )
    project = (info or {}).get("client_email") or "project"

    def factory(actor: Actor) -> ChangeFeedPort:
        return RateLimitedFeed(google(actor), limiter, quota_buckets(settings, project, actor.key))

    return factory


# ---------------------------------------------------------------------------------------------- delegation
def delegation_hooks(settings: Settings, engine: Engine) -> DelegationHooks:
    """Organizer delegation's hooks for this process, talking to Google through :func:`google_kit`."""
    return DelegationHooks(settings, engine, kit=google_kit())


def check_tenant(db: Session, tenant_id: uuid.UUID, settings: Settings) -> connection_check.CheckReport:
    """"Test connection" for the admin UI's button (it knows the tenant id), against Google."""
    return connection_check.check_tenant_id(db, tenant_id, settings, kit=probe_kit(settings))


@dataclass(frozen=True)
class SyncExtensions:
    """What organizer delegation adds to the reconciler (empty: vendor mode only, e.g. in tests)."""

    resolvers: Mapping[str, ResolvePlacement] = field(default_factory=dict)
    observers: Sequence[Observer] = ()
    after_record: Sequence[AfterRecord] = ()
    #: One pure "would change nothing" predicate per observer (None: the observers always write).
    quiet: Sequence[Quiet] | None = None
    oauth: Any = None  #: a connectors.google.credentials.CredentialSource for ``oauth`` actors
    on_auth_error: Any = None  #: an :data:`engine.sync.reconciler.AuthErrorHook` (try the next host)


def sync_extensions(settings: Settings, engine: Engine | None = None) -> SyncExtensions:
    """Delegation mode's resolver, observer, auth-error hook and OAuth credentials for the reconciler."""
    hooks = delegation_hooks(settings, engine or get_engine(settings))
    return SyncExtensions(
        resolvers={"delegation": hooks.resolve},
        observers=(hooks.observe,),
        after_record=(hooks.after_record,),
        quiet=(hooks.quiet,),
        oauth=hooks.oauth_source,
        on_auth_error=hooks.on_auth_error,
    )


# ---------------------------------------------------------------------------------------------- the sync
def build_runtime(
    settings: Settings,
    *,
    engine: Engine | None = None,
    extensions: SyncExtensions | None = None,
    timeout_s: float = 30.0,
) -> Runtime:
    metrics.configure(settings.redis_url, settings.redis_namespace)
    db_engine = engine or get_engine(settings)
    ext = extensions if extensions is not None else sync_extensions(settings, db_engine)
    lock, debouncer = locks.build(settings.redis_url, settings.redis_namespace)
    limiter = ratelimit.build(settings.redis_url, settings.redis_namespace)
    calendars = build_port_factory(settings, limiter=limiter, oauth=ext.oauth, timeout_s=timeout_s)
    resolvers = {**DEFAULT_RESOLVERS, **ext.resolvers}
    reconciler = SessionReconciler(
        engine=db_engine,
        calendars=calendars,
        resolvers=resolvers,
        observers=ext.observers,
        after_record=ext.after_record,
        quiet=ext.quiet,
        on_auth_error=ext.on_auth_error,
    )
    feeds = build_feed_factory(settings, limiter=limiter, oauth=ext.oauth, timeout_s=timeout_s)
    return Runtime(settings, db_engine, reconciler, lock, debouncer, limiter, feeds=feeds)


# ---------------------------------------------------------------------------------------------- lifecycle
def lifecycle_wiring(
    settings: Settings, engine: Engine | None = None, runtime: Runtime | None = None
) -> LifecycleWiring:
    """The lifecycle wiring of a process (CLI, worker, demo): the runtime's reconciler under its
    per-session lock, and the same calendar access and credentials the sync uses. ``runtime`` is reused
    when given, so the lock is the worker's own."""
    db_engine = engine or (runtime.engine if runtime is not None else get_engine(settings))
    rt = runtime or build_runtime(settings, engine=db_engine)
    hooks = delegation_hooks(settings, db_engine)
    calendars = build_port_factory(settings, limiter=rt.limiter, oauth=hooks.oauth_source)
    credentials = credential_source(settings, lambda: Session(db_engine, expire_on_commit=False), google_kit())

    def reconcile(session_id: uuid.UUID) -> Any:
        # A worker reconciling this session right now finishes in moments; if it still holds the lease
        # after 30 s, it reconciles the session itself (the binding already moved): None.
        return reconcile_leased(rt.reconciler, rt.lock, session_id, settings.lock_ttl_s, wait_s=30)

    return build_wiring(
        settings,
        db_engine,
        calendars=calendars,
        credentials=credentials,
        reconcile=reconcile,
        kit=lifecycle_kit(),
        lock=rt.lock,
    )


_lifecycles: dict[int, LifecycleWiring] = {}
_lifecycles_lock = threading.Lock()


def lifecycle_for(runtime: Runtime) -> LifecycleWiring:
    """The lifecycle wiring of ``runtime``, built on first use and kept for the process's life."""
    with _lifecycles_lock:
        wiring = _lifecycles.get(id(runtime))
        if wiring is None:
            wiring = _lifecycles[id(runtime)] = lifecycle_wiring(runtime.settings, runtime=runtime)
        return wiring


# ---------------------------------------------------------------------------------------------- task layer
def start_task_layer(broker: Any, runtime: Runtime) -> actors.Tasks:
    """Bind the actors to ``broker`` (a ``dramatiq.Broker``) with ``runtime``, and install the after-commit
    dispatchers: committed session ids become ``reconcile_session`` messages (background ones
    ``verify_session``), requested transfers
    ``transfer_person`` messages, webhook deliveries ``deliver_webhook`` messages. Every entry point that
    sends or runs tasks (``muster worker``, the web app with Redis, the embedded worker) starts its task
    layer here."""
    tasks = actors.bind(broker, runtime, lifecycle=lambda: lifecycle_for(runtime))
    set_dispatcher(tasks.dispatch)
    set_background_dispatcher(tasks.dispatch_background)
    set_transfer_dispatcher(tasks.enqueue_transfer)
    set_webhook_dispatcher(tasks.dispatch_webhooks)
    set_feed_dispatcher(tasks.enqueue_feed, tasks.enqueue_stop)  # POST /google/push: sync that calendar
    return tasks


def stop_task_layer() -> None:
    """Uninstall the dispatchers (committed ids are then left to the outbox relay and the sweep)."""
    set_dispatcher(None)
    set_background_dispatcher(None)
    set_transfer_dispatcher(None)
    set_webhook_dispatcher(None)
    set_feed_dispatcher(None)
