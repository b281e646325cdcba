"""Transfer a departing organizer's events to their successors, by the means Google allows.

Where it sits: the write side of :mod:`engine.lifecycle`, run by the lifecycle job for one person
(:func:`transfer_person`) once their transfer is due (:func:`engine.lifecycle.departure.transfer_due`).
For every upcoming session whose event the person owns, :func:`policies.successor.choose_successor`
names the successor; then one of three paths moves the event:

* **move** (the organizer's account still works: a planned departure): the successor shares their
  calendar with the organizer (``acl.insert``, writer, no notification), the organizer
  ``events.move``\\ s the event (same id, attendees and their answers, Meet link, room), the rule is
  removed. Google requires writer access to both calendars (reference §2.6).
* **data_transfer** (the account is suspended, so Calendar answers ``notACalendarUser``): one admin
  Data Transfer of the Calendar application (reference §5.3) to a *receiver* (the successor of most
  sessions), then adoption: each event is found on the receiver's calendar by its id and, when its
  successor is someone else, moved on from there. Rooms are kept or released per
  :class:`policies.successor.TransferRules`; a released room is booked again by the reconcile.
* **recreate** (neither works: a deleted account, a failed transfer, an event Google did not move
  because it is private or has no guests): the binding points at the successor's calendar with that
  calendar's deterministic id, the reconcile creates the event (one invitation per learner, a new Meet
  link), and the old event is cancelled silently where Google still lets the organizer act.

When a path cannot serve an event it falls through to the next: a leaving organizer whose move Google
refused (or who can no longer act) goes through Data Transfer, then recreate. A *passing* failure
(5xx, rate limit, a transfer not finished) changes nothing: the session is ``deferred`` with a
``transfer_note`` and the next pass retries it.

Each event is moved and rebound while the transfer holds the session's lease (the one reconciles hold,
:meth:`_Run.leased`) with a fresh fencing token: a reconcile that loaded the old binding cannot record the
departed organizer back (its token is older), and the binding is re-read under the lease so a transfer
planned from a binding that changed meanwhile is deferred. Each moved event is rebound through
:func:`engine.sync.record.do_rebind_owner` (the binding's acting owner changes, event id kept) and then,
once the lease is released, reconciled once, so the reconciler's own model converges anything left
(the departing host added as a guest, a released room booked again) and the *next* reconcile makes no
write. Sessions nobody can inherit stay as they are: their binding carries a ``transfer_note`` saying
what is needed and the audit log an alert; the periodic sweep retries them, so the transfer completes
once the fallback owner (or a co-host) connects. Every transfer is audited with what was kept and what
changed. No learner gets more than one email per session about it: moves and transfers are silent, a
recreated event sends one invitation and its predecessor is cancelled with ``sendUpdates=none``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from connectors.errors import AuthError, ConnectorError, RetriableError
from connectors.ports.calendar import Actor, CalendarPortFactory
from connectors.ports.lifecycle import CalendarSharingPort, DataTransferPort, DirectoryUsersPort
from engine.domain.event_ids import event_id as deterministic_event_id
from engine.domain.event_ids import owned_session
from engine.lifecycle.departure import transfer_due
from engine.lifecycle.detect import on_identity_error
from engine.lifecycle.facts import (
    candidate_session_ids,
    fallback_facts,
    find_person,
    session_contexts,
    successor_rules,
)
from engine.lifecycle.preview import PATH_DATA_TRANSFER, PATH_MOVE, PATH_RECREATE, transfer_paths
from engine.runtime import steps
from engine.runtime.locks import KeyLock, held
from engine.store.models import AuditEvent, LiveSession, Person, PersonStatus, Tenant
from engine.store.unit_of_work import unit_of_work
from engine.sync import own_writes
from engine.sync import record as actions
from engine.sync.apply import move_once
from engine.sync.fence import StaleFence, take_fence
from engine.webhooks import emit
from engine.webhooks.events import OrganizerTransferred
from policies.schema import SettingError
from policies.settings import TenantSettings
from policies.successor import Decision, Outcome, TransferRules, affected, choose_successor

log = logging.getLogger(__name__)

#: ``(db, tenant, person) -> (actor or None, why not)``: delegation mode's "can Muster act as them".
ActorFor = Callable[[Session, Tenant, Person], tuple[Actor | None, str | None]]


@dataclass
class TransferServices:
    """What a transfer needs, injected by the composition root (the lifecycle job, tests, the demo)."""

    calendars: CalendarPortFactory
    sharing: Callable[[Actor], CalendarSharingPort]
    actor_for: ActorFor
    reconcile: Callable[[uuid.UUID], Any]
    directory: DirectoryUsersPort | None = None
    transfers: DataTransferPort | None = None
    poll_interval_s: float = 0.5
    poll_timeout_s: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    #: The sessions' lease (:mod:`engine.runtime.locks`): a transfer writes a session only while it holds
    #: the same lease a reconcile holds. None (tests of one process): fencing tokens alone.
    lock: KeyLock | None = None
    lock_ttl_s: float = 120.0


@dataclass(frozen=True)
class _Work:
    session_id: uuid.UUID
    title: str
    successor: str
    actor: Actor
    calendar_id: str | None  #: where the event lives now (None: never synced)
    event_id: str | None
    room_email: str | None  #: the room booked on the event now
    meet: bool

    @property
    def had_room(self) -> bool:
        return bool(self.room_email)


@dataclass
class SessionTransfer:
    """What happened to one session (also the audit entry's detail)."""

    session_id: uuid.UUID
    title: str
    outcome: str  #: transferred | blocked | deferred (a passing Google failure; retried next pass)
    path: str | None = None
    successor: str | None = None
    kept: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class TransferReport:
    email: str
    due: bool
    sessions: list[SessionTransfer] = field(default_factory=list)
    #: A stored tenant setting the schema refuses: nothing was transferred (never half a transfer).
    config_error: str | None = None

    def by_outcome(self, outcome: str) -> list[SessionTransfer]:
        return [s for s in self.sessions if s.outcome == outcome]


class _Run:
    """One transfer of one person's events (state shared by the three paths)."""

    def __init__(self, engine: Engine, services: TransferServices, tenant: Tenant, person: Person,
                 old_actor: Actor | None, rules: TransferRules) -> None:
        self.engine = engine
        self.s = services
        self.tenant = tenant
        self.person = person
        self.old_actor = old_actor
        self.rules = rules
        self.report: list[SessionTransfer] = []

    def defer(self, items: Sequence[_Work], why: str) -> None:
        """Google failed for a passing reason: leave these sessions as they are; the next pass retries."""
        note = f"transfer to the successor will be retried: {why}"[:1000]
        with unit_of_work(self.engine) as uow:
            for work in items:
                actions.do_set_transfer_note(db=uow.db, tenant_id=self.tenant.id, session_id=work.session_id,
                                             note=note)
        self.report += [SessionTransfer(w.session_id, w.title, "deferred", successor=w.successor, note=note)
                        for w in items]

    # ------------------------------------------------------------------ recording
    def _audit(self, db: Session, action: str, session_id: uuid.UUID, detail: dict[str, Any]) -> None:
        db.add(AuditEvent(tenant_id=self.tenant.id, actor="system", action=action, session_id=session_id,
                          subject=self.person.email, detail=detail))

    @contextmanager
    def leased(self, work: _Work) -> Iterator[int | None]:
        """Hold ``work``'s session lease and yield a fresh fencing token, or None (deferred) when a
        reconcile holds the session or its binding no longer says what the plan was made from."""
        with ExitStack() as stack:
            if self.s.lock is not None:
                lease = stack.enter_context(held(self.s.lock, str(work.session_id), self.s.lock_ttl_s, wait_s=10))
                if lease is None:
                    self.defer([work], "a sync of this session was running; the next pass retries")
                    yield None
                    return
            fence = take_fence(self.engine, work.session_id)
            with Session(self.engine) as db:
                b = actions.get_binding(db=db, session_id=work.session_id)
                now = (b.calendar_id if b and b.event_id else None, b.event_id if b else None)
            if now != (work.calendar_id, work.event_id):
                self.defer([work], "the session's event changed while the transfer was planned; the next pass "
                                   "retries")
                yield None
                return
            yield fence

    def rebind(self, work: _Work, *, calendar_id: str, event_id: str, path: str, new_event: bool,
               kept: list[str], changed: list[str], extra: dict[str, Any] | None = None,
               room_held: str | None = None, fence: int | None = None, own: Sequence[str] = ()) -> bool:
        """Record the new owner (under ``fence``), ending the write mark (``own``: the etags the transfer's
        write produced). False when a newer lease holder wrote the binding first."""
        try:
            self._rebind(work, calendar_id=calendar_id, event_id=event_id, path=path, new_event=new_event,
                         kept=kept, changed=changed, extra=extra, room_held=room_held, fence=fence, own=own)
        except StaleFence:
            self.defer([work], "a sync of this session took over while it was transferred; the next pass retries")
            return False
        return True

    def end_write(self, work: _Work) -> None:
        """The transfer's write did not happen (refused, or Google busy): the write mark goes, and what the
        change feed held meanwhile is noted as a change made in Google."""
        with unit_of_work(self.engine) as uow:
            binding = actions.get_binding(db=uow.db, session_id=work.session_id)
            if binding is not None:
                own_writes.end_write(uow.db, binding, [])

    def reconcile_after(self, work: _Work) -> None:
        """Once the lease is released: one reconcile converges what the transfer left (under its own lease)."""
        steps.reached("transfer.rebound")  # the binding names the new owner; the follow-up reconcile not run
        try:
            self.s.reconcile(work.session_id)
        except ConnectorError as exc:  # the binding records it; the sync retries on its own schedule
            log.warning("reconcile after transfer of session %s failed: %s", work.session_id, exc)

    def _rebind(self, work: _Work, *, calendar_id: str, event_id: str, path: str, new_event: bool,
                kept: list[str], changed: list[str], extra: dict[str, Any] | None,
                room_held: str | None, fence: int | None, own: Sequence[str] = ()) -> None:
        with unit_of_work(self.engine) as uow:
            actions.do_rebind_owner(db=uow.db, tenant_id=self.tenant.id, session_id=work.session_id,
                                    actor=work.actor, calendar_id=calendar_id, event_id=event_id,
                                    new_event=new_event,
                                    room_released=path == PATH_DATA_TRANSFER and self.rules.release_resources,
                                    room_held_elsewhere=room_held, fence=fence, own_etags=own)
            detail = {"path": path, "from": self.person.email, "to": work.successor,
                      "fromCalendar": work.calendar_id, "toCalendar": calendar_id,
                      "eventIdBefore": work.event_id, "eventIdAfter": event_id, "kept": kept,
                      "changed": changed, **(extra or {})}
            self._audit(uow.db, "lifecycle.transferred", work.session_id, detail)
            session = uow.db.get(LiveSession, work.session_id)
            if session is not None:  # the platform hears who owns the event now (engine.webhooks)
                emit(uow.db, tenant=self.tenant, event=OrganizerTransferred(
                    session_external_id=session.external_id, session_id=session.id, from_email=self.person.email,
                    to_email=work.successor, calendar_id=calendar_id,
                    reason=f"{self.person.email} is {self.person.status}; moved by {path}",
                ))
        self.report.append(SessionTransfer(work.session_id, work.title, "transferred", path, work.successor,
                                           kept, changed, (extra or {}).get("note")))

    # ------------------------------------------------------------------ move (organizer active)
    def move_all(self, items: Sequence[_Work]) -> list[_Work]:
        """Move each event from the organizer to its successor. Returns the items that could not."""
        if self.old_actor is None:
            return list(items)
        failed: list[_Work] = []
        for successor, group in _group(items).items():
            leftover = self._hop(self.old_actor, group, successor)
            failed.extend(leftover)
        return failed

    def _hop(self, mover: Actor, group: Sequence[_Work], successor: str,
             source: str | None = None, path: str = PATH_MOVE) -> list[_Work]:
        """As ``mover``, move ``group``'s events to ``successor``'s calendar (sharing it for the move)."""
        dest_actor = group[0].actor
        sharing = self.s.sharing(dest_actor)
        try:
            sharing.share(successor, mover.email, "writer")
        except ConnectorError as exc:
            log.warning("%s could not share their calendar with %s: %s", successor, mover.email, exc)
            self.defer(group, f"{successor} could not share their calendar for the move ({exc})")
            return []
        failed: list[_Work] = []
        port = self.s.calendars(mover)
        try:
            for work in group:
                src = source or work.calendar_id
                if not src or not work.event_id:
                    failed.append(work)
                    continue
                with self.leased(work) as fence:
                    if fence is None:
                        continue
                    # the change feed holds what it lists of this event until the rebind judges it
                    own_writes.begin_write(self.engine, work.session_id)
                    try:
                        # A lost answer (or a retry after one) is recognized by reading the destination.
                        moved = move_once(port, src, work.event_id, successor, "none",
                                          (self.tenant.id, work.session_id))
                        steps.reached("transfer.moved")  # moved at Google, not yet rebound
                    except AuthError as exc:
                        self.end_write(work)
                        on_identity_error_commit(self.engine, self.tenant.id, mover.email, exc)
                        failed.append(work)
                        continue
                    except RetriableError as exc:
                        self.end_write(work)
                        self.defer([work], f"Google was busy ({exc})")
                        continue
                    except ConnectorError as exc:
                        self.end_write(work)
                        log.warning("moving session %s to %s failed: %s", work.session_id, successor, exc)
                        failed.append(work)
                        continue
                    if path == PATH_MOVE:
                        kept = ["event id", "attendees and their answers", "Meet link", "room booking"]
                        changed = ["organizer"]
                        extra = None
                    else:
                        kept, changed = self._dt_kept_changed(work)
                        extra = {"note": f"moved on from {mover.email}, who received the Data Transfer"}
                    done = self.rebind(work, calendar_id=successor, event_id=work.event_id, path=path,
                                       new_event=False, kept=kept, changed=changed, extra=extra, fence=fence,
                                       own=own_writes.etags([moved]))
                if done:
                    self.reconcile_after(work)
        finally:
            try:
                sharing.unshare(successor, mover.email)
            except ConnectorError as exc:
                log.warning("could not remove %s's access to %s: %s", mover.email, successor, exc)
        return failed

    # ------------------------------------------------------------------ data transfer (suspended)
    def _dt_kept_changed(self, work: _Work) -> tuple[list[str], list[str]]:
        kept = ["event id", "attendees and their answers", "Meet link"]
        changed = ["organizer"]
        if work.had_room and self.rules.release_resources:
            changed.append("room released by Google and booked again")
        elif work.had_room:
            kept.append("room booking")
        return kept, changed

    def data_transfer(self, items: Sequence[_Work]) -> list[_Work]:
        """One Data Transfer to a receiver, then adoption. Returns the items to recreate."""
        movable = [w for w in items if w.event_id and w.calendar_id]
        rest = [w for w in items if not (w.event_id and w.calendar_id)]
        if not movable:
            return rest
        if self.s.transfers is None or self.s.directory is None:
            log.warning("no Directory admin for tenant %s: cannot use Data Transfer", self.tenant.slug)
            return list(items)
        receiver = Counter(w.successor for w in movable).most_common(1)[0][0]
        outcome = self._run_data_transfer(receiver)
        if outcome:
            steps.reached("transfer.data_transferred")  # Google moved the events, nothing rebound yet
        if outcome is None:
            self.defer(movable, "the Data Transfer did not complete yet")
            return rest
        if not outcome:
            return list(items)
        receiver_actor = next(w.actor for w in movable if w.successor == receiver)
        port = self.s.calendars(receiver_actor)
        onward: list[_Work] = []
        for work in movable:
            assert work.event_id is not None
            try:
                remote = port.get(receiver, work.event_id)
            except ConnectorError as exc:
                log.warning("reading %s on %s failed: %s", work.event_id, receiver, exc)
                self.defer([work], f"reading the transferred event failed ({exc})")
                continue
            ours = remote is not None and owned_session(remote.private) == (self.tenant.id, work.session_id)
            if remote is None or remote.is_cancelled or not ours:
                rest.append(work)  # private, no guests, or not moved: Google did not transfer it
            elif work.successor == receiver:
                kept, changed = self._dt_kept_changed(work)
                with self.leased(work) as fence:
                    done = fence is not None and self.rebind(
                        work, calendar_id=receiver, event_id=work.event_id, path=PATH_DATA_TRANSFER,
                        new_event=False, kept=kept, changed=changed, fence=fence)
                if done:
                    self.reconcile_after(work)
            else:
                onward.append(work)
        for successor, group in _group(onward).items():
            rest.extend(self._hop(receiver_actor, group, successor, source=receiver, path=PATH_DATA_TRANSFER))
        return rest

    def _run_data_transfer(self, receiver: str) -> bool | None:
        """True: completed; False: Google refused it (recreate instead); None: try again later."""
        assert self.s.directory is not None and self.s.transfers is not None
        try:
            old_id = self.person.google_user_id or _user_id(self.s.directory, self.person.email)
            new_id = _user_id(self.s.directory, receiver)
            if not old_id or not new_id:
                log.warning("Directory ids missing for %s -> %s", self.person.email, receiver)
                return False
            status = self.s.transfers.start(old_id, new_id, release_resources=self.rules.release_resources)
            deadline = time.monotonic() + self.s.poll_timeout_s
            while not status.done and time.monotonic() < deadline:
                self.s.sleep(self.s.poll_interval_s)
                status = self.s.transfers.get(status.id)
        except RetriableError as exc:
            log.warning("Data Transfer %s -> %s: Google was busy: %s", self.person.email, receiver, exc)
            return None
        except ConnectorError as exc:
            log.warning("Data Transfer %s -> %s failed: %s", self.person.email, receiver, exc)
            return False
        if status.status != "completed":
            log.warning("Data Transfer %s ended as %s", status.id, status.status or "unknown")
            return None if not status.done else False
        return True

    # ------------------------------------------------------------------ recreate (last resort)
    def recreate(self, items: Sequence[_Work]) -> None:
        for work in items:
            new_id = deterministic_event_id(self.tenant.id, work.session_id, work.successor)
            with self.leased(work) as fence:
                if fence is None:
                    continue
                own_writes.begin_write(self.engine, work.session_id)  # the rebind drops what the feed held
                cancelled, why = self._cancel_old(work)
                steps.reached("transfer.old_cancelled")
                room_held = work.room_email if work.room_email and not cancelled and work.event_id else None
                changed = ["organizer", "event id"] + (["Meet link (a new one)"] if work.meet else [])
                if work.room_email:
                    changed.append(f"room not booked: {room_held} is still held by the old event" if room_held
                                   else "room booked again")
                done = self.rebind(work, calendar_id=work.successor, event_id=new_id, path=PATH_RECREATE,
                                   new_event=True,
                                   kept=["title, time, description", "learners (invited once to the new event)"],
                                   changed=changed, extra={"oldEventCancelled": cancelled, "note": why},
                                   room_held=room_held, fence=fence)
            if done:
                self.reconcile_after(work)

    def _cancel_old(self, work: _Work) -> tuple[bool, str | None]:
        if not work.event_id or not work.calendar_id:
            return False, "the session had no event yet"
        if self.old_actor is None:
            return False, (f"the old event stays on {work.calendar_id}: Google no longer lets Muster act as "
                           f"{self.person.email} ({self.person.status})")
        try:
            self.s.calendars(self.old_actor).delete(work.calendar_id, work.event_id, send_updates="none")
        except ConnectorError as exc:
            return False, f"the old event could not be cancelled: {exc}"
        return True, None


def on_identity_error_commit(engine: Engine, tenant_id: uuid.UUID, email: str, err: ConnectorError) -> None:
    with unit_of_work(engine) as uow:
        on_identity_error(db=uow.db, tenant_id=tenant_id, email=email, err=err, source="transfer")


def _user_id(directory: DirectoryUsersPort, email: str) -> str | None:
    user = directory.get(email)
    return user.id if user is not None else None


def _group(items: Sequence[_Work]) -> dict[str, list[_Work]]:
    out: dict[str, list[_Work]] = {}
    for w in items:
        out.setdefault(w.successor, []).append(w)
    return out


def _plan(db: Session, services: TransferServices, tenant: Tenant, person: Person,
          now: datetime) -> tuple[list[_Work], list[tuple[uuid.UUID, str, Decision, str]]]:
    """Who inherits what: work items, and (session, title, decision, note) of the blocked ones."""
    fallback = fallback_facts(db, tenant)
    rules = successor_rules(tenant)
    work: list[_Work] = []
    blocked: list[tuple[uuid.UUID, str, Decision, str]] = []
    actors: dict[str, tuple[Actor | None, str | None]] = {}
    for ctx in session_contexts(db, candidate_session_ids(db, tenant.id, [person.email], now)):
        if not affected(ctx.facts, person.email):
            continue
        decision = choose_successor(ctx.facts, person.email, fallback, rules)
        if decision.outcome is Outcome.NOT_AFFECTED:
            continue
        actor: Actor | None = None
        why: str | None = decision.needed
        if decision.successor_email:
            if decision.successor_email not in actors:
                # A fallback owner Muster never saw as a host has no row yet: under domain-wide delegation
                # they can act all the same (the resolver decides, from the tenant's method and domain).
                heir = find_person(db, tenant.id, decision.successor_email) or Person(
                    tenant_id=tenant.id, email=decision.successor_email)
                actors[decision.successor_email] = services.actor_for(db, tenant, heir)
            actor, why = actors[decision.successor_email]
        if actor is None or decision.successor_email is None:
            note = why or decision.needed or decision.reason
            blocked.append((ctx.session.id, ctx.session.title, decision, note))
            continue
        b = ctx.binding
        work.append(_Work(ctx.session.id, ctx.session.title, decision.successor_email, actor,
                          b.calendar_id if b and b.event_id else None, b.event_id if b else None,
                          b.room_email if b else None, ctx.session.video == "meet"))
    return work, blocked


def transfer_person(*, engine: Engine, services: TransferServices, tenant_id: uuid.UUID,
                    person_id: uuid.UUID, now: datetime) -> TransferReport:
    """Transfer every upcoming session ``person_id`` owns, if their transfer is due. Idempotent."""
    with Session(engine, expire_on_commit=False) as db:
        person = db.get(Person, person_id)
        tenant = db.get(Tenant, tenant_id)
        if person is None or tenant is None or person.tenant_id != tenant.id:
            return TransferReport(email="", due=False)
        report = TransferReport(email=person.email, due=transfer_due(person, now.date()))
        if not report.due:
            return report
        try:
            TenantSettings.parse(tenant.settings)
        except SettingError as exc:
            report.config_error = (f"config_error: tenant setting {exc.field}: {exc.message}; nothing of "
                                   f"{person.email} was transferred: fix the setting, the next sweep retries")
            log.warning("%s", report.config_error)
            return report
        work, blocked = _plan(db, services, tenant, person, now)
        old_actor = None
        if person.status == PersonStatus.LEAVING.value:
            old_actor, _why = services.actor_for(db, tenant, person)
        db.expunge_all()
    run = _Run(engine, services, tenant, person, old_actor, _transfer_rules(tenant))
    _record_blocked(engine, run, blocked)
    # What a path cannot serve (the organizer cannot act, Google refused the move, a transfer failed)
    # falls through to the next; recreate, last, serves the rest.
    steps: dict[str, Callable[[Sequence[_Work]], list[_Work]]] = {
        PATH_MOVE: run.move_all,
        PATH_DATA_TRANSFER: run.data_transfer,
    }
    rest = list(work)
    for index, path in enumerate(transfer_paths(person.status)):
        if path == PATH_RECREATE:
            run.recreate(rest)
            break
        if index and not rest:
            continue
        rest = steps[path](rest)
    report.sessions = run.report + [SessionTransfer(sid, title, "blocked", successor=d.successor_email,
                                                    note=note) for sid, title, d, note in blocked]
    return report


def _transfer_rules(tenant: Tenant) -> TransferRules:
    try:
        return TransferRules.from_settings(tenant.settings.get("lifecycle"))
    except ValueError:
        return TransferRules()


def _record_blocked(engine: Engine, run: _Run,
                    blocked: Sequence[tuple[uuid.UUID, str, Decision, str]]) -> None:
    """Alert once per new state: a ``transfer_note`` on the binding and a ``lifecycle.transfer_blocked``."""
    if not blocked:
        return
    with unit_of_work(engine) as uow:
        for session_id, _title, decision, note in blocked:
            if actions.do_set_transfer_note(db=uow.db, tenant_id=run.tenant.id, session_id=session_id,
                                            note=note):
                run._audit(uow.db, "lifecycle.transfer_blocked", session_id,
                           {"from": run.person.email, "needed": note, "outcome": decision.outcome.value,
                            "successor": decision.successor_email})
