"""``SessionReconciler.reconcile(session_id)``: level-triggered, idempotent, keyed by id only.

Where it sits: called by the ``reconcile_session`` actor (:mod:`engine.runtime.actors`) and by
``muster reconcile``. Thin: load rows → :func:`~engine.domain.desired.desired_events` → observe Google (a
``get`` of the event where it should be and where the binding says it was; or, for an event the change
feed listed as changed, that listed copy, its write conditional on its etag: :func:`_listed`) →
:func:`~engine.domain.plan.plan` → :func:`~engine.sync.apply.apply` → record through :mod:`engine.sync.record`.
Running it twice in a row makes no Google write the second time (the plan is all ``Noop``).

Errors arrive classified (:mod:`engine.errors`) and are handled by class only:

* ``Throttled`` (quota pacing) → ``Result(requeue_after=…)``; nothing recorded as a failure.
* ``RetriableError`` → binding ``error`` (retryable), then re-raised so dramatiq retries with backoff.
* ``AuthError`` → binding ``blocked``; the identity is marked
  (:func:`engine.sync.record.do_mark_identity_failed`).
* ``PermanentError`` / ``PlacementError`` → binding ``error`` / ``blocked`` with the readable message.
* A stored tenant setting the schema refuses (:class:`policies.schema.SettingError`, checked before
  anything else) → binding ``blocked`` with error class ``config`` and a ``config_error: …`` message naming
  the setting and the fix; outcome ``config_error``. Nothing is read from or written to Google.

After recording, the reconcile tells the platform (:mod:`engine.webhooks`): a changed sync status, Meet link
or room (:mod:`engine.sync.status_events`), and each guest's changed answer read from the event it observed
or wrote, with the tenant's decline policy applied (:mod:`engine.sync.answers`).

Extension points (organizer delegation): ``resolvers`` maps an integration mode to a
:data:`ResolvePlacement` (``(db, facts, binding) -> Placement``); ``observers`` are called after a
successful apply with ``(db, facts, binding, remote)``, inside the transaction that records it, and may
return a ``requeue_after`` (Meet polling); they make no network call. ``quiet`` holds one pure predicate per
observer saying it would change nothing. ``after_record`` hooks are called with ``(facts, fence)`` once that
transaction has committed, with no transaction open, for follow-up Google calls (a series' per-date rooms);
they write in short transactions of their own and may return a ``requeue_after``.

Nothing written when nothing changed: a reconcile whose plan is all ``Noop`` and whose record would leave
every row as it is (:meth:`SessionReconciler._unchanged`) writes no row, not even its fencing token
(:class:`~engine.sync.fence.Claim`); it only notes the session's verification time, written in batches.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from connectors.errors import AuthError, ConnectorError, PermanentError, RetriableError, StaleEtagError
from connectors.ports.calendar import Actor, ActorKind, CalendarPort, CalendarPortFactory, RemoteEvent
from engine.domain import snapshot as event_snapshot
from engine.domain.desired import (
    DesiredEvent,
    Placement,
    PlacementError,
    SessionFacts,
    desired_events,
    vendor_placement,
)
from engine.domain.event_ids import event_id as deterministic_event_id
from engine.domain.event_ids import owned_session
from engine.domain.google_changes import deleted_in_google, google_edits, keep_google_edits, platform_state
from engine.domain.plan import CreateEvent, MoveEvent, ObservedEvent, Op, plan, writes
from engine.errors import config_error_message
from engine.runtime import logs, metrics, steps
from engine.runtime.deferred import Flusher
from engine.runtime.locks import KeyLock, held
from engine.runtime.ratelimit import Throttled
from engine.store.models import CalendarBinding, IntegrationMode, SyncStatus, VideoChoice
from engine.store.types import utcnow
from engine.store.unit_of_work import UnitOfWork, autocommit_connection, network_session, unit_of_work
from engine.sync import own_writes
from engine.sync import record as actions
from engine.sync.answers import answers_recorded, do_record_answers
from engine.sync.apply import OpResult, apply, final_remote
from engine.sync.fence import Claim, Fence, StaleFence
from engine.sync.load import load
from engine.sync.status_events import StatusSnapshot, do_tell_google_change, do_tell_status, snapshot
from policies.google_changes import GoogleChangeSettings
from policies.notifications import NotificationPolicy
from policies.schema import SettingError
from policies.settings import TenantSettings

log = logging.getLogger(__name__)

#: Chooses where a session's event lives (one per integration mode).
ResolvePlacement = Callable[[Session, SessionFacts, CalendarBinding | None], Placement]
#: Looks at the written event (Meet status, room answer), may update the binding, may ask for a requeue.
Observer = Callable[[Session, SessionFacts, CalendarBinding, RemoteEvent | None], timedelta | None]
#: Runs after the recording transaction committed (no transaction open: it may call Google); may ask for a requeue.
AfterRecord = Callable[[SessionFacts, Fence], timedelta | None]
#: Pure: whether its observer would change nothing for this binding and event (no database needed). A
#: reconcile with nothing else to record then writes nothing; without one, the observer always runs.
Quiet = Callable[[SessionFacts, CalendarBinding, RemoteEvent | None], bool]
#: Told about an ``AuthError`` (inside the unit of work that records it); may mark the identity's
#: connection and ask for one requeue so the next host is tried (organizer delegation).
AuthErrorHook = Callable[[Session, SessionFacts, Actor | None, AuthError], timedelta | None]


def _vendor(_db: Session, facts: SessionFacts, _binding: CalendarBinding | None) -> Placement:
    return vendor_placement(facts)


DEFAULT_RESOLVERS: dict[str, ResolvePlacement] = {"vendor": _vendor}
#: Longest a noted verification time of an unchanged session waits before it is written.
VERIFIED_FLUSH_S = 5.0


@dataclass(frozen=True)
class Result:
    """One requeue control (house style §1). ``outcome`` and ``writes`` are for logs, metrics and tests."""

    requeue_after: timedelta | None = None
    outcome: str = "success"
    writes: int = 0
    ops: tuple[str, ...] = field(default_factory=tuple)
    #: Why nothing could be done (a ``config_error``'s one line), for the CLI.
    detail: str = ""


@dataclass(frozen=True)
class _Loaded:
    facts: SessionFacts
    binding: CalendarBinding | None
    placement: Placement | None
    placement_error: PlacementError | None
    setting_error: SettingError | None = None
    #: The health mark of the identity the binding acts as (None: none recorded, as good as ``ok``).
    owner_status: str | None = None
    #: The guests' answers as stored (see :class:`engine.sync.load.Loaded`).
    learner_answers: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    host_answers: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


class SessionReconciler:
    def __init__(
        self,
        *,
        engine: Engine,
        calendars: CalendarPortFactory,
        resolvers: Mapping[str, ResolvePlacement] | None = None,
        observers: Sequence[Observer] = (),
        after_record: Sequence[AfterRecord] = (),
        quiet: Sequence[Quiet] | None = None,
        on_auth_error: AuthErrorHook | None = None,
    ) -> None:
        self._engine = engine
        self._on_auth_error = on_auth_error
        self._calendars = calendars
        self._resolvers = dict(DEFAULT_RESOLVERS if resolvers is None else resolvers)
        self._observers = tuple(observers)
        self._after_record = tuple(after_record)
        if quiet is not None and len(quiet) != len(self._observers):
            raise ValueError("quiet: one predicate per observer")
        self._quiet = None if quiet is None and self._observers else tuple(quiet or ())
        #: Verification times of sessions found unchanged, written in batches (full ones at once, the
        #: rest by a background flusher within :data:`VERIFIED_FLUSH_S`).
        self.verified_at = actions.VerifiedAt()
        self._verified_flusher = Flusher(self.flush_verified, every_s=VERIFIED_FLUSH_S, name="verified-at")

    @property
    def calendars(self) -> CalendarPortFactory:
        """The calendar ports this reconciler writes through (quota-paced); the stray sweep uses them too."""
        return self._calendars

    # ------------------------------------------------------------------ steps
    def _load(self, session_id: uuid.UUID) -> _Loaded | None:
        # The rows are read on a connection of their own (each statement commits on its own), returned to the
        # pool before the placement resolver runs: it may call Google (free/busy, the room Directory) between
        # its queries, and the vendor one makes none.
        with autocommit_connection(self._engine) as conn:
            state = load(db=conn, session_id=session_id)
        if state is None:
            return None
        facts, binding = state.facts, state.binding
        try:
            TenantSettings.parse(facts.tenant.settings)
        except SettingError as bad:
            return _Loaded(facts, None, None, None, bad)
        placement: Placement | None = None
        error: PlacementError | None = None
        resolver = self._resolvers.get(facts.tenant.integration_mode)
        try:
            if resolver is None:
                raise PlacementError(
                    f"integration mode {facts.tenant.integration_mode!r} has no placement resolver "
                    "in this process (see engine.runtime.wiring.build_runtime)"
                )
            if resolver is _vendor:
                placement = vendor_placement(facts)
            else:
                with network_session(self._engine) as db:
                    if binding is not None:
                        db.add(binding)  # attached while the resolver runs, as if db had read it (no statement)
                    try:
                        placement = resolver(db, facts, binding)
                    finally:
                        if binding is not None:
                            db.expunge(binding)
        except PlacementError as exc:
            error = exc
        return _Loaded(
            facts, binding, placement, error, owner_status=state.owner_status,
            learner_answers=state.learner_answers, host_answers=state.host_answers,
        )

    def _observe(
        self, loaded: _Loaded, desired: Sequence[DesiredEvent], ports: CalendarPortFactory
    ) -> tuple[list[ObservedEvent], bool]:
        """What Google holds for the session where it should be, where the binding recorded it and where
        the write-ahead intent said the last first write would put it. Returns ``(observed, intent_unread)``:
        an intended place that could not be read (its identity refused) stays recorded for a later look."""
        facts, binding = loaded.facts, loaded.binding
        # A session Muster never recorded or intended an event for is created without a read first: its
        # deterministic id makes the insert safe (an event that exists after all answers 409 and is adopted).
        # Any other session is read where it should be, where the binding says it was (drift repair) and
        # where the intent says it may be (a first write whose answer was lost).
        never_written = binding is None or (binding.event_id is None and binding.intent_event_id is None)
        where: list[tuple[Actor, str, str]] = (
            [] if never_written else [(d.actor, d.calendar_id, d.event_id) for d in desired]
        )
        if not desired and loaded.placement is not None:
            p = loaded.placement
            where.append(
                (
                    p.actor,
                    p.calendar_id,
                    p.event_id or deterministic_event_id(facts.tenant.id, facts.id, p.calendar_id),
                )
            )
        if binding is not None and binding.calendar_id and binding.event_id and binding.owner_email:
            actor = binding_actor(
                facts.tenant.id, binding.actor_kind, binding.owner_email, binding.actor_connection_id
            )
            if all((c, e) != (binding.calendar_id, binding.event_id) for _, c, e in where):
                where.append((actor, binding.calendar_id, binding.event_id))
        intended: tuple[Actor, str, str] | None = None
        b = binding
        if b is not None and b.intent_calendar_id and b.intent_event_id and b.intent_owner_email:
            intended = (
                binding_actor(facts.tenant.id, b.intent_actor_kind, b.intent_owner_email, b.intent_connection_id),
                b.intent_calendar_id,
                b.intent_event_id,
            )
            if any((c, e) == intended[1:] for _, c, e in where):
                intended = None
        observed: list[ObservedEvent] = []
        for actor, calendar_id, event_id in where:
            remote = ports(actor).get(calendar_id, event_id)
            if remote is not None and owned_session(remote.private) == (facts.tenant.id, facts.id):
                observed.append(ObservedEvent(actor, remote))
        intent_unread = False
        if intended is not None:
            actor, calendar_id, event_id = intended
            try:
                remote = ports(actor).get(calendar_id, event_id)
            except (AuthError, PermanentError) as exc:  # e.g. the host whose insert was lost lost access
                log.warning("session %s: its intended event %s on %s cannot be read now: %s",
                            facts.id, event_id, calendar_id, exc)
                remote, intent_unread = None, True
            if remote is not None and owned_session(remote.private) == (facts.tenant.id, facts.id):
                observed.append(ObservedEvent(actor, remote))
        return observed, intent_unread

    def _intend(
        self,
        facts: SessionFacts,
        binding: CalendarBinding | None,
        desired: Sequence[DesiredEvent],
        ops: Sequence[Op],
        fence: Fence,
    ) -> bool:
        """Write-ahead: before the first write to a calendar (an insert or a move) record where it will put
        the event, in its own short transaction (no network call inside it). True when it recorded one."""
        target = next(
            (
                (op.desired.actor, op.desired.calendar_id, op.desired.event_id)
                for op in ops
                if isinstance(op, CreateEvent)
            ),
            None,
        )
        if target is None:
            moved = {(op.destination, op.event_id) for op in ops if isinstance(op, MoveEvent)}
            target = next(
                ((d.actor, d.calendar_id, d.event_id) for d in desired if (d.calendar_id, d.event_id) in moved), None
            )
        if target is None:
            return False
        actor, calendar_id, event_id = target
        if binding is not None and (binding.intent_calendar_id, binding.intent_event_id) == (calendar_id, event_id):
            return False
        with unit_of_work(self._engine) as uow:
            actions.do_record_intent(
                db=uow.db, tenant_id=facts.tenant.id, session_id=facts.id, actor=actor,
                calendar_id=calendar_id, event_id=event_id, fence=fence,
            )
        return True

    # ------------------------------------------------------------------ the contract
    def reconcile(
        self, session_id: uuid.UUID, *, fence: int | None = None, verify: bool = False, recreate: bool = False
    ) -> Result:
        """Make Google match the platform for ``session_id``. Safe to call any number of times.

        ``fence``: the fencing token of the caller's lease (:mod:`engine.sync.fence`); without one the
        reconcile claims the token after the one it read with the session, at its first binding write
        (:class:`~engine.sync.fence.Claim`), so that write and every later one is refused once a newer
        holder (another reconcile, a transfer) wrote or took a token; a reconcile with nothing to change
        writes nothing.

        ``verify``: read the event from Google even when the binding's record of it could be trusted (the
        drift sweep, ``muster reconcile``). Either way, an event the change feed listed as changed (in full,
        with its etag: ``CalendarBinding.remote_listed``) is planned against as listed instead of read
        again (:func:`_listed`): a drift repair costs its patch alone, and a repair put back for quota
        reads nothing when it runs again. ``recreate``: bring back an event deleted in Google even when
        the tenant's policy flags such sessions (``muster reconcile --session ID --recreate``).
        """
        try:
            return self._reconcile(session_id, fence, _Mode(verify=verify, recreate=recreate))
        except StaleFence as exc:
            log.warning("reconcile of session %s stopped: %s", session_id, exc)
            metrics.record_reconcile("superseded")
            return Result(outcome="superseded")

    def _reconcile(self, session_id: uuid.UUID, held: int | None, mode: _Mode) -> Result:
        loaded = self._load(session_id)
        if loaded is None:
            metrics.record_reconcile("success")
            return Result(outcome="missing")
        fence: Fence = held
        if held is None:
            fence = Claim(session_id, loaded.binding.fence if loaded.binding is not None else 0)
        started = time.perf_counter()
        tenant = loaded.facts.tenant
        with metrics.tenant_scope(tenant.id, tenant.slug), logs.bind(tenant=tenant.slug, session=session_id):
            try:
                return self._reconcile_loaded(loaded, fence, mode)
            finally:
                metrics.observe_reconcile(time.perf_counter() - started)

    def _reconcile_loaded(self, loaded: _Loaded, fence: Fence, mode: _Mode) -> Result:
        facts = loaded.facts
        if loaded.setting_error is not None:
            return self._blocked_config(
                facts, config_error_message(facts.tenant.slug, loaded.setting_error), fence
            )
        if facts.wants_event and loaded.placement_error is not None:
            return self._blocked_config(facts, loaded.placement_error, fence)
        desired = desired_events(facts, loaded.placement)
        policy = NotificationPolicy.from_settings(facts.tenant.settings.get("notifications"))
        changes = GoogleChangeSettings.from_settings(facts.tenant.settings.get("google_changes"))
        base = event_snapshot.load(loaded.binding.last_written) if loaded.binding is not None else None
        trusted = None if mode.verify else _trusted(loaded, desired, base)
        listed = None if trusted is not None else _listed(loaded, desired)
        results: list[OpResult] = []
        ops: list[Op] = []
        observed: list[ObservedEvent] = []
        intent_unread = False
        seen = _Seen()
        ports = _memo(self._calendars)
        try:
            for conflict in range(MAX_STALE_ETAG + 1):
                if trusted is not None:  # one call per change: plan against the event as last written
                    observed, intent_unread = [trusted], False
                elif listed is not None:  # the change feed listed the changed event: plan against that copy
                    observed, intent_unread = [listed], False
                    seen.read = True
                    metrics.incr("reconcile.listed_copy")
                else:
                    observed, intent_unread = self._observe(loaded, desired, ports)
                    seen.read = True
                steps.reached("reconcile.observed")
                latest = final_remote(results) or base  # a first patch of a split may have landed already
                target, seen.report, flagged = _google_side(desired, observed, latest, loaded.binding, changes, mode)
                if flagged is not None:
                    return self._flagged(facts, flagged, seen.report, fence)
                ops = plan(target, observed, policy)
                if self._intend(facts, loaded.binding, desired, ops, fence):
                    steps.reached("reconcile.intended")
                if not seen.marked and writes(ops):  # the feed holds what it lists until the outcome is recorded
                    own_writes.begin_write(self._engine, facts.id)
                    seen.marked = True
                seen.planned_on = _kept(observed, desired) if trusted is None and writes(ops) else None
                try:
                    results = apply(ops, ports, policy, results)
                    break
                except StaleEtagError:
                    seen.planned_on = None
                    # Changed in Google since it was last seen: read it, plan again, write.
                    metrics.incr("reconcile.stale_etag")
                    log.info("session %s: its event changed in Google meanwhile (412); reading it", facts.id)
                    if conflict == MAX_STALE_ETAG:
                        raise
                    trusted = listed = None
        except Throttled as exc:
            if not results and seen.planned_on is not None:
                self._keep_observed(loaded, seen.planned_on, fence)
            self._progress(facts, results, fence)
            if seen.marked and not results:  # waits for quota before any write: the mark goes with the attempt
                self._end_write(facts.id, [])
            metrics.record_reconcile("requeue_after")
            return Result(requeue_after=timedelta(seconds=exc.delay or 1.0), outcome="requeue_after")
        except RetriableError as exc:
            self._failed(facts, results, exc, "retryable", fence=fence)
            metrics.record_reconcile("retryable_error")
            metrics.record_retry(exc.error_class)
            raise
        except AuthError as exc:
            wait = self._failed(
                facts, results, exc, "auth", blocked=True, actor=_actor_of(exc, loaded, desired), fence=fence
            )
            metrics.record_reconcile("auth_error")
            return Result(requeue_after=wait, outcome="auth_error")
        except PermanentError as exc:
            self._failed(facts, results, exc, exc.error_class, fence=fence)
            metrics.record_reconcile("permanent_error")
            return Result(outcome="permanent_error")
        return self._succeeded(
            facts, desired, results, ops, observed, fence, keep_intent=intent_unread,
            seen=seen, mark=loaded.binding.remote_changed_at if loaded.binding is not None else None, loaded=loaded,
        )

    # ------------------------------------------------------------------ recording
    def _succeeded(
        self,
        facts: SessionFacts,
        desired: Sequence[DesiredEvent],
        results: Sequence[OpResult],
        ops: Sequence[Op],
        observed: Sequence[ObservedEvent] = (),
        fence: Fence = None,
        *,
        keep_intent: bool = False,
        seen: _Seen | None = None,
        mark: datetime | None = None,
        loaded: _Loaded | None = None,
    ) -> Result:
        # After a Noop Google returned nothing new: observers (Meet polling, room answers) look at the
        # event as it was read at the start of this reconcile.
        remote = final_remote(results) or _current(observed, desired)
        seen = seen or _Seen()
        requeue: timedelta | None = None
        last_written = event_snapshot.dump(remote) if desired and remote is not None else None
        platform = platform_state(desired[0].spec) if desired else None
        seen_mark = mark if seen.read else None
        record = actions.Recorded(
            revision=facts.revision, desired=desired[0] if desired else None, results=results, remote=remote,
            keep_intent=keep_intent, last_written=last_written, platform=platform, seen_mark=seen_mark,
        )
        if loaded is not None and seen.report is None and self._unchanged(loaded, desired, record):
            if seen.marked:  # nothing to record, but the write mark is cleared (and what the feed held judged)
                self._end_write(facts.id, own_writes.etags([remote]))
            self._verified(facts.id)
            for follow_up in self._after_record:
                wait = follow_up(facts, fence)
                if wait is not None:
                    requeue = wait if requeue is None else min(requeue, wait)
            for res in results:
                metrics.incr(f"ops.{res.outcome}")
            outcome = "requeue_after" if requeue else "success"
            metrics.record_reconcile(outcome)
            log.info("reconciled session %s: nothing to do", facts.id, extra={"outcome": outcome})
            return Result(requeue_after=requeue, outcome="success", writes=0, ops=tuple(r.outcome for r in results))
        with unit_of_work(self._engine) as uow:
            before = snapshot(actions.get_binding(db=uow.db, session_id=facts.id))
            binding = actions.do_record_synced(
                db=uow.db,
                tenant_id=facts.tenant.id,
                session_id=facts.id,
                revision=facts.revision,
                desired=desired[0] if desired else None,
                results=results,
                remote=remote,
                fence=fence,
                keep_intent=keep_intent,
                last_written=last_written,
                platform=platform,
                seen_mark=seen_mark,
            )
            if seen.report is not None:
                actions.do_report_google_change(
                    db=uow.db, tenant_id=facts.tenant.id, session_id=facts.id, detail=seen.report
                )
                do_tell_google_change(uow.db, facts=facts, report=seen.report, calendar_id=binding.calendar_id,
                                      event_id=binding.event_id)
            for d in desired:
                if not _known_healthy(loaded, d.actor):
                    actions.do_mark_identity_ok(db=uow.db, actor=d.actor)
            for observer in self._observers:
                wait = observer(uow.db, facts, binding, remote)
                if wait is not None:
                    requeue = wait if requeue is None else min(requeue, wait)
            if facts.tenant.integration_mode == IntegrationMode.VENDOR.value and desired:
                actions.do_note_vendor_limits(
                    db=uow.db, binding=binding, wants_meet=facts.video == VideoChoice.MEET.value,
                    wants_room=facts.room_wanted,
                )
            do_tell_status(uow.db, facts=facts, before=before, binding=binding)
            stored = (loaded.learner_answers, loaded.host_answers) if loaded is not None else None
            do_record_answers(uow, facts=facts, remote=remote, stored=stored)
        steps.reached("reconcile.recorded")
        for follow_up in self._after_record:
            wait = follow_up(facts, fence)
            if wait is not None:
                requeue = wait if requeue is None else min(requeue, wait)
        for res in results:
            metrics.incr(f"ops.{res.outcome}")
        metrics.record_reconcile("requeue_after" if requeue else "success")
        n = len(writes(ops))
        log.info(
            "reconciled session %s: %s",
            facts.id,
            ", ".join(r.outcome for r in results) or "nothing to do",
            extra={"outcome": "requeue_after" if requeue else "success"},
        )
        return Result(
            requeue_after=requeue, outcome="success", writes=n, ops=tuple(r.outcome for r in results)
        )

    def _flagged(
        self, facts: SessionFacts, message: str, report: dict[str, object] | None, fence: Fence
    ) -> Result:
        """The event was deleted in Google and the tenant's policy says flag: nothing is written."""
        with unit_of_work(self._engine) as uow:
            before = snapshot(actions.get_binding(db=uow.db, session_id=facts.id))
            actions.do_record_deleted_in_google(
                db=uow.db, tenant_id=facts.tenant.id, session_id=facts.id, message=message, fence=fence
            )
            if report is not None:
                actions.do_report_google_change(
                    db=uow.db, tenant_id=facts.tenant.id, session_id=facts.id, detail=report
                )
                where = before.calendar_id if before else None, before.event_id if before else None
                do_tell_google_change(uow.db, facts=facts, report=report, calendar_id=where[0], event_id=where[1])
            self._tell_status(uow, facts, before)
        metrics.record_reconcile("deleted_in_google")
        log.warning("session %s: %s", facts.id, message, extra={"outcome": "deleted_in_google"})
        return Result(outcome="deleted_in_google", detail=message)

    def _unchanged(self, loaded: _Loaded, desired: Sequence[DesiredEvent], record: actions.Recorded) -> bool:
        """Whether recording this successful reconcile would change no row (then nothing is written).

        Nothing changed in Google that this reconcile reports (the caller checks), the binding would stay as
        it is (:func:`engine.sync.record.synced_unchanged`; then no sync status changes either, so there is
        nothing to tell the platform), the acting identity carries no failure
        mark to clear, every observer says it would change nothing (its ``quiet``), the vendor-mode note is
        already what it would be, and every guest's answer on the event is the one stored
        (:func:`engine.sync.answers.answers_recorded`)."""
        facts, binding = loaded.facts, loaded.binding
        if binding is None or len(desired) > 1:
            return False
        first, remote = record.desired, record.remote
        if not actions.synced_unchanged(binding, record):
            return False
        if first is not None and (
            first.actor.key != (binding.owner_email or "").lower() or loaded.owner_status not in (None, "ok")
        ):
            return False
        if self._quiet is None or not all(q(facts, binding, remote) for q in self._quiet):
            return False
        if facts.tenant.integration_mode == IntegrationMode.VENDOR.value and desired:
            now = (binding.meet_status, binding.meet_error, binding.room_status, binding.room_error)
            wants_meet = facts.video == VideoChoice.MEET.value
            if actions.vendor_limits(binding, wants_meet=wants_meet, wants_room=facts.room_wanted) != now:
                return False
        return answers_recorded(remote, learners=loaded.learner_answers, hosts=loaded.host_answers)

    def _verified(self, session_id: uuid.UUID) -> None:
        """Note an unchanged session's verification time; write the batch when it is due."""
        due = self.verified_at.note(session_id, utcnow())
        if due:
            self._write_verified(due)
        else:
            self._verified_flusher.poke()

    def flush_verified(self) -> None:
        """Write every verification time noted and not yet written (a worker stopping, a benchmark)."""
        self._write_verified(self.verified_at.take())

    def _write_verified(self, due: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        if not due:
            return
        try:
            with unit_of_work(self._engine) as uow:
                actions.do_record_verified(db=uow.db, verified=due)
        except Exception as exc:  # only a display time: never fail a reconcile for it
            log.warning("could not record when %d unchanged session(s) were verified: %s", len(due), exc)

    def _keep_observed(self, loaded: _Loaded, remote: RemoteEvent, fence: Fence) -> None:
        """Put back for quota after its read and before its write: keep what was read, so the next attempt
        plans against it (:func:`_listed`) instead of reading again; its write is conditional on that etag.
        Nothing to keep when the copy it planned against is the one kept already."""
        b = loaded.binding
        if b is None or (b.remote_listed is not None and b.remote_etag == remote.etag):
            return
        with unit_of_work(self._engine) as uow:
            kept = actions.do_keep_observed(
                db=uow.db, tenant_id=loaded.facts.tenant.id, session_id=loaded.facts.id, remote=remote,
                mark=b.remote_changed_at, fence=fence,
            )
        if kept:
            metrics.incr("reconcile.kept_read")

    def _end_write(self, session_id: uuid.UUID, own: Sequence[str]) -> None:
        with unit_of_work(self._engine) as uow:
            binding = actions.get_binding(db=uow.db, session_id=session_id)
            if binding is not None:
                own_writes.end_write(uow.db, binding, own)

    def _progress(self, facts: SessionFacts, results: Sequence[OpResult], fence: Fence) -> None:
        if results:
            with unit_of_work(self._engine) as uow:
                actions.do_record_progress(
                    db=uow.db, tenant_id=facts.tenant.id, session_id=facts.id, results=results, fence=fence
                )

    def _failed(
        self,
        facts: SessionFacts,
        results: Sequence[OpResult],
        exc: ConnectorError,
        error_class: str,
        *,
        blocked: bool = False,
        actor: Actor | None = None,
        fence: Fence = None,
    ) -> timedelta | None:
        log.warning(
            "reconcile of session %s failed (%s): %s", facts.id, error_class, exc, extra={"outcome": error_class}
        )
        with unit_of_work(self._engine) as uow:
            before = snapshot(actions.get_binding(db=uow.db, session_id=facts.id))
            if results:
                actions.do_record_progress(
                    db=uow.db, tenant_id=facts.tenant.id, session_id=facts.id, results=results, fence=fence
                )
            actions.do_record_error(
                db=uow.db,
                tenant_id=facts.tenant.id,
                session_id=facts.id,
                error=exc,
                error_class=error_class,
                blocked=blocked,
                fence=fence,
            )
            self._tell_status(uow, facts, before)
            if actor is not None:
                actions.do_mark_identity_failed(db=uow.db, actor=actor, error=exc)
            if self._on_auth_error is not None and isinstance(exc, AuthError):
                return self._on_auth_error(uow.db, facts, actor, exc)
        return None

    @staticmethod
    def _tell_status(uow: UnitOfWork, facts: SessionFacts, before: StatusSnapshot | None) -> None:
        uow.db.flush()
        binding = actions.get_binding(db=uow.db, session_id=facts.id)
        if binding is not None:
            do_tell_status(uow.db, facts=facts, before=before, binding=binding)

    def _blocked_config(self, facts: SessionFacts, exc: PlacementError | str, fence: Fence) -> Result:
        err = PermanentError(str(exc), reason="config")
        with unit_of_work(self._engine) as uow:
            before = snapshot(actions.get_binding(db=uow.db, session_id=facts.id))
            actions.do_record_error(
                db=uow.db,
                tenant_id=facts.tenant.id,
                session_id=facts.id,
                error=err,
                error_class="config",
                blocked=True,
                fence=fence,
            )
            self._tell_status(uow, facts, before)
        metrics.record_reconcile("config_error")
        return Result(outcome="config_error", detail=str(exc))


#: 412 answers (the event changed in Google between the read and the write) re-read in one reconcile
#: before it gives up as a retryable error.
MAX_STALE_ETAG = 3


@dataclass(frozen=True)
class _Mode:
    verify: bool = False
    recreate: bool = False


@dataclass
class _Seen:
    """What one reconcile learnt on its way: did it read Google, and what changed there."""

    read: bool = False
    report: dict[str, object] | None = None
    #: The binding was marked as being written (:func:`engine.sync.own_writes.begin_write`).
    marked: bool = False
    #: The event as read (or listed) that the writes now being applied were planned against.
    planned_on: RemoteEvent | None = None


def _kept(observed: Sequence[ObservedEvent], desired: Sequence[DesiredEvent]) -> RemoteEvent | None:
    """The one observed event, where the one desired event is: what a repair put back for quota before
    its write keeps for its next attempt (:meth:`SessionReconciler._keep_observed`)."""
    if len(desired) != 1 or len(observed) != 1:
        return None
    remote = observed[0].remote
    d = desired[0]
    return remote if (remote.calendar_id, remote.event_id) == (d.calendar_id, d.event_id) else None


def _trusted(
    loaded: _Loaded, desired: Sequence[DesiredEvent], base: RemoteEvent | None
) -> ObservedEvent | None:
    """The event as Muster last wrote it, when nothing says Google changed it since: the reconcile then
    plans against it without a read (its patches carry ``If-Match`` on its etag, so a change made in Google
    meanwhile is refused with 412 and read). ``None`` whenever a read is needed: the change feed marked the
    event, a first write's answer may have been lost, the event is to live elsewhere, its Meet link or
    room answer is still awaited, or the record is not that of the event Google returned last."""
    b = loaded.binding
    if b is None or base is None or len(desired) != 1:
        return None
    d = desired[0]
    here = (d.calendar_id, d.event_id)
    if (
        b.remote_changed_at is not None
        or b.intent_event_id is not None
        or b.sync_status != SyncStatus.SYNCED.value
        or not b.etag
        or base.etag != b.etag
        or base.is_cancelled
        or (b.calendar_id, b.event_id) != here
        or (base.calendar_id, base.event_id) != here
        or (b.owner_email or "").lower() != d.actor.key
        or (b.actor_kind or "vendor") != d.actor.kind
        or b.meet_status == "pending"
        or base.conference_status == "pending"
        or b.room_status == "needsAction"
        or b.next_attempt_at is not None
        or owned_session(base.private) != (d.tenant_id, d.session_id)
    ):
        return None
    return ObservedEvent(d.actor, base)


def _listed(loaded: _Loaded, desired: Sequence[DesiredEvent]) -> ObservedEvent | None:
    """The changed event as the change feed listed it (``CalendarBinding.remote_listed``), when that copy
    can stand for a read: it is the one observation a read would make (one event, where the binding and
    the desired event both are, no write-ahead intent elsewhere, the same identity), it is the last change
    noted (its etag is ``remote_etag`` and the mark is set) and it is live. The write planned against it
    carries ``If-Match`` on its etag, so if the event changed again since the listing, Google refuses it
    (412) and the reconcile reads the event and plans again: a stale copy is never written over.
    ``None``: read the event."""
    b = loaded.binding
    if b is None or b.remote_changed_at is None or len(desired) != 1:
        return None
    seen = event_snapshot.load(b.remote_listed)
    d = desired[0]
    here = (d.calendar_id, d.event_id)
    if (
        seen is None
        or not seen.etag
        or seen.etag != b.remote_etag
        or seen.is_cancelled
        or b.sync_status not in (SyncStatus.SYNCED.value, SyncStatus.ERROR.value)
        or b.intent_event_id is not None
        or (b.calendar_id, b.event_id) != here
        or (seen.calendar_id, seen.event_id) != here
        or (b.owner_email or "").lower() != d.actor.key
        or (b.actor_kind or "vendor") != d.actor.kind
        or owned_session(seen.private) != (d.tenant_id, d.session_id)
    ):
        return None
    return ObservedEvent(d.actor, seen)


def _google_side(
    desired: Sequence[DesiredEvent],
    observed: Sequence[ObservedEvent],
    base: RemoteEvent | None,
    binding: CalendarBinding | None,
    changes: GoogleChangeSettings,
    mode: _Mode,
) -> tuple[list[DesiredEvent], dict[str, object] | None, str | None]:
    """Apply the tenant's Google-side change policy. Returns ``(desired to plan with, report, flagged)``:
    ``report`` is the audit detail of a change made in Google (None: none seen), ``flagged`` the message
    of a session whose event was deleted in Google and stays so (then nothing is planned)."""
    here = _current(observed, desired)
    if here is None or base is None or len(desired) != 1:
        return list(desired), None, None
    (d,) = desired
    if (base.calendar_id, base.event_id) != (here.calendar_id, here.event_id):
        return list(desired), None, None
    if deleted_in_google(base, here):
        already = binding is not None and binding.error_class == DELETED_IN_GOOGLE
        if changes.deleted == "flag" and not mode.recreate:
            report = None if already else {"deleted": True, "policy": "flag", "outcome": "flagged"}
            return [], report, DELETED_MESSAGE
        return list(desired), {"deleted": True, "policy": changes.deleted, "outcome": "recreated"}, None
    edited = google_edits(base, here)
    if changes.edits == "report_only":
        # Edits kept earlier are in ``here`` too (it is the event as last seen): only what the platform
        # changed since its last sync is written, whether or not Google changed something just now.
        kept = keep_google_edits(d, here, binding.platform_state if binding is not None else None)
        report = {"fields": sorted(edited), "policy": "report_only", "outcome": "kept"} if edited else None
        return [kept], report, None
    if not edited:
        return list(desired), None, None
    return list(desired), {"fields": sorted(edited), "policy": "platform_wins", "outcome": "restored"}, None


#: ``CalendarBinding.error_class`` of a session whose event was deleted in Google and is left so.
DELETED_IN_GOOGLE = "google_deleted"
DELETED_MESSAGE = (
    "deleted_in_google: the session's event was deleted in Google and the tenant's policy "
    "(google_changes.deleted=flag) leaves it deleted. To bring it back: `muster reconcile --session ID "
    "--recreate`, or set google_changes.deleted=recreate (Integration page, PATCH /v1/admin/tenant or "
    "`muster tenant set --setting google_changes.deleted=recreate`)"
)


def binding_actor(
    tenant_id: uuid.UUID, kind: str | None, email: str, connection_id: uuid.UUID | None
) -> Actor:
    """The identity a binding (or its intent) names: vendor unless recorded as delegated / oauth."""
    actor_kind: ActorKind = "delegated" if kind == "delegated" else "oauth" if kind == "oauth" else "vendor"
    return Actor(kind=actor_kind, email=email, tenant_id=tenant_id, connection_id=connection_id)


def _known_healthy(loaded: _Loaded | None, actor: Actor) -> bool:
    """Whether the load already found ``actor`` (the binding's identity) carrying no failure mark: then there is
    none to clear and its row is not read again."""
    return (
        loaded is not None
        and loaded.binding is not None
        and loaded.owner_status in (None, "ok")
        and actor.key == (loaded.binding.owner_email or "").lower()
    )


def _current(observed: Sequence[ObservedEvent], desired: Sequence[DesiredEvent]) -> RemoteEvent | None:
    """The observed event that is (one of) the desired event(s), if it was read."""
    wanted = {(d.calendar_id, d.event_id) for d in desired}
    for o in observed:
        if (o.remote.calendar_id, o.remote.event_id) in wanted:
            return o.remote
    return None


def _memo(factory: CalendarPortFactory) -> CalendarPortFactory:
    """One port per actor for the duration of one reconcile."""
    cache: dict[Actor, CalendarPort] = {}

    def get(actor: Actor) -> CalendarPort:
        if actor not in cache:
            cache[actor] = factory(actor)
        return cache[actor]

    return get


def _actor_of(exc: AuthError, loaded: _Loaded, desired: Sequence[DesiredEvent]) -> Actor | None:
    """The identity Google refused (the connector names it; fall back to the placement's actor)."""
    candidates = [d.actor for d in desired]
    if loaded.placement is not None:
        candidates.append(loaded.placement.actor)
    for actor in candidates:
        if exc.identity and actor.key == exc.identity.lower():
            return actor
    return candidates[0] if candidates else None


def reconcile_leased(
    reconciler: SessionReconciler,
    lock: KeyLock,
    session_id: uuid.UUID,
    ttl_s: float,
    *,
    wait_s: float = 0.0,
    verify: bool = False,
    recreate: bool = False,
) -> Result | None:
    """Reconcile under the session's lease (taken, renewed while it runs, released); None when busy.

    The one way to reconcile outside the actor (``muster reconcile``, transfers, mode switches), so every
    writer of a session holds the same lease.
    """
    with held(lock, str(session_id), ttl_s, wait_s=wait_s) as lease:
        if lease is None:
            return None
        return reconciler.reconcile(session_id, verify=verify, recreate=recreate)
