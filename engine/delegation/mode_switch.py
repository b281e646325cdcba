"""Switching a tenant between vendor mode and delegation mode: a preview, then a resumable migration.

Where it sits: the admin service (:mod:`engine.admin.mode_switch`, behind the Integration page,
``/v1/admin/mode-switch`` and ``muster tenant switch-mode``) calls
:func:`preview` (nothing changes in Google; a :class:`~engine.store.models.ModeSwitch` row records the plan),
then :func:`apply` (flips the tenant's mode and reconciles each session through the normal
:class:`~engine.sync.reconciler.SessionReconciler`, recording progress per session), or :func:`start` +
worker reconciles + :func:`refresh_progress` when the work runs in the background. docs/mode-switch.md
explains each step; the short version:

* An event cannot be *moved* between the vendor's calendar and an organizer's: ``events.move`` needs
  writer access to both calendars, and neither identity has it on the other's. So each session's event
  is **recreated** where the new mode wants it, and the old one is deleted in the same reconcile.
* Emails: the new event invites its guests (one email); the old event is deleted with
  ``sendUpdates=none`` because the plan replaces it (:func:`engine.domain.plan.plan`), so there is no second,
  cancellation email. Each learner ends with exactly one event per session and at most one email.
* Reconcile is level-triggered, so a session that is edited or re-enqueued during the switch converges
  to the same end state; running :func:`apply` again resumes (sessions already ``done`` are skipped).
* A session with no connected organizer (delegation target) keeps its old event and ``waits``; it moves
  as soon as a host connects. Any other error **pauses** the switch with the reason; nothing is undone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from engine.delegation.placement import DelegationResolver, NoConnectedOrganizer, ReconnectNeeded
from engine.domain.desired import Placement, PlacementError, vendor_placement
from engine.settings import Settings
from engine.store.models import (
    AuditEvent,
    CalendarBinding,
    Enrollment,
    EnrollmentStatus,
    IntegrationMode,
    LiveSession,
    ModeSwitch,
    ModeSwitchStatus,
    SessionStatus,
    SyncStatus,
    Tenant,
)
from engine.store.types import utcnow
from engine.sync.load import load_facts

DONE = "done"
WAITING = "waiting"
PENDING = "pending"

#: ``session id -> reconcile result`` (the reconciler's ``reconcile`` method, or a test double of it that
#: still goes through Google).
Reconcile = Callable[[uuid.UUID], Any]


class ModeSwitchError(Exception):
    """The switch cannot be previewed or applied; ``field`` names the input, the message the fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def _live_sessions(db: Session, tenant_id: uuid.UUID) -> list[LiveSession]:
    return list(
        db.exec(
            select(LiveSession)
            .where(
                LiveSession.tenant_id == tenant_id,
                col(LiveSession.deleted_at).is_(None),
                LiveSession.status == SessionStatus.SCHEDULED.value,
            )
            .order_by(col(LiveSession.start_at), col(LiveSession.id))
        ).all()
    )


def _learners(db: Session, session_id: uuid.UUID) -> int:
    return int(
        db.exec(
            select(func.count())
            .select_from(Enrollment)
            .where(Enrollment.session_id == session_id, Enrollment.status == EnrollmentStatus.ENROLLED.value)
        ).one()
    )


@dataclass(frozen=True)
class Unplaceable:
    """Why the target mode cannot place a session now: ``wait`` (no connected organizer yet; it moves as
    soon as a host connects) or ``blocked`` (any other placement error)."""

    action: str  #: wait | blocked
    reason: str
    could_connect: tuple[str, ...] = ()


def plan_entry(
    *,
    target: str,
    session: LiveSession,
    learners: int,
    from_calendar: str | None,
    booked_room: str | None,
    placement: Placement | None,
    unplaceable: Unplaceable | None = None,
) -> dict[str, Any]:
    """Pure: what switching to ``target`` does to one session (plain JSON for the ModeSwitch row and the
    admin UI), from facts the caller fetched: the enrolled ``learners``, the calendar the event lives on now
    (``from_calendar``), the room booked now and where the target mode would place the event (or why not)."""
    entry: dict[str, Any] = {
        "session_id": str(session.id),
        "title": session.title,
        "start_at": session.start_at.isoformat(),
        "from_calendar": from_calendar,
        "learners": learners,
    }
    if unplaceable is not None and unplaceable.action == "wait":
        entry.update(
            action="wait",
            to_calendar=None,
            reason=unplaceable.reason,
            could_connect=list(unplaceable.could_connect),
            emails="none until a host connects; the current event stays",
            quota=None,
        )
        return entry
    if unplaceable is not None or placement is None:
        reason = unplaceable.reason if unplaceable is not None else "the session cannot be placed"
        entry.update(action="blocked", to_calendar=None, reason=reason, emails="none", quota=None)
        return entry
    to_cal = placement.calendar_id
    now_at = from_calendar
    action = "keep" if now_at and now_at.lower() == to_cal.lower() else ("recreate" if now_at else "create")
    entry["action"] = action
    entry["to_calendar"] = to_cal
    entry["organizer"] = placement.actor.email
    entry["quota"] = (
        f"{placement.actor.email} (per-user Calendar quota; project quota of Muster's "
        f"{'OAuth client' if placement.actor.kind == 'oauth' else 'service account'})"
    )
    if action == "keep":
        entry["emails"] = "none"
    else:
        entry["emails"] = f"{learners} learner(s) and the other hosts get one invitation from {to_cal}" + (
            "; the old event is removed without a cancellation email" if now_at else ""
        )
    wants_meet = session.video == "meet"
    if target == IntegrationMode.DELEGATION.value:
        entry["meet"] = "a new, unique Meet link is created" if wants_meet else session.video
        entry["room"] = (
            f"a room is booked (fits {learners} learners plus hosts"
            + (f", {session.room_building}" if session.room_building else "")
            + ")"
            if session.room_wanted or session.room_email
            else "none"
        )
    else:
        entry["meet"] = (
            "the Meet link is dropped (vendor mode cannot create Meet links); choose a manual link "
            "to keep one"
            if wants_meet
            else session.video
        )
        entry["room"] = f"{booked_room} is released" if booked_room else "none"
    return entry


def _entry(
    db: Session, tenant: Tenant, target: str, session: LiveSession, settings: Settings
) -> dict[str, Any]:
    """Fetch one session's facts and where the target mode would place it; :func:`plan_entry` decides."""
    binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session.id)).first()
    now_at = (
        binding.calendar_id if binding and binding.event_id and binding.sync_status != "removed" else None
    )
    placement: Placement | None = None
    unplaceable: Unplaceable | None = None
    facts = load_facts(db=db, session_id=session.id)
    try:
        if facts is None:
            raise PlacementError("the session disappeared")
        if target == IntegrationMode.VENDOR.value:
            placement = vendor_placement(facts)
        else:
            placement = DelegationResolver(db, settings=settings)(facts)
    except NoConnectedOrganizer as exc:
        unplaceable = Unplaceable("wait", str(exc), tuple(exc.could_connect))
    except (ReconnectNeeded, PlacementError) as exc:
        unplaceable = Unplaceable("blocked", str(exc))
    return plan_entry(
        target=target,
        session=session,
        learners=_learners(db, session.id),
        from_calendar=now_at,
        booked_room=binding.room_email if binding else None,
        placement=placement,
        unplaceable=unplaceable,
    )


def preview(
    db: Session, *, tenant: Tenant, target: str, settings: Settings, requested_by: str | None = None
) -> ModeSwitch:
    """Compute what switching ``tenant`` to ``target`` would do, per session; store it; change nothing."""
    if target not in {m.value for m in IntegrationMode}:
        raise ModeSwitchError("target", f"{target!r} is not one of vendor, delegation")
    if tenant.integration_mode == target:
        raise ModeSwitchError("target", f"the tenant already runs in {target} mode")
    running = db.exec(
        select(ModeSwitch).where(
            ModeSwitch.tenant_id == tenant.id, ModeSwitch.status == ModeSwitchStatus.RUNNING.value
        )
    ).first()
    if running is not None:
        raise ModeSwitchError(
            "target", "a switch is already running for this tenant; resume or finish it first"
        )
    # The preview must judge placements as the *target* mode would, without changing the tenant.
    original = tenant.integration_mode
    tenant.integration_mode = target
    try:
        plan = [_entry(db, tenant, target, s, settings) for s in _live_sessions(db, tenant.id)]
    finally:
        tenant.integration_mode = original
    switch = ModeSwitch(
        tenant_id=tenant.id,
        from_mode=original,
        to_mode=target,
        plan=plan,
        progress={e["session_id"]: PENDING for e in plan},
        total=len(plan),
        requested_by=requested_by,
    )
    db.add(switch)
    db.add(
        AuditEvent(
            tenant_id=tenant.id,
            actor=requested_by or "system",
            action="mode_switch.previewed",
            detail={"from": original, "to": target, "sessions": len(plan)},
        )
    )
    db.flush()
    return switch


def summary(switch: ModeSwitch) -> dict[str, Any]:
    """Counts for the admin UI: actions in the plan and progress so far."""
    actions: dict[str, int] = {}
    for e in switch.plan:
        actions[str(e.get("action"))] = actions.get(str(e.get("action")), 0) + 1
    states: dict[str, int] = {}
    for v in switch.progress.values():
        key = v.split(":", 1)[0]
        states[key] = states.get(key, 0) + 1
    return {
        "from": switch.from_mode,
        "to": switch.to_mode,
        "status": switch.status,
        "total": switch.total,
        "done": switch.done,
        "failed": switch.failed,
        "actions": actions,
        "progress": states,
        "last_error": switch.last_error,
    }


def start(db: Session, *, switch: ModeSwitch, actor: str | None = None) -> None:
    """Flip the tenant's mode and mark the switch running (the unit of work owner commits)."""
    tenant = db.get(Tenant, switch.tenant_id)
    if tenant is None:
        raise ModeSwitchError("tenant", "the tenant no longer exists")
    if switch.status == ModeSwitchStatus.DONE.value:
        raise ModeSwitchError("switch", "this switch is already done")
    if tenant.integration_mode != switch.to_mode:
        tenant.integration_mode = switch.to_mode
        tenant.updated_at = utcnow()
        db.add(tenant)
    switch.status = ModeSwitchStatus.RUNNING.value
    switch.updated_at = utcnow()
    db.add(switch)
    db.add(
        AuditEvent(
            tenant_id=tenant.id,
            actor=actor or "system",
            action="mode_switch.started",
            detail={"switch": str(switch.id), "to": switch.to_mode},
        )
    )


def judge(
    *,
    to_mode: str,
    outcome: str,
    session_live: bool,
    binding: CalendarBinding | None,
    background: bool = False,
) -> str:
    """Pure: ``done`` / ``pending`` / ``waiting: …`` / ``error: …`` for one session after its reconcile,
    from the session's state (``session_live``: scheduled and not deleted) and its binding as fetched."""
    if not session_live:
        return DONE
    if background and (
        binding is None or binding.sync_status in (SyncStatus.PENDING.value, SyncStatus.ERROR.value)
    ):
        return PENDING  # a worker has not (successfully) reconciled it yet; retries are its business
    if binding is None:
        return f"error: no binding after reconcile ({outcome})"
    moved = (binding.actor_kind == "vendor") == (to_mode == IntegrationMode.VENDOR.value)
    if binding.sync_status == SyncStatus.SYNCED.value and moved:
        return DONE
    if background and binding.sync_status == SyncStatus.SYNCED.value:
        return PENDING  # still synced where the old mode put it: not reconciled since the flip
    text = binding.last_error or outcome
    if binding.sync_status == SyncStatus.BLOCKED.value and "no connected organizer" in text:
        return f"{WAITING}: {text}"
    return f"error: {text}"


def _judge(
    engine: Engine, switch: ModeSwitch, session_id: uuid.UUID, outcome: str, *, background: bool = False
) -> str:
    """Fetch one session and its binding after its reconcile; :func:`judge` decides."""
    with Session(engine) as db:
        binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session_id)).first()
        session = db.get(LiveSession, session_id)
    live = session is not None and session.deleted_at is None and session.status == SessionStatus.SCHEDULED.value
    return judge(to_mode=switch.to_mode, outcome=outcome, session_live=live, binding=binding, background=background)


def apply(
    engine: Engine,
    *,
    switch_id: uuid.UUID,
    reconcile: Reconcile,
    actor: str | None = None,
    limit: int | None = None,
    on_progress: Callable[[ModeSwitch], None] | None = None,
) -> ModeSwitch:
    """Run (or resume) a switch: flip the mode, reconcile each pending session, record progress.

    Stops cleanly at the first error (status ``paused``, ``last_error`` says which session and why);
    calling it again resumes with the sessions not yet ``done``. ``limit`` bounds the sessions handled in
    this call (for a job that runs in slices). Returns the updated row.
    """
    with Session(engine, expire_on_commit=False) as db:
        switch = db.get(ModeSwitch, switch_id)
        if switch is None:
            raise ModeSwitchError("switch", f"no mode switch {switch_id}")
        if switch.status == ModeSwitchStatus.DONE.value:
            return switch  # applying a finished switch again changes nothing (a retried apply is harmless)
        start(db, switch=switch, actor=actor)
        db.commit()
        todo = [uuid.UUID(sid) for sid, state in switch.progress.items() if state != DONE]
    for handled, sid in enumerate(todo):
        if limit is not None and handled >= limit:
            break
        try:
            result = reconcile(sid)
            outcome = str(getattr(result, "outcome", "success"))
        except Exception as exc:  # a retryable Google error: stop cleanly, resume later
            outcome = f"{type(exc).__name__}: {exc}"
        state = _judge(engine, switch, sid, outcome)
        with Session(engine, expire_on_commit=False) as db:
            row = db.get(ModeSwitch, switch_id)
            assert row is not None
            progress = dict(row.progress)
            progress[str(sid)] = state
            row.progress = progress
            row.done = sum(1 for v in progress.values() if v == DONE)
            row.failed = sum(1 for v in progress.values() if v.startswith("error"))
            row.updated_at = utcnow()
            if state.startswith("error"):
                row.status = ModeSwitchStatus.PAUSED.value
                row.last_error = f"session {sid}: {state.removeprefix('error: ')}"
            db.add(row)
            db.commit()
            switch = row
        if on_progress is not None:
            on_progress(switch)
        if switch.status == ModeSwitchStatus.PAUSED.value:
            return switch
    with Session(engine, expire_on_commit=False) as db:
        row = db.get(ModeSwitch, switch_id)
        assert row is not None
        if all(v == DONE for v in row.progress.values()):
            _finish(db, row, actor=actor)
        db.add(row)
        db.commit()
        return row


def _finish(db: Session, row: ModeSwitch, *, actor: str | None) -> None:
    """Mark ``row`` done (every session moved), once: the caller commits."""
    if row.status == ModeSwitchStatus.DONE.value:
        return
    row.status = ModeSwitchStatus.DONE.value
    row.finished_at = utcnow()
    row.last_error = None
    row.updated_at = utcnow()
    db.add(row)
    db.add(
        AuditEvent(
            tenant_id=row.tenant_id,
            actor=actor or "system",
            action="mode_switch.done",
            detail={"switch": str(row.id), "sessions": row.total},
        )
    )


def refresh_progress(engine: Engine, *, switch_id: uuid.UUID) -> ModeSwitch:
    """Recompute progress from the bindings (when workers did the reconciles): for background runs, and for a
    paused switch whose sessions were reconciled since (by the workers' retries): once every session is
    ``done`` the switch is done, whichever path moved them."""
    with Session(engine, expire_on_commit=False) as db:
        switch = db.get(ModeSwitch, switch_id)
        if switch is None:
            raise ModeSwitchError("switch", f"no mode switch {switch_id}")
    if switch.status not in (ModeSwitchStatus.RUNNING.value, ModeSwitchStatus.PAUSED.value):
        return switch  # previewed (nothing started) or done: nothing to follow
    paused = switch.status == ModeSwitchStatus.PAUSED.value
    progress: dict[str, str] = {}
    for sid, state in switch.progress.items():
        now = state if state == DONE else _judge(engine, switch, uuid.UUID(sid), "not reconciled yet", background=True)
        # A paused switch keeps the verdict that paused it until the session is done: the admin sees why.
        progress[sid] = state if paused and now != DONE else now
    with Session(engine, expire_on_commit=False) as db:
        row = db.get(ModeSwitch, switch_id)
        assert row is not None
        if row.status not in (ModeSwitchStatus.RUNNING.value, ModeSwitchStatus.PAUSED.value):
            return row  # finished meanwhile by another caller
        row.progress = progress
        row.done = sum(1 for v in progress.values() if v == DONE)
        row.failed = sum(1 for v in progress.values() if v.startswith("error"))
        if row.done == row.total:
            _finish(db, row, actor=None)
        db.add(row)
        db.commit()
        return row


def enqueue_all(db: Session, *, switch: ModeSwitch) -> list[uuid.UUID]:
    """The sessions a background run must reconcile (the caller enqueues them after commit)."""
    return [uuid.UUID(sid) for sid, state in switch.progress.items() if state != DONE]


def latest(db: Session, tenant_id: uuid.UUID) -> ModeSwitch | None:
    return db.exec(
        select(ModeSwitch)
        .where(ModeSwitch.tenant_id == tenant_id)
        .order_by(col(ModeSwitch.created_at).desc())
    ).first()
